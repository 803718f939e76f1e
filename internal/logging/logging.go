// Package logging builds the bot's slog logger: JSON lines with a redaction
// rule, so that a secret or token handed to a log call by mistake never
// reaches the log.
package logging

import (
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// Redacted replaces what the redaction rule removes.
const Redacted = "[REDACTED]"

// sensitiveKeys are parts of attribute keys whose values are never logged.
var sensitiveKeys = []string{"secret", "token", "password", "authorization", "user_code", "device_code", "cookie", "state_key"}

// sensitiveValue matches JWTs and bearer tokens anywhere in a string.
var sensitiveValue = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.?[A-Za-z0-9_-]*|(?i)bearer\s+[A-Za-z0-9._~+/=-]{8,}`)

// New returns a JSON logger on w at level that redacts attributes whose key
// names a secret (secret, token, password, …) and JWT-shaped or bearer
// values inside any string attribute or error.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redact}))
}

func redact(groups []string, a slog.Attr) slog.Attr {
	key := strings.ToLower(a.Key)
	for _, s := range sensitiveKeys {
		if strings.Contains(key, s) && key != "key_id" {
			return slog.String(a.Key, Redacted)
		}
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); sensitiveValue.MatchString(s) {
			return slog.String(a.Key, sensitiveValue.ReplaceAllString(s, Redacted))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			if s := err.Error(); sensitiveValue.MatchString(s) {
				return slog.String(a.Key, sensitiveValue.ReplaceAllString(s, Redacted))
			}
		}
	}
	return a
}
