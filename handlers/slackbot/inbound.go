package slackbot

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/panics"
)

// The endpoint names passed to Inbound.OnAck, the same in HTTP and Socket
// Mode.
const (
	EndpointCommands      = "commands"
	EndpointInteractivity = "interactivity"
)

// errorPostTimeout bounds the background post that answers a click (its
// notice, or its error) to the person who clicked.
const errorPostTimeout = 10 * time.Second

// Inbound is what both delivery modes (Handler and RunSocketMode) need.
type Inbound struct {
	// Bot receives commands, clicks and submissions. Required.
	Bot appreg.Bot
	// Chat answers clicks: it opens the forms they ask for and shows their
	// notices and errors to the person who clicked. Required.
	Chat *Chat
	// Log receives one line per delivery (user id, command, endpoint,
	// latency; never the text typed or submitted). nil means slog.Default().
	Log *slog.Logger
	// OnPanic, when set, counts a panic recovered while handling a
	// delivery.
	OnPanic func()
	// OnAck, when set, observes each acknowledged delivery: the endpoint
	// (EndpointCommands or EndpointInteractivity) and the time from receipt
	// to the acknowledgement being ready. For metrics.
	OnAck func(endpoint string, d time.Duration)
}

func (in Inbound) validate() (Inbound, error) {
	if in.Bot == nil || in.Chat == nil {
		return in, errors.New("slackbot: Inbound.Bot and Inbound.Chat are required")
	}
	if in.Log == nil {
		in.Log = slog.Default()
	}
	return in, nil
}

// commandResponse is the immediate, ephemeral answer to a slash command.
type commandResponse struct {
	ResponseType string        `json:"response_type"`
	Text         string        `json:"text"`
	Blocks       []slack.Block `json:"blocks,omitempty"`
}

// command delivers a slash command and returns the acknowledgement payload:
// the ephemeral reply, or nil (an empty acknowledgement) when the reply is
// empty.
func (in Inbound) command(ctx context.Context, sc slack.SlashCommand, start time.Time) any {
	reply := in.Bot.Command(ctx, appreg.Command{
		Caller:     caller(sc.UserID, sc.UserName, sc.ChannelID),
		Text:       unescape(sc.Text),
		DeliveryID: sc.TriggerID,
	})
	in.acked(ctx, EndpointCommands, start, "user", sc.UserID, "command", sc.Command, "subcommand", firstWord(sc.Text))
	if reply.Text.IsEmpty() {
		return nil
	}
	return commandResponse{ResponseType: "ephemeral", Text: fallback(reply.Message), Blocks: blocks(reply.Message)}
}

// interaction delivers a button click or a modal submission and returns the
// acknowledgement payload (nil for an empty one). Other interaction types
// are acknowledged and ignored.
func (in Inbound) interaction(ctx context.Context, ic slack.InteractionCallback, start time.Time) any {
	var payload any
	switch ic.Type {
	case slack.InteractionTypeBlockActions:
		// A click is acknowledged at once; what it starts may post to Slack
		// (an update, a thread reply), which must not hold up the 3-second
		// acknowledgement. Forms opened in answer still use the trigger
		// within its lifetime.
		go func() {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), actTimeout)
			defer cancel()
			defer panics.Guard(in.Log, in.OnPanic, func(any) {
				in.notify(actx, appreg.Place{Platform: Platform, Channel: cmp.Or(ic.Channel.ID, ic.Container.ChannelID), Thread: ic.Container.ThreadTs},
					ic.User.ID, appreg.Message{Text: appreg.T(appreg.IconWarn, appreg.ErrorMessage(errors.New("panic")))})
			}, "user", ic.User.ID)
			in.act(actx, ic)
		}()
	case slack.InteractionTypeViewSubmission:
		payload = in.submit(ctx, ic)
	}
	in.acked(ctx, EndpointInteractivity, start, "user", ic.User.ID, "type", string(ic.Type))
	return payload
}

// actTimeout bounds the work of one click after its acknowledgement.
const actTimeout = 30 * time.Second

func (in Inbound) act(ctx context.Context, ic slack.InteractionCallback) {
	channel := cmp.Or(ic.Channel.ID, ic.Container.ChannelID)
	ts := cmp.Or(ic.Container.MessageTs, ic.Message.Timestamp)
	thread := cmp.Or(ic.Container.ThreadTs, ic.Message.ThreadTimestamp)
	ref := appreg.MessageRef{Platform: Platform, Channel: channel, ID: ts, Thread: cmp.Or(thread, ts)}
	near := appreg.Place{Platform: Platform, Channel: channel, Thread: thread}
	who := caller(ic.User.ID, ic.User.Name, channel)
	for _, a := range ic.ActionCallback.BlockActions {
		ans, err := in.Bot.Act(ctx, appreg.Action{
			Caller:     who,
			ActionID:   a.ActionID,
			Value:      a.Value,
			DeliveryID: ic.TriggerID + a.ActionID,
			Message:    ref,
		})
		if err == nil && ans.Form != nil {
			err = in.Chat.openForm(ctx, ic.TriggerID, *ans.Form)
		}
		if err != nil {
			in.Log.WarnContext(ctx, "slack click failed", "user", who.User.ID, "action", a.ActionID,
				"kind", appreg.ErrorKind(err), "err", err)
			ans.Notice = appreg.Message{Text: appreg.T(appreg.IconWarn, appreg.ErrorMessage(err))}
		}
		if !ans.Notice.Text.IsEmpty() && channel != "" {
			go in.notify(ctx, near, who.User.ID, ans.Notice)
		}
	}
}

// notify shows a click's notice (or error) to the person who clicked. It
// runs after the acknowledgement, detached from the delivery's
// cancellation.
func (in Inbound) notify(ctx context.Context, near appreg.Place, user string, msg appreg.Message) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), errorPostTimeout)
	defer cancel()
	if err := in.Chat.Private(ctx, near, user, msg); err != nil {
		in.Log.WarnContext(ctx, "slack: could not answer a click", "user", user, "err", err)
	}
}

// submit delivers a modal submission; a non-nil result asks Slack to keep
// the modal open and show errors under the inputs.
func (in Inbound) submit(ctx context.Context, ic slack.InteractionCallback) any {
	values := map[string]string{}
	if ic.View.State != nil {
		for blockID, actions := range ic.View.State.Values {
			if a, ok := actions[FormValueActionID]; ok {
				values[blockID] = a.Value
			}
		}
	}
	errs, err := in.Bot.Submit(ctx, appreg.Submission{
		Caller:       caller(ic.User.ID, ic.User.Name, ""),
		FormID:       ic.View.CallbackID,
		Conversation: ic.View.PrivateMetadata,
		Values:       values,
	})
	if err != nil {
		in.Log.WarnContext(ctx, "slack submission failed", "user", ic.User.ID, "form", ic.View.CallbackID,
			"kind", appreg.ErrorKind(err), "err", err)
		if first := firstInput(ic.View, values); first != "" {
			errs = map[string]string{first: appreg.ErrorMessage(err)}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return slack.NewErrorsViewSubmissionResponse(errs)
}

// firstInput returns the block id of the view's first input block, or the
// smallest submitted block id when the view's blocks are not known.
func firstInput(v slack.View, values map[string]string) string {
	for _, b := range v.Blocks.BlockSet {
		if in, ok := b.(*slack.InputBlock); ok && in.BlockID != "" {
			return in.BlockID
		}
	}
	ids := make([]string, 0, len(values))
	for id := range values {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// acked logs a handled delivery and reports its latency.
func (in Inbound) acked(ctx context.Context, endpoint string, start time.Time, attrs ...any) {
	d := time.Since(start)
	in.Log.InfoContext(ctx, "slack delivery", append(attrs, "endpoint", endpoint, "latency", d)...)
	if in.OnAck != nil {
		in.OnAck(endpoint, d)
	}
}

func caller(userID, userName, channel string) appreg.Caller {
	return appreg.Caller{Platform: Platform, User: appreg.User{ID: userID, Name: userName}, Channel: channel}
}

// unescape undoes the escaping of &, < and > that Slack applies to the
// text of a slash command, so that the engine gets what was typed.
func unescape(s string) string { return slackUnescaper.Replace(s) }

var slackUnescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return clip(f[0], 32)
	}
	return ""
}
