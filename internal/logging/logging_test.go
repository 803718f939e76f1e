package logging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// shapes are credentials of every kind the bot meets, as they look.
var shapes = map[string]string{
	"entra client secret":    "OI48Q~MRr0Kuf11aqFUvyH.A6iJFBEj-jo4A-VdN",
	"bot framework password": "Zx97Q~a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7",
	"jwt":                    "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJhZG1pbiIsImF1ZCI6Imh0dHBzOi8vZ3JhcGgifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
	"refresh token":          "1.AQEAh3ZVr5qQ1kK9o0y8Zp3T2mM7vN4cW6xY8zA0bB1cC2dD3eE4fF5gG6hH7iI8jJ9kK0lL",
	"slack bot token":        "xoxb-2220000000-3330000000000-AbCdEfGhIjKlMnOpQrStUvWx",
	"slack user token":       "xoxp-2220000000-4440000000000-5550000000000-0123456789abcdef0123456789abcdef",
	"slack app token":        "xapp-1-A0000000000-1111111111111-0123456789abcdef0123456789abcdef0123456789abcdef",
	"known password":         "correct-horse-battery-staple",
}

// paths are the ways a value reaches a log line: every one must mask.
func paths() map[string]func(l *slog.Logger, secret string) {
	return map[string]func(*slog.Logger, string){
		"message":     func(l *slog.Logger, s string) { l.Info("posting with " + s + " failed") },
		"string attr": func(l *slog.Logger, s string) { l.Info("x", "detail", "got "+s) },
		"error attr": func(l *slog.Logger, s string) {
			l.Error("x", "err", fmt.Errorf("wrapped: %w", errors.New("refused "+s)))
		},
		"group":        func(l *slog.Logger, s string) { l.Info("x", slog.Group("req", "body", "v="+s)) },
		"with":         func(l *slog.Logger, s string) { l.With("conn", s).Info("x") },
		"with group":   func(l *slog.Logger, s string) { l.WithGroup("g").Info("x", "v", s) },
		"struct value": func(l *slog.Logger, s string) { l.Info("x", "v", struct{ Detail string }{s}) },
		"slice value":  func(l *slog.Logger, s string) { l.Info("x", "v", []string{"a", s}) },
		"stringer":     func(l *slog.Logger, s string) { l.Info("x", "v", stringer(s)) },
		"log valuer":   func(l *slog.Logger, s string) { l.Info("x", "v", valuer(s)) },
		"std log":      func(l *slog.Logger, s string) { slog.NewLogLogger(l.Handler(), slog.LevelWarn).Printf("http: %s", s) },
		"debug level":  func(l *slog.Logger, s string) { l.Log(context.Background(), slog.LevelDebug, "x", "v", s) },
	}
}

type stringer string

func (s stringer) String() string { return "stringer(" + string(s) + ")" }

type valuer string

func (v valuer) LogValue() slog.Value { return slog.StringValue("valuer " + string(v)) }

// TestNoCredentialOfAnyShapeThroughAnyPath logs every shape of credential
// through every path and finds none of them.
func TestNoCredentialOfAnyShapeThroughAnyPath(t *testing.T) {
	for shape, secret := range shapes {
		for path, log := range paths() {
			var buf bytes.Buffer
			log(New(&buf, slog.LevelDebug, shapes["known password"]), secret)
			out := buf.String()
			if strings.Contains(out, secret) {
				t.Errorf("%s through %s: %s", shape, path, out)
			}
			if !strings.Contains(out, Redacted) {
				t.Errorf("%s through %s: nothing masked: %s", shape, path, out)
			}
		}
	}
}

func TestRedactionKeepsTheRest(t *testing.T) {
	tests := []struct {
		name   string
		log    func(*slog.Logger)
		secret string
		keep   string
	}{
		{"secret key", func(l *slog.Logger) { l.Info("x", "client_secret", "abc~123") }, "abc~123", `"client_secret":"[REDACTED]"`},
		{"token key", func(l *slog.Logger) { l.Info("x", "access_token", "opaque") }, "opaque", "access_token"},
		{"password key", func(l *slog.Logger) { l.Info("x", "Password", "hunter2") }, "hunter2", "Password"},
		{"device code", func(l *slog.Logger) { l.Info("x", "user_code", "ABCD-EFGH") }, "ABCD-EFGH", "user_code"},
		{"key id is fine", func(l *slog.Logger) { l.Info("x", "key_id", "k-1") }, "", `"key_id":"k-1"`},
		{"secret text type", func(l *slog.Logger) { l.Info("x", "created", appreg.SecretText("plain-looking")) }, "plain-looking", `"created":"[REDACTED]"`},
		{"secret text in a struct", func(l *slog.Logger) {
			l.Info("x", "v", appreg.Secret{KeyID: "k-9", Text: "plain-looking"})
		}, "plain-looking", `"KeyID":"k-9"`},
		{"ordinary values stay", func(l *slog.Logger) { l.Info("x", "platforms", []string{"slack", "teams"}, "n", 3) }, "", `"platforms":["slack","teams"],"n":3`},
		{"text around a secret stays", func(l *slog.Logger) { l.Info("x", "detail", "got "+shapes["jwt"]+" back") }, shapes["jwt"], "got [REDACTED] back"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(New(&buf, slog.LevelInfo))
			out := buf.String()
			if tt.secret != "" && strings.Contains(out, tt.secret) {
				t.Fatalf("leaked %q: %s", tt.secret, out)
			}
			if !strings.Contains(out, tt.keep) {
				t.Fatalf("lost %q: %s", tt.keep, out)
			}
		})
	}
}

func TestSecretTextRedactsItself(t *testing.T) {
	s := appreg.SecretText("OI48Q~MRr0Kuf11aqFUvyH.A6iJFBEj-jo4A-VdN")
	for _, got := range []string{fmt.Sprint(s), fmt.Sprintf("%s %v %q %x %+v %#v %10s", s, s, s, s, s, s, s), s.String(),
		fmt.Sprintf("%v", appreg.Secret{Text: s}), fmt.Sprint(fmt.Errorf("made %v", s))} {
		if strings.Contains(got, s.Reveal()) {
			t.Errorf("leaked: %s", got)
		}
	}
	if s.Reveal() != "OI48Q~MRr0Kuf11aqFUvyH.A6iJFBEj-jo4A-VdN" {
		t.Error("Reveal")
	}
}
