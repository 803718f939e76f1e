package console

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/appreg-bot/appreg-bot/internal/fakes"
	"github.com/appreg-bot/appreg-bot/internal/redisstore"
	"github.com/appreg-bot/appreg-bot/internal/wizard"
)

func waitOutput(t *testing.T, out *fakes.Buffer, part string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), part) {
		if time.Now().After(deadline) {
			t.Fatalf("output never showed %q:\n%s", part, out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestConsoleOnboarding types a whole onboarding into the console: commands,
// a numbered choice, a prompt answered wrongly and then rightly.
func TestConsoleOnboarding(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	out := &fakes.Buffer{}
	con := New(out)
	tenant := fakes.NewTenant()
	w, err := wizard.New(wizard.Config{ValidationBackoff: time.Millisecond},
		wizard.Deps{Store: redisstore.New(rdb, time.Hour, nil), Chat: con, Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	inR, inW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- con.Run(ctx, inR, w) }()
	typeLine := func(s string) { io.WriteString(inW, s+"\n") }

	typeLine("/appreg help")
	waitOutput(t, out, "/appreg new <tenant> [service]")
	typeLine("/appreg new contoso.onmicrosoft.com")
	waitOutput(t, out, "bot (only to you)> 🔑 Sign-in code for contoso.onmicrosoft.com")
	tenant.Approve()
	waitOutput(t, out, "] Enter registration name  [")
	// Type the number the choice was shown with; numbers keep their meaning.
	m := regexp.MustCompile(`\[(\d+)\] Enter registration name`).FindStringSubmatch(out.String())
	typeLine(m[1])
	waitOutput(t, out, "? Registration name for service default")
	typeLine("bad name")
	waitOutput(t, out, "! The name may not contain blanks")
	typeLine("Voice1")
	waitOutput(t, out, "Registration Voice1 created")
	waitOutput(t, out, "Client secret for Voice1")
	typeLine("77")
	waitOutput(t, out, "Type a command such as /appreg help")

	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cancel()
}
