package main

import (
	"context"
	"net/http"
	"sync"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// platform is one chat platform the bot serves. Each knows its own
// settings, gives the engine its chat port, and starts its own entry
// points: HTTP routes on the bot's listener, or a connection of its own.
type platform interface {
	// Name is the platform's name in appreg.Caller and appreg.Place.
	Name() string
	// Chat is the platform's chat port.
	Chat() appreg.Chat
	// ApprovalsChannel is where role-change requests from this platform
	// go; "" turns role changes off there.
	ApprovalsChannel() string
	// RemindersChannel, when set, receives the expiry reminders of the
	// registrations made on this platform instead of their threads.
	RemindersChannel() string
	// Start begins delivering to bot: it registers HTTP routes on mux, or
	// starts goroutines (counted in bg) that run until ctx ends.
	Start(ctx context.Context, bot appreg.Bot, mux *http.ServeMux, bg *sync.WaitGroup) error
}
