package slackbot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Rate-limit handling: a call rate-limited by Slack is retried after the
// Retry-After it names, at most maxRetries times and only while Retry-After
// stays within maxRetryWait; after that it fails with KindUnavailable.
const (
	maxRetries   = 3
	maxRetryWait = 30 * time.Second
	httpTimeout  = 15 * time.Second
)

// Platform is the name of Slack in appreg.Caller, Place and MessageRef.
const Platform = "slack"

// Chat implements appreg.Chat with the Slack Web API. It is safe for
// concurrent use.
//
// Errors are *appreg.Error: KindUnavailable when Slack cannot be reached,
// answers 5xx or keeps rate-limiting; KindNotFound for an unknown channel,
// user, user group or message; KindInvalid for a missing, expired or used
// trigger; KindForbidden when the bot is not in the channel or lacks a
// scope; KindInternal otherwise. No error text contains the bot token.
type Chat struct {
	api   *slack.Client
	token string
	log   *slog.Logger
}

var _ appreg.Chat = (*Chat)(nil)

// NewChat returns a Chat that acts with botToken (xoxb-…). apiURL overrides
// Slack's API base URL (tests point it at a fake; it must end in "/"); ""
// means https://slack.com/api/. A nil log means slog.Default().
func NewChat(botToken, apiURL string, log *slog.Logger) *Chat {
	opts := []slack.Option{slack.OptionHTTPClient(&http.Client{Timeout: httpTimeout})}
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	if log == nil {
		log = slog.Default()
	}
	return &Chat{api: slack.New(botToken, opts...), token: botToken, log: log}
}

// Post posts msg to to.Channel, in the thread to.Thread when set, and
// returns the channel and ts of the new message; its thread is to.Thread,
// or the message's own ts.
func (c *Chat) Post(ctx context.Context, to appreg.Place, msg appreg.Message) (appreg.MessageRef, error) {
	var ref appreg.MessageRef
	err := c.do(ctx, "chat.postMessage", func() error {
		ch, ts, err := c.api.PostMessageContext(ctx, to.Channel, msgOptions(to.Thread, msg)...)
		ref = appreg.MessageRef{Platform: Platform, Channel: ch, ID: ts, Thread: cmp.Or(to.Thread, ts)}
		return err
	})
	return ref, err
}

// Private posts msg as an ephemeral message that only user sees, in
// near.Channel, in the thread near.Thread when set.
func (c *Chat) Private(ctx context.Context, near appreg.Place, user string, msg appreg.Message) error {
	return c.do(ctx, "chat.postEphemeral", func() error {
		_, err := c.api.PostEphemeralContext(ctx, near.Channel, user, msgOptions(near.Thread, msg)...)
		return err
	})
}

// Direct posts msg in the user's direct messages with the bot (the app's
// Messages tab).
func (c *Chat) Direct(ctx context.Context, _ string, user string, msg appreg.Message) error {
	return c.do(ctx, "chat.postMessage", func() error {
		_, _, err := c.api.PostMessageContext(ctx, user, msgOptions("", msg)...)
		return err
	})
}

// Update replaces the text, fields and buttons of a message the bot posted.
func (c *Chat) Update(ctx context.Context, ref appreg.MessageRef, msg appreg.Message) error {
	return c.do(ctx, "chat.update", func() error {
		_, _, _, err := c.api.UpdateMessageContext(ctx, ref.Channel, ref.ID, msgOptions("", msg)...)
		return err
	})
}

// openForm opens form as a modal for the click that trigger identifies (a
// trigger_id, valid for 3 seconds and once).
func (c *Chat) openForm(ctx context.Context, trigger string, form appreg.Form) error {
	if trigger == "" {
		return appreg.Errorf(appreg.KindInvalid, "This form can only be opened from a button. Please click the button again.")
	}
	return c.do(ctx, "views.open", func() error {
		_, err := c.api.OpenViewContext(ctx, trigger, modal(form))
		return err
	})
}

// IsOneOf reports whether user is one of entries: a Slack user id equal to
// user's, or a user group (S…) with user as a member, asked of Slack now.
// Entries that are neither (another platform's ids) are ignored.
func (c *Chat) IsOneOf(ctx context.Context, _ string, user string, entries []string) (bool, error) {
	if slices.Contains(entries, user) {
		return true, nil
	}
	var errs error
	for _, e := range entries {
		if !groupID(e) {
			continue
		}
		var members []string
		err := c.do(ctx, "usergroups.users.list", func() (err error) {
			members, err = c.api.GetUserGroupMembersContext(ctx, e)
			return err
		})
		if err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		if slices.Contains(members, user) {
			return true, nil
		}
	}
	return false, errs
}

// groupID reports whether an entry is a Slack user-group id.
func groupID(id string) bool { return groupIDPattern.MatchString(id) }

var groupIDPattern = regexp.MustCompile(`^S[A-Z0-9]+$`)

// msgOptions are the options of a chat.* call carrying msg: blocks, the
// plain-text fallback (mrkdwn, not escaped) and the thread.
func msgOptions(thread string, msg appreg.Message) []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(fallback(msg), false), slack.MsgOptionBlocks(blocks(msg)...)}
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
	}
	return opts
}

// do runs call, waiting out rate limits, and turns its error into an
// *appreg.Error.
func (c *Chat) do(ctx context.Context, method string, call func() error) error {
	for attempt := 1; ; attempt++ {
		err := call()
		var rl *slack.RateLimitedError
		if err == nil || !errors.As(err, &rl) || attempt > maxRetries || rl.RetryAfter > maxRetryWait {
			return c.classify(method, err)
		}
		c.log.WarnContext(ctx, "slack rate limit", "method", method, "retry_after", rl.RetryAfter, "attempt", attempt)
		t := time.NewTimer(rl.RetryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return c.classify(method, fmt.Errorf("%w (while rate-limited)", ctx.Err()))
		case <-t.C:
		}
	}
}

// classify maps a slack-go error to an appreg error kind with a message a
// support engineer can act on. The wrapped detail never contains the token.
func (c *Chat) classify(method string, err error) error {
	if err == nil {
		return nil
	}
	err = redact(fmt.Errorf("slack %s: %w", method, err), c.token)

	var (
		rl     *slack.RateLimitedError
		apiErr slack.SlackErrorResponse
		status slack.StatusCodeError
		netErr net.Error
	)
	switch {
	case errors.As(err, &rl):
		return appreg.Wrap(appreg.KindUnavailable, &appreg.Throttled{Wait: rl.RetryAfter, Err: err},
			"Slack is rate-limiting the bot. Please try again in a minute.")
	case errors.As(err, &apiErr):
		return classifyCode(apiErr.Err, err)
	case errors.As(err, &status):
		return appreg.Wrap(appreg.KindUnavailable, err, "Slack is not answering properly right now. Please try again in a minute.")
	case errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return appreg.Wrap(appreg.KindUnavailable, err, "Slack cannot be reached right now. Please try again in a minute.")
	case errors.Is(err, slack.ErrParametersMissing):
		return appreg.Wrap(appreg.KindInvalid, err, "This form can only be opened from a button. Please click the button again.")
	}
	return appreg.Wrap(appreg.KindInternal, err, "Slack gave the bot an unexpected answer. The details are in the bot's log.")
}

// classifyCode maps a Slack error code (https://docs.slack.dev/reference/methods).
func classifyCode(code string, err error) error {
	switch code {
	case "channel_not_found":
		return appreg.Wrap(appreg.KindNotFound, err, "The bot cannot find that channel. Is the bot invited to it?")
	case "user_not_found", "users_not_found", "user_not_in_channel":
		return appreg.Wrap(appreg.KindNotFound, err, "Slack does not know that user here.")
	case "no_such_subteam", "subteam_not_found":
		return appreg.Wrap(appreg.KindNotFound, err, "Slack does not know that user group.")
	case "message_not_found", "cant_update_message", "edit_window_closed":
		return appreg.Wrap(appreg.KindNotFound, err, "The message to update no longer exists.")
	case "expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id", "trigger_exchanged":
		return appreg.Wrap(appreg.KindInvalid, err, "That click has expired. Please click the button again.")
	case "not_in_channel", "is_archived", "channel_is_archived", "restricted_action":
		return appreg.Wrap(appreg.KindForbidden, err, "The bot may not post in that channel. Invite it with /invite, or use a channel that is not archived.")
	case "missing_scope", "not_allowed_token_type", "ekm_access_denied":
		return appreg.Wrap(appreg.KindForbidden, err, "The bot's Slack app lacks a permission it needs. The details are in the bot's log.")
	case "ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout":
		return appreg.Wrap(appreg.KindUnavailable, err, "Slack is not answering properly right now. Please try again in a minute.")
	}
	return appreg.Wrap(appreg.KindInternal, err, "Slack refused the bot's request. The details are in the bot's log.")
}

// redactedError hides secrets from an error's text while keeping its chain
// for errors.Is and errors.As.
type redactedError struct {
	err  error
	text string
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err with every occurrence of a secret in its text replaced.
func redact(err error, secrets ...string) error {
	text := err.Error()
	for _, s := range secrets {
		if s != "" {
			text = strings.ReplaceAll(text, s, "[REDACTED]")
		}
	}
	if text == err.Error() {
		return err
	}
	return &redactedError{err: err, text: text}
}
