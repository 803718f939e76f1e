package wizard

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Button action ids. A button's value is the conversation id.
const (
	ActionEnterName = "appreg.name"
	ActionNewCode   = "appreg.new_code"
	ActionRetry     = "appreg.retry"
	ActionCancel    = "appreg.cancel"
	ActionConfirm   = "appreg.confirm"
	ActionKeep      = "appreg.keep"
	// ActionRotate and ActionSnooze carry a RotateRef, not a conversation.
	ActionRotate = "appreg.rotate"
	ActionSnooze = "appreg.snooze"
	// ActionListPage carries "page|tenant".
	ActionListPage = "appreg.list_page"
)

// RotateRef names a secret for the Rotate button: tenant id, application id
// and key id.
func RotateRef(tenantID, appID, keyID string) string { return tenantID + "/" + appID + "/" + keyID }

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
	switch a.ActionID {
	case ActionRotate:
		parts := strings.Split(a.Value, "/")
		if len(parts) != 3 {
			return appreg.Errorf(appreg.KindInvalid, "That button is broken; run `/appreg list`.")
		}
		if ok, _ := w.authorized(ctx, a.Caller); !ok {
			w.privately(ctx, a.Caller, msgNotOperator())
			return nil
		}
		return w.rotate(ctx, a.Caller, parts[0], parts[1], parts[2])
	case ActionSnooze:
		if ok, _ := w.authorized(ctx, a.Caller); !ok {
			w.privately(ctx, a.Caller, msgNotOperator())
			return nil
		}
		if w.snoozer == nil {
			return appreg.Errorf(appreg.KindInvalid, "Reminders are not running on this bot.")
		}
		return w.snoozer.Snooze(ctx, a.Value, a.Caller)
	case ActionRoleRequest:
		if ok, _ := w.authorized(ctx, a.Caller); !ok {
			w.privately(ctx, a.Caller, msgNotOperator())
			return nil
		}
		principal, role, _ := strings.Cut(a.Value, "|")
		r := w.roleCommand(ctx, a.Caller, append([]string{"add", principal}, strings.Fields(role+" needed by the registration after onboarding")...), "")
		w.privately(ctx, a.Caller, r.Message)
		return nil
	case ActionListPage:
		if ok, _ := w.authorized(ctx, a.Caller); !ok {
			w.privately(ctx, a.Caller, msgNotOperator())
			return nil
		}
		page, tenant, _ := strings.Cut(a.Value, "|")
		n, _ := strconv.Atoi(page)
		regs, err := w.sortedRegistrations(ctx, tenant)
		if err != nil {
			return err
		}
		w.privately(ctx, a.Caller, msgList(regs, tenant, n, w.now(), w.cfg.Location))
		return nil
	}
	c, err := w.store.Conversation(ctx, a.Value)
	if err != nil {
		w.privately(ctx, a.Caller, appreg.Message{Text: ":warning: " + appreg.ErrorMessage(err)})
		return nil
	}
	if a.ActionID == ActionApprove || a.ActionID == ActionReject {
		if c.Role == nil {
			return nil
		}
		return w.decide(ctx, c, a)
	}
	if a.Caller.User.ID != c.Requester.User.ID && a.Caller.User.ID != signer(c).User.ID {
		w.log.Warn("click refused: not the requester", "conversation", c.ID, "user", a.Caller.User.ID, "action", a.ActionID)
		w.audit(ctx, appreg.AuditRecord{Actor: a.Caller.User.ID, Action: "click." + strings.TrimPrefix(a.ActionID, "appreg."),
			Tenant: c.Tenant, Target: c.Name, Detail: "conversation " + c.ID, Outcome: "denied: not the requester"})
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
		job := w.work
		if c.Flow == appreg.FlowRotate && c.Confirmed {
			job = w.removeOldSecret
		}
		w.spawn(c.ID, job)
	case ActionConfirm:
		if c.State != appreg.StateAwaitingConfirm {
			w.privately(ctx, a.Caller, msgNotNow(c))
			return nil
		}
		if err := w.move(ctx, c, appreg.StateCreating, func(c *appreg.Conversation) { c.Confirmed = true }); err != nil {
			return err
		}
		if c.Flow == appreg.FlowRotate {
			w.spawn(c.ID, w.removeOldSecret)
		} else {
			w.spawn(c.ID, w.work)
		}
	case ActionKeep:
		if c.State != appreg.StateAwaitingConfirm {
			w.privately(ctx, a.Caller, msgNotNow(c))
			return nil
		}
		if err := w.move(ctx, c, appreg.StateDone, nil); err != nil {
			return err
		}
		w.post(ctx, c, appreg.Message{Text: fmt.Sprintf("Both secrets of service *%s* stay. Remove the old one in the portal when the platform no longer uses it; `/appreg check %s` keeps the record honest.", c.Service, c.Name)})
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
	if s.FormID == FormReject {
		return w.reject(ctx, s)
	}
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
		// Release the name unless the step that won took the same one.
		if cur, lerr := w.store.Conversation(ctx, c.ID); lerr == nil && !strings.EqualFold(cur.Name, name) {
			_ = w.store.ReleaseName(ctx, c.Service, name, c.ID)
		}
		if appreg.ErrorKind(err) == appreg.KindConflict {
			return fail("This conversation changed meanwhile; look at the thread.")
		}
		return fail(appreg.ErrorMessage(err))
	}
	w.log.Info("audit: registration name accepted", "conversation", c.ID, "user", s.Caller.User.ID, "name", name)
	w.spawn(c.ID, w.work)
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
	live := make(map[string]bool, len(ids))
	for _, id := range ids {
		live[id] = true
		w.run(id, w.resume, 0)
	}
	// Sessions of conversations that ended elsewhere or expired.
	w.mu.Lock()
	for id := range w.sessions {
		if !live[id] {
			delete(w.sessions, id)
		}
	}
	w.mu.Unlock()
}

// resume is the sweep's job for one conversation.
func (w *Wizard) resume(ctx context.Context, c *appreg.Conversation) error {
	idle := w.now().Sub(c.UpdatedAt) > w.cfg.IdleTimeout
	switch c.State {
	case appreg.StateStarted:
		return w.start(ctx, c)
	case appreg.StateAwaitingApproval:
		if c.Status.TS == "" { // the request was never posted
			ref, err := w.chat.Post(ctx, appreg.Place{Channel: w.cfg.ApprovalsChannel}, statusMessage(c, w.cfg.Location))
			if err != nil {
				return err
			}
			c.Status = ref
			if err := w.save(ctx, c); err != nil {
				return err
			}
		}
		if c.Role != nil && c.Role.Approver != nil {
			return w.signIn(ctx, c) // approved; the job that was to sign in died
		}
		if w.now().Sub(c.CreatedAt) > w.cfg.ApprovalTTL {
			return w.expireApproval(ctx, c)
		}
	case appreg.StateAwaitingSignIn:
		// We hold the lease, so nobody is waiting for this sign-in any more.
		return w.expire(ctx, c, reasonSignInInterrupted)
	case appreg.StateSignedIn:
		if c.Flow == appreg.FlowOnboard {
			return w.askName(ctx, c, "")
		}
		return w.afterSignIn(ctx, c)
	case appreg.StateAwaitingName:
		if idle {
			return w.expireIdle(ctx, c)
		}
	case appreg.StateCreating:
		if c.Reason == "" { // not waiting for a Retry click
			if c.Flow == appreg.FlowRotate && c.Confirmed {
				return w.removeOldSecret(ctx, c)
			}
			return w.work(ctx, c)
		}
	case appreg.StateAwaitingConfirm:
		if idle {
			return w.expireIdle(ctx, c)
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
