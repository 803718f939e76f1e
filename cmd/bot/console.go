package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/appreg-bot/appreg-bot/handlers/console"
	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/simtenant"
)

// consolePlatform is the chat in the terminal: the platform when no other
// is configured.
type consolePlatform struct {
	con  *console.Console
	in   io.Reader
	out  io.Writer
	sim  *simtenant.Server // the simulated tenant, when there is one
	log  *slog.Logger
	done chan struct{} // closed when the console ends
}

func newConsole(in io.Reader, out io.Writer, sim *simtenant.Server, log *slog.Logger) *consolePlatform {
	return &consolePlatform{con: console.New(out), in: in, out: out, sim: sim, log: log, done: make(chan struct{})}
}

func (p *consolePlatform) Name() string             { return console.Platform }
func (p *consolePlatform) Chat() appreg.Chat        { return p.con }
func (p *consolePlatform) ApprovalsChannel() string { return "" }
func (p *consolePlatform) RemindersChannel() string { return "" }

// Start reads the terminal until it ends or ctx does; then done is closed.
func (p *consolePlatform) Start(ctx context.Context, bot appreg.Bot, _ *http.ServeMux, bg *sync.WaitGroup) error {
	if p.sim != nil {
		fmt.Fprintf(p.out, "Simulated tenant %s (not for production). When the bot shows a sign-in code, type `approve` to sign in as the customer admin %s, or `decline`.\n", demoDomain, demoAdmin)
		p.con.Local = map[string]func() string{
			"approve": func() string { return result(p.sim.Approve("", demoAdmin), "The customer admin signed in.") },
			"decline": func() string { return result(p.sim.Decline(""), "The customer admin declined.") },
		}
	}
	bg.Go(func() {
		defer close(p.done)
		if err := p.con.Run(ctx, p.in, bot); err != nil {
			p.log.Error("console stopped", "err", err)
		}
	})
	return nil
}

func result(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return ok
}
