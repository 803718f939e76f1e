package appreg

import "context"

// Bot is what chat adapters deliver to: the conversation engine as seen from
// Slack, Teams or the console. Each method returns quickly (store operations
// only, well inside Slack's 3-second acknowledgement window); slow work such
// as polling a sign-in or calling Graph runs in the engine's own goroutines,
// which report back through the Chat port.
type Bot interface {
	// Command handles a slash command ("new contoso.onmicrosoft.com",
	// "help", …: the text after /appreg). The reply is shown at once and only
	// to the caller. A repeated DeliveryID is answered with an empty reply
	// and has no effect.
	Command(ctx context.Context, cmd Command) Reply
	// Act handles a button click.
	Act(ctx context.Context, a Action) error
	// Submit handles a submitted form. Input errors, keyed by FormInput.ID,
	// are shown under the inputs and keep the form open; an empty map closes
	// it.
	Submit(ctx context.Context, s Submission) (map[string]string, error)
}

// Command is a slash command as typed.
type Command struct {
	Caller Caller
	Text   string
	// DeliveryID identifies the delivery (Slack's trigger_id) so that a
	// retried delivery is handled once.
	DeliveryID string
}

// Reply is an immediate answer shown only to the caller. An empty Text means
// nothing to say.
type Reply struct {
	Message
}

// Action is a click on a Button.
type Action struct {
	Caller   Caller
	ActionID string
	Value    string
	// Trigger lets the engine open a form in answer to the click (Slack's
	// trigger_id; empty in the console).
	Trigger string
	// DeliveryID identifies the delivery for de-duplication; may be empty.
	DeliveryID string
	// Message is the message that carried the button.
	Message MessageRef
}

// Submission is a submitted Form.
type Submission struct {
	Caller       Caller
	FormID       string
	Conversation string
	Values       map[string]string
}
