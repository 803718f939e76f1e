package teams_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/handlers/teams"
	"github.com/appreg-bot/appreg-bot/internal/fakes"
	"github.com/appreg-bot/appreg-bot/internal/teamsfake"
)

const (
	appID    = "5f0c9a1e-4b8d-4c3e-9a7f-2d6b1e8c0a11"
	password = "Xq8~bot.Pa55word-value_0123456789" // the bot's client secret
	tenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	userID   = "29:1AbCdEfGhIjKlMnOpQrStUvWxYz"
)

// clock is a settable clock shared by the fake and the code under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newFake starts a fake Bot Framework for the test's bot on clk.
func newFake(t *testing.T, clk *clock, opts ...func(*teamsfake.Options)) *teamsfake.Server {
	t.Helper()
	o := teamsfake.Options{AppID: appID, AppPassword: password, Now: clk.Now}
	for _, f := range opts {
		f(&o)
	}
	f := teamsfake.New(o)
	t.Cleanup(f.Close)
	return f
}

// message is an activity as Teams would POST it from the fake: a 1:1
// message to the bot.
func message(f *teamsfake.Server, text string) *teams.Activity {
	return &teams.Activity{
		Type:         teams.TypeMessage,
		ID:           "1700000000123",
		ServiceURL:   f.ServiceURL(),
		ChannelID:    teams.ChannelIDMSTeams,
		From:         teams.ChannelAccount{ID: userID, Name: "Ada Support", AADObjectID: "0b7e4f52-8c1d-4a5e-9f3b-6d2c1a0e9b87"},
		Recipient:    teams.ChannelAccount{ID: f.BotID(), Name: "appreg"},
		Conversation: teams.ConversationAccount{ID: "a:1personalchat", ConversationType: "personal", TenantID: tenantID},
		Text:         text,
	}
}

// jsonLogger is a JSON slog logger at debug level writing to buf.
func jsonLogger(buf *fakes.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func timeout(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
