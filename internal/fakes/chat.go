package fakes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Said is one thing the bot said through the fake Chat.
type Said struct {
	Kind    string // "post", "private", "update", "direct", "form"
	Place   appreg.Place
	User    string // for private and direct messages and forms
	Ref     appreg.MessageRef
	Message appreg.Message
	Form    appreg.Form
}

// Text is the message's text, as plain text, with its fields, for
// assertions.
func (s Said) Text() string {
	var b strings.Builder
	b.WriteString(s.Message.Text.String())
	for _, f := range s.Message.Fields {
		fmt.Fprintf(&b, "\n%s: %s", f.Label, f.Value)
	}
	return b.String()
}

// Chat is a recording appreg.Chat. Safe for concurrent use.
type Chat struct {
	// OnIsOneOf, when set, runs first in every IsOneOf, outside the lock:
	// a test can change things between a caller's reads and its writes.
	OnIsOneOf func()

	mu     sync.Mutex
	said   []Said
	seq    int
	groups map[string][]string
	fail   map[string][]error
}

var _ appreg.Chat = (*Chat)(nil)

// NewChat returns an empty recording chat.
func NewChat() *Chat { return &Chat{groups: map[string][]string{}, fail: map[string][]error{}} }

// SetGroup seeds a user group.
func (c *Chat) SetGroup(id string, members ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.groups[id] = members
}

// FailNext makes the next calls of kind ("post", "private", …) fail.
func (c *Chat) FailNext(kind string, errs ...error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail[kind] = append(c.fail[kind], errs...)
}

func (c *Chat) record(s Said) (appreg.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if errs := c.fail[s.Kind]; len(errs) > 0 {
		c.fail[s.Kind] = errs[1:]
		return appreg.MessageRef{}, errs[0]
	}
	c.seq++
	if s.Ref.IsZero() {
		s.Ref = appreg.MessageRef{Platform: s.Place.Platform, Channel: s.Place.Channel, ID: fmt.Sprintf("1700000000.%06d", c.seq), Thread: s.Place.Thread}
	}
	c.said = append(c.said, s)
	return s.Ref, nil
}

// Post implements appreg.Chat.
func (c *Chat) Post(ctx context.Context, to appreg.Place, msg appreg.Message) (appreg.MessageRef, error) {
	return c.record(Said{Kind: "post", Place: to, Message: msg})
}

// Private implements appreg.Chat.
func (c *Chat) Private(ctx context.Context, near appreg.Place, user string, msg appreg.Message) error {
	_, err := c.record(Said{Kind: "private", Place: near, User: user, Message: msg})
	return err
}

// Update implements appreg.Chat.
func (c *Chat) Update(ctx context.Context, ref appreg.MessageRef, msg appreg.Message) error {
	_, err := c.record(Said{Kind: "update", Place: appreg.Place{Platform: ref.Platform, Channel: ref.Channel}, Ref: ref, Message: msg})
	return err
}

// Direct implements appreg.Chat.
func (c *Chat) Direct(ctx context.Context, platform, user string, msg appreg.Message) error {
	_, err := c.record(Said{Kind: "direct", Place: appreg.Place{Platform: platform}, User: user, Message: msg})
	return err
}

// IsOneOf implements appreg.Chat: an entry is the user's id, or a group
// seeded with SetGroup that has the user.
func (c *Chat) IsOneOf(ctx context.Context, platform, user string, entries []string) (bool, error) {
	if c.OnIsOneOf != nil {
		c.OnIsOneOf()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range entries {
		if e == user || slices.Contains(c.groups[e], user) {
			return true, nil
		}
	}
	return false, nil
}

// Answer records what a platform shows for a click's answer, as an
// adapter would: its notice as a private message near the place of the
// click, its form as a "form".
func (c *Chat) Answer(near appreg.Place, user string, ans appreg.Answer) {
	if !ans.Notice.Text.IsEmpty() {
		_ = c.Private(context.Background(), near, user, ans.Notice)
	}
	if ans.Form != nil {
		_, _ = c.record(Said{Kind: "form", Place: near, User: user, Form: *ans.Form})
	}
}

// Said returns everything said so far.
func (c *Chat) Said() []Said {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Said(nil), c.said...)
}

// WaitFor waits until something said matches, and returns it.
func (c *Chat) WaitFor(ctx context.Context, match func(Said) bool) (Said, error) {
	for {
		for _, s := range c.Said() {
			if match(s) {
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			return Said{}, fmt.Errorf("nothing said matched: %w", ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Containing matches what was said of a kind with a text containing part.
func Containing(kind, part string) func(Said) bool {
	return func(s Said) bool { return s.Kind == kind && strings.Contains(s.Text(), part) }
}
