package main

import (
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/fakes"
)

// TestConsoleAsANewUserWouldUseIt plays the README's first command: the
// console with its embedded Redis and simulated tenant, a busy port, every
// demo path (a Global Administrator's onboarding, a role change approved
// by a second person and executed by a Privileged Role Administrator) and
// the goodbye, reading only what the console prints.
func TestConsoleAsANewUserWouldUseIt(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg, err := LoadConfig(func(k string) string {
		return map[string]string{"BOT_LISTEN_ADDR": busy.Addr().String(), "BOT_VALIDATION_BACKOFF": "20ms"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	out, logs := &fakes.Buffer{}, &fakes.Buffer{}
	m := &Main{Config: cfg, Stdin: inR, Stdout: out, LogOutput: logs}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			m.Close()
		}
	}()
	seen := 0 // what was read of out so far
	wait := func(part string) string {
		t.Helper()
		for {
			s := out.String()
			if i := strings.Index(s[seen:], part); i >= 0 {
				seen += i + len(part)
				return s
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the console never printed %q; it printed:\n%s", part, s[seen:])
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	typeLine := func(s string) { io.WriteString(inW, s+"\n") }
	choice := func(label string) string {
		t.Helper()
		m := regexp.MustCompile(`\[(\d+)\] `+regexp.QuoteMeta(label)).FindAllStringSubmatch(out.String(), -1)
		if len(m) == 0 {
			t.Fatalf("no choice %q", label)
		}
		return m[len(m)-1][1]
	}

	banner := wait("Type /appreg help to begin")
	for _, want := range []string{"approve global", "approve security", "as approver", "is busy; health, readiness and metrics are on http://127.0.0.1:"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}

	typeLine("decline")
	wait("* No sign-in code is waiting right now.")
	typeLine("/appreg new contoso.onmicrosoft.com sbc1")
	wait("Sign-in code for contoso.onmicrosoft.com")
	typeLine("approve global")
	wait("? Registration name for service sbc1")
	typeLine("DR-Contoso")
	wait("Permissions granted (admin consent): Organization.Read.All, User.Read.All, Group.Read.All")
	wait("Request Teams Administrator")

	typeLine(choice("Request Teams Administrator"))
	wait("bot (#approvals)> Role change in contoso.onmicrosoft.com: add Teams Administrator for DR-Contoso")
	typeLine(choice("Approve"))
	wait("You requested this change, so you cannot decide it")
	typeLine("as approver")
	wait("* You are now typing as approver.")
	typeLine(choice("Approve"))
	wait("bot (only to approver)> 🔑 Sign-in code")
	typeLine("approve")
	wait("is not a Privileged Role Administrator")
	typeLine(choice("New sign-in code"))
	wait("bot (only to approver)> 🔑 Sign-in code")
	typeLine("approve security")
	wait("DR-Contoso now holds Teams Administrator")
	wait("bot (direct message to you)> Your role change is done")

	typeLine("as you")
	typeLine("/appreg new contoso.com")
	wait("Sign-in code for contoso.com")
	if strings.Contains(out.String(), `"level"`) {
		t.Errorf("log lines in the console:\n%s", out.String())
	}
	if !strings.Contains(logs.String(), `"msg":"appreg-bot started"`) {
		t.Errorf("the log went elsewhere: %s", logs.String())
	}
	inW.Close()
	closed = true
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wait("Stopped with 1 conversation(s) under way. They are lost")
}
