package slackbot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/appreg-bot/appreg-bot/internal/panics"
)

// RunSocketMode receives slash commands and interactions over a Socket Mode
// websocket opened with appToken (an app-level xapp-… token with the
// connections:write scope) and delivers them to in.Bot with the same
// semantics and acknowledgements as Handler. apiURL overrides Slack's API
// base URL ("" for the default).
//
// It reconnects as Slack asks and returns nil once ctx is cancelled and the
// deliveries under way have finished. It returns an error when
// Slack refuses the token or the connection cannot be re-established.
func RunSocketMode(ctx context.Context, appToken, apiURL string, in Inbound) error {
	in, err := in.validate()
	if err != nil {
		return err
	}
	if appToken == "" {
		return errors.New("slackbot: Socket Mode needs an app-level token")
	}
	opts := []slack.Option{slack.OptionAppLevelToken(appToken)}
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	// The connection needs only the app-level token; posting goes through Chat.
	smc := socketmode.New(slack.New("", opts...))

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }() // cancel first: an ack must not wait for a dead connection
	done := make(chan error, 1)
	go func() { done <- smc.RunContext(ctx) }()

	for {
		select {
		case err := <-done:
			if ctx.Err() != nil {
				return nil
			}
			return redact(fmt.Errorf("slack socket mode: %w", err), appToken)
		case evt := <-smc.Events:
			wg.Go(func() {
				defer panics.Guard(in.Log, in.OnPanic, nil, "event", string(evt.Type))
				req, payload := in.socketEvent(ctx, evt, time.Now())
				if req == nil {
					return
				}
				if err := smc.AckCtx(ctx, req.EnvelopeID, payload); err != nil {
					in.Log.WarnContext(ctx, "slack socket mode: acknowledgement failed", "type", evt.Type, "err", err)
				}
			})
		}
	}
}

// socketEvent handles one Socket Mode event. It returns the request to
// acknowledge and the acknowledgement payload (nil for an empty one), or a
// nil request for connection life-cycle events, which need none.
func (in Inbound) socketEvent(ctx context.Context, evt socketmode.Event, start time.Time) (*socketmode.Request, any) {
	switch evt.Type {
	case socketmode.EventTypeSlashCommand:
		if sc, ok := evt.Data.(slack.SlashCommand); ok {
			return evt.Request, in.command(ctx, sc, start)
		}
	case socketmode.EventTypeInteractive:
		if ic, ok := evt.Data.(slack.InteractionCallback); ok {
			return evt.Request, in.interaction(ctx, ic, start)
		}
	case socketmode.EventTypeEventsAPI:
		// Not subscribed to, but anything Slack sends must be acknowledged.
	case socketmode.EventTypeConnected:
		in.Log.InfoContext(ctx, "slack socket mode connected")
		return nil, nil
	case socketmode.EventTypeConnecting, socketmode.EventTypeHello:
		return nil, nil
	case socketmode.EventTypeDisconnect:
		in.Log.InfoContext(ctx, "slack socket mode: Slack asked to reconnect")
		return nil, nil
	default: // connection_error, invalid_auth, incoming_error, …
		in.Log.WarnContext(ctx, "slack socket mode", "event", evt.Type, "detail", fmt.Sprint(evt.Data))
		return nil, nil
	}
	if evt.Request != nil {
		in.Log.WarnContext(ctx, "slack socket mode: unexpected request acknowledged", "event", evt.Type)
	}
	return evt.Request, nil
}
