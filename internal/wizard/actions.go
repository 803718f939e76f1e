package wizard

import (
	"context"
	"strings"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Button action ids. A button's value is the conversation id.
const (
	ActionEnterName = "appreg.name"
	ActionNewCode   = "appreg.new_code"
	ActionRetry     = "appreg.retry"
	ActionCancel    = "appreg.cancel"
)

// FormName is the id of the registration-name form; InputName its input.
const (
	FormName  = "appreg.name"
	InputName = "name"
)

// Act implements appreg.Bot.
func (w *Wizard) Act(ctx context.Context, a appreg.Action) error {
	if a.DeliveryID != "" {
		first, err := w.store.FirstDelivery(ctx, "act:"+a.DeliveryID, deliveryTTL)
		if err != nil {
			return err
		}
		if !first {
			return nil
		}
	}
	c, err := w.store.Conversation(ctx, a.Value)
	if err != nil {
		w.privately(ctx, a.Caller, appreg.Message{Text: ":warning: " + appreg.ErrorMessage(err)})
		return nil
	}
	if a.Caller.User.ID != c.Requester.User.ID {
		w.log.Warn("click refused: not the requester", "conversation", c.ID, "user", a.Caller.User.ID, "action", a.ActionID)
		w.privately(ctx, a.Caller, msgNotYours(c))
		return nil
	}
	switch a.ActionID {
	case ActionEnterName:
		if c.State != appreg.StateAwaitingName {
			w.privately(ctx, a.Caller, msgNotNow(c))
			return nil
		}
		return w.chat.OpenForm(ctx, a.Trigger, a.Caller.User.ID, nameForm(c))
	case ActionNewCode:
		if c.State != appreg.StateExpired {
			w.privately(ctx, a.Caller, msgNotNow(c))
			return nil
		}
		w.spawn(c.ID, w.signIn)
	case ActionRetry:
		if c.State != appreg.StateCreating {
			w.privately(ctx, a.Caller, msgNotNow(c))
			return nil
		}
		if !w.spawn(c.ID, w.create) {
			w.privately(ctx, a.Caller, appreg.Message{Text: "The creation is still running; I'll report in the thread."})
		}
	case ActionCancel:
		return w.cancel(ctx, c, a.Caller)
	default:
		w.log.Warn("unknown action", "action", a.ActionID)
	}
	return nil
}

// privately tells the caller something in the channel they acted in.
func (w *Wizard) privately(ctx context.Context, caller appreg.Caller, msg appreg.Message) {
	if err := w.chat.PostPrivate(ctx, appreg.Place{Channel: caller.Channel}, caller.User.ID, msg); err != nil {
		w.log.Warn("private reply not posted", "user", caller.User.ID, "err", err)
	}
}

// Submit implements appreg.Bot.
func (w *Wizard) Submit(ctx context.Context, s appreg.Submission) (map[string]string, error) {
	if s.FormID != FormName {
		return nil, appreg.Errorf(appreg.KindInvalid, "This form is not known to the bot.")
	}
	fail := func(msg string) (map[string]string, error) { return map[string]string{InputName: msg}, nil }
	c, err := w.store.Conversation(ctx, s.Conversation)
	if err != nil {
		return fail(appreg.ErrorMessage(err))
	}
	if s.Caller.User.ID != c.Requester.User.ID {
		return fail(msgNotYours(c).Text)
	}
	if c.State != appreg.StateAwaitingName {
		return fail(msgNotNow(c).Text)
	}
	name := strings.TrimSpace(s.Values[InputName])
	if err := appreg.ValidateName(name); err != nil {
		return fail(appreg.ErrorMessage(err))
	}
	if err := w.store.ReserveName(ctx, c.Service, name, c.ID); err != nil {
		return fail(appreg.ErrorMessage(err))
	}
	if err := w.move(ctx, c, appreg.StateCreating, func(c *appreg.Conversation) { c.Name = name; c.Reason = "" }); err != nil {
		_ = w.store.ReleaseName(ctx, c.Service, name, c.ID)
		if appreg.ErrorKind(err) == appreg.KindConflict {
			return fail("This conversation changed meanwhile; look at the thread.")
		}
		return fail(appreg.ErrorMessage(err))
	}
	w.log.Info("audit: registration name accepted", "conversation", c.ID, "user", s.Caller.User.ID, "name", name)
	w.spawn(c.ID, w.create)
	return nil, nil
}

// cancel ends a conversation at the caller's request. Anything already
// created in the tenant is left in place and named in the thread.
func (w *Wizard) cancel(ctx context.Context, c *appreg.Conversation, by appreg.Caller) error {
	for {
		if c.State.Terminal() {
			return nil
		}
		err := w.move(ctx, c, appreg.StateCancelled, func(c *appreg.Conversation) {
			c.Reason = "Cancelled by <@" + by.User.ID + ">."
		})
		if appreg.ErrorKind(err) != appreg.KindConflict {
			if err == nil {
				w.log.Info("audit: onboarding cancelled", "conversation", c.ID, "user", by.User.ID)
				w.post(ctx, c, msgCancelled(c, by))
			}
			return err
		}
		// Someone else moved it first: look again.
		if c, err = w.store.Conversation(ctx, c.ID); err != nil {
			return err
		}
	}
}

func nameForm(c *appreg.Conversation) appreg.Form {
	return appreg.Form{
		ID: FormName, Conversation: c.ID, Title: "Registration name", Submit: "Create",
		Inputs: []appreg.FormInput{{
			ID: InputName, Label: "Registration name for service " + c.Service,
			Hint:        "3–15 characters; no dot, no blank, none of \\ / : * ? \" < > |; unique per service.",
			Placeholder: "e.g. DR-Contoso", MaxLength: 64,
		}},
	}
}

// Sweep continues or closes every live conversation whose job is not
// running on any replica. Start runs it periodically.
func (w *Wizard) Sweep(ctx context.Context) {
	ids, err := w.store.LiveConversations(ctx)
	if err != nil {
		w.log.Warn("sweep: live conversations not listed", "err", err)
		return
	}
	for _, id := range ids {
		w.spawn(id, w.resume)
	}
}

// resume is the sweep's job for one conversation.
func (w *Wizard) resume(ctx context.Context, c *appreg.Conversation) error {
	idle := w.now().Sub(c.UpdatedAt) > w.cfg.IdleTimeout
	switch c.State {
	case appreg.StateStarted:
		return w.start(ctx, c)
	case appreg.StateAwaitingSignIn:
		// We hold the lease, so nobody is waiting for this sign-in any more.
		return w.expire(ctx, c, reasonSignInInterrupted)
	case appreg.StateSignedIn:
		return w.askName(ctx, c, "")
	case appreg.StateAwaitingName:
		if idle {
			return w.expireIdle(ctx, c)
		}
	case appreg.StateCreating:
		if c.Reason == "" { // not waiting for a Retry click
			return w.create(ctx, c)
		}
	case appreg.StateExpired:
		if idle {
			return w.expireIdle(ctx, c)
		}
	}
	return nil
}

// expireIdle ends a conversation nobody has touched for the idle timeout.
func (w *Wizard) expireIdle(ctx context.Context, c *appreg.Conversation) error {
	return w.move(ctx, c, appreg.StateFailed, func(c *appreg.Conversation) { c.Reason = reasonIdle(w.cfg.IdleTimeout) })
}
