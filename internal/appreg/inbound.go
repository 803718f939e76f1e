package appreg

import "context"

// Bot is what chat adapters deliver to: the conversation engine as seen from
// Slack, Teams or the console. Each method returns quickly (store operations
// and a few chat calls, well inside Slack's 3-second acknowledgement
// window); slow work such as polling a sign-in or calling Graph runs in the
// engine's own goroutines, which report back through the Chat port.
type Bot interface {
	// Command handles a command ("new contoso.onmicrosoft.com", "help", …:
	// the text after /appreg). The reply is shown at once and only to the
	// caller. A repeated DeliveryID is answered with an empty reply and has
	// no effect.
	Command(ctx context.Context, cmd Command) Reply
	// Act handles a button click. The Answer is what to show the person who
	// clicked, at once, in the platform's own way: a form, a notice only
	// they see, or nothing.
	Act(ctx context.Context, a Action) (Answer, error)
	// Submit handles a submitted form. Input errors, keyed by FormInput.ID,
	// are shown under the inputs and keep the form open; an empty map closes
	// it.
	Submit(ctx context.Context, s Submission) (map[string]string, error)
}

// Command is a command as typed.
type Command struct {
	Caller Caller
	Text   string
	// DeliveryID identifies the delivery (in Slack the trigger id, in Teams
	// the activity id) so that a retried delivery is handled once.
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
	// DeliveryID identifies the delivery for de-duplication; may be empty.
	DeliveryID string
	// Message is the message that carried the button.
	Message MessageRef
}

// Answer is what a click asks the platform to show the person who clicked,
// at once. The zero Answer shows nothing.
type Answer struct {
	// Form, when set, asks for input: Slack opens a modal with the click's
	// trigger, Teams answers the click with a card, the console prompts.
	Form *Form
	// Notice, when not empty, is shown to the person who clicked only.
	Notice Message
}

// Notice is an Answer that tells the person who clicked something.
func Notice(m Message) Answer { return Answer{Notice: m} }

// Submission is a submitted Form.
type Submission struct {
	Caller       Caller
	FormID       string
	Conversation string
	Values       map[string]string
}
