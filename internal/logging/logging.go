// Package logging builds the bot's slog logger: JSON lines that never hold
// a secret or a token, whatever a log call is handed by mistake.
//
// Redaction does not depend on where a secret is put: a Handler masks
// anything shaped like a credential in the message, in every attribute
// (strings, errors, values of any type, groups, attributes added with
// With), and the literal secrets of this process (its tokens and
// passwords) wherever they appear. Attributes whose key names a secret
// (secret, token, password, …) are dropped whatever their value. The
// shapes:
//
//   - an Entra client secret (and so a Bot Framework app password):
//     forty characters with a digit and "Q~" in the fourth to sixth place;
//   - a JWT (an access or ID token), and any bearer token;
//   - an Entra refresh token ("0.A…", "1.A…");
//   - Slack tokens (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xapp-).
//
// The standard library's log package and other libraries' loggers reach
// the same handler through slog.NewLogLogger and slog.SetDefault, so they
// are masked too.
package logging

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces what the redaction removes.
const Redacted = "[REDACTED]"

// sensitiveKeys are parts of attribute keys whose values are never logged.
var sensitiveKeys = []string{"secret", "token", "password", "authorization", "user_code", "device_code", "cookie", "state_key"}

// credential matches every shape of credential the package knows.
var credential = regexp.MustCompile(strings.Join([]string{
	`[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{30,40}`,          // Entra client secret, Bot Framework password
	`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.?[A-Za-z0-9_-]*`, // JWT
	`(?i)bearer\s+[A-Za-z0-9._~+/=-]{8,}`,                      // any bearer token
	`\b[01]\.A[A-Za-z0-9_-]{20,}[A-Za-z0-9_.-]*`,               // Entra refresh token
	`\bx(?:ox[abposr]|app)-[A-Za-z0-9-]{6,}`,                   // Slack tokens
}, "|"))

// New returns a JSON logger on w at level that redacts as the package
// says. known are literal secrets of this process (tokens, passwords, keys)
// to mask wherever they appear; empty ones are ignored.
func New(w io.Writer, level slog.Leveler, known ...string) *slog.Logger {
	return slog.New(NewHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: dropSensitiveKeys}), known...))
}

// Handler masks credentials in every record before its inner handler
// sees it.
type Handler struct {
	inner slog.Handler
	known []string
}

// NewHandler wraps inner.
func NewHandler(inner slog.Handler, known ...string) *Handler {
	var k []string
	for _, s := range known {
		if len(s) >= 4 { // shorter is no secret worth masking, and would mask everything
			k = append(k, s)
		}
	}
	// Longest first: a secret that contains another is masked whole.
	slices.SortFunc(k, func(a, b string) int { return len(b) - len(a) })
	return &Handler{inner: inner, known: k}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.mask(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = h.attr(a)
	}
	return &Handler{inner: h.inner.WithAttrs(masked), known: h.known}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), known: h.known}
}

// mask replaces every credential in s.
func (h *Handler) mask(s string) string {
	for _, k := range h.known {
		s = strings.ReplaceAll(s, k, Redacted)
	}
	return credential.ReplaceAllString(s, Redacted)
}

// attr masks one attribute, its group members and whatever its value
// holds.
func (h *Handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.mask(v.String()))
	case slog.KindGroup:
		members := v.Group()
		masked := make([]any, len(members))
		for i, m := range members {
			masked[i] = h.attr(m)
		}
		return slog.Group(a.Key, masked...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, h.mask(x.Error()))
		case fmt.Stringer:
			if s := x.String(); h.mask(s) != s {
				return slog.String(a.Key, h.mask(s))
			}
		}
		// Any other value: as the JSON handler would write it.
		if b, err := json.Marshal(v.Any()); err == nil {
			if s := string(b); h.mask(s) != s {
				return slog.String(a.Key, h.mask(s))
			}
		} else if s := fmt.Sprintf("%+v", v.Any()); h.mask(s) != s {
			return slog.String(a.Key, h.mask(s))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// dropSensitiveKeys redacts the values of attributes whose key names a
// secret.
func dropSensitiveKeys(groups []string, a slog.Attr) slog.Attr {
	key := strings.ToLower(a.Key)
	for _, s := range sensitiveKeys {
		if strings.Contains(key, s) && key != "key_id" {
			return slog.String(a.Key, Redacted)
		}
	}
	return a
}
