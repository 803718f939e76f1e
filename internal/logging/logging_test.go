package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRedaction(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"
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
		{"jwt in text", func(l *slog.Logger) { l.Info("x", "detail", "got "+jwt+" back") }, jwt, "got [REDACTED] back"},
		{"bearer in error", func(l *slog.Logger) { l.Error("x", "err", errors.New("header Bearer abcdefghijkl1234 refused")) }, "abcdefghijkl1234", "refused"},
		{"key id is fine", func(l *slog.Logger) { l.Info("x", "key_id", "k-1") }, "", `"key_id":"k-1"`},
		{"grouped", func(l *slog.Logger) { l.WithGroup("g").Info("x", "secret", "s3") }, "s3", "[REDACTED]"},
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
