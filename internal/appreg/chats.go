package appreg

import (
	"context"
	"fmt"
)

// Chats is the Chat of a bot that runs on several platforms at once: each
// call goes to the Chat of the platform its place, reference or user names.
// A place or reference that names no platform (stored before platforms were
// named) goes to Default.
type Chats struct {
	// Default serves places that name no platform.
	Default string
	// ByPlatform holds each platform's Chat.
	ByPlatform map[string]Chat
}

var _ Chat = Chats{}

func (cs Chats) chat(platform string) (Chat, error) {
	if platform == "" {
		platform = cs.Default
	}
	if c, ok := cs.ByPlatform[platform]; ok {
		return c, nil
	}
	return nil, Wrap(KindNotFound, fmt.Errorf("no chat for platform %q", platform),
		"That chat platform is not configured on this bot any more.")
}

// Post implements Chat.
func (cs Chats) Post(ctx context.Context, to Place, msg Message) (MessageRef, error) {
	if to.Platform == "" {
		to.Platform = cs.Default
	}
	c, err := cs.chat(to.Platform)
	if err != nil {
		return MessageRef{}, err
	}
	ref, err := c.Post(ctx, to, msg)
	if err == nil && ref.Platform == "" {
		ref.Platform = to.Platform
	}
	return ref, err
}

// Update implements Chat.
func (cs Chats) Update(ctx context.Context, ref MessageRef, msg Message) error {
	c, err := cs.chat(ref.Platform)
	if err != nil {
		return err
	}
	return c.Update(ctx, ref, msg)
}

// Private implements Chat.
func (cs Chats) Private(ctx context.Context, near Place, user string, msg Message) error {
	c, err := cs.chat(near.Platform)
	if err != nil {
		return err
	}
	return c.Private(ctx, near, user, msg)
}

// Direct implements Chat.
func (cs Chats) Direct(ctx context.Context, platform, user string, msg Message) error {
	c, err := cs.chat(platform)
	if err != nil {
		return err
	}
	return c.Direct(ctx, platform, user, msg)
}

// IsOneOf implements Chat.
func (cs Chats) IsOneOf(ctx context.Context, platform, user string, entries []string) (bool, error) {
	c, err := cs.chat(platform)
	if err != nil {
		return false, err
	}
	return c.IsOneOf(ctx, platform, user, entries)
}
