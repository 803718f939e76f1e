package wizard

import (
	"context"
	"fmt"
	"strings"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// click is how the engine handles one kind of button. Act applies the
// checks a click declares, in front of its handler, once for all:
// de-duplication of the delivery, the operator check, and for a click on a
// conversation (onConversation) loading it, who may click and the state
// the button belongs to.
type click struct {
	// approvers: anyone may click (the handler decides who may approve);
	// otherwise the caller must be an operator.
	approvers bool
	// free handles a click whose value is not a conversation.
	free func(ctx context.Context, a appreg.Action) (appreg.Answer, error)
	// onConversation handles a click on the conversation its value names.
	onConversation func(ctx context.Context, a appreg.Action, c *appreg.Conversation) (appreg.Answer, error)
	// requester: only the requester, or whoever signs in for the
	// conversation, may click.
	requester bool
	// state, when set, is the only state in which the button means
	// something.
	state appreg.State
}

// clicks is the table of the buttons the engine handles.
func (w *Wizard) clicks() map[string]click {
	return map[string]click{
		appreg.ActionRotate: {free: w.clickRotate},
		appreg.ActionSnooze: {free: w.clickSnooze},
		ActionStored:        {free: w.clickStored},
		ActionReplace:       {free: w.clickReplace},
		ActionRoleRequest:   {free: w.clickRoleRequest},
		ActionListPage:      {free: w.clickListPage},

		ActionApprove: {approvers: true, onConversation: w.clickDecide},
		ActionReject:  {approvers: true, onConversation: w.clickDecide},

		ActionEnterName: {requester: true, state: appreg.StateAwaitingName, onConversation: w.clickEnterName},
		ActionNewCode:   {requester: true, state: appreg.StateExpired, onConversation: w.clickNewCode},
		ActionRetry:     {requester: true, state: appreg.StateCreating, onConversation: w.clickRetry},
		ActionConfirm:   {requester: true, state: appreg.StateAwaitingConfirm, onConversation: w.clickConfirm},
		ActionKeep:      {requester: true, state: appreg.StateAwaitingConfirm, onConversation: w.clickKeep},
		ActionCancel:    {requester: true, onConversation: w.clickCancel},
	}
}

// Act implements appreg.Bot.
func (w *Wizard) Act(ctx context.Context, a appreg.Action) (appreg.Answer, error) {
	h, known := w.clickTable[a.ActionID]
	if !known {
		w.log.Warn("unknown action", "action", a.ActionID, "user", a.Caller.User.ID)
		return appreg.Notice(msgBrokenButton()), nil
	}
	// The store time of the click's first answer is bounded (ackContext):
	// during an outage the person hears so within the platform's deadline.
	// What the click then starts (a post, an update that waits out a rate
	// limit) keeps the caller's context.
	ackCtx, cancel := w.ackContext(ctx)
	defer cancel()
	if a.DeliveryID != "" {
		first, err := w.store.FirstDelivery(ackCtx, "act:"+a.DeliveryID, deliveryTTL)
		if err != nil {
			return appreg.Answer{}, err
		}
		if !first {
			return appreg.Answer{}, nil
		}
	}
	if !h.approvers {
		ok, err := w.authorized(ctx, a.Caller)
		if err != nil {
			w.log.Warn("operator check incomplete", "user", a.Caller.User.ID, "err", err)
		}
		if !ok {
			w.log.Warn("click refused: not an operator", "user", a.Caller.User.ID, "action", a.ActionID)
			return appreg.Notice(msgNotOperator()), nil
		}
	}
	if h.free != nil {
		return h.free(ctx, a)
	}
	c, err := w.store.Conversation(ackCtx, a.Value)
	if err != nil {
		return appreg.Notice(say(appreg.IconWarn, appreg.ErrorMessage(err))), nil
	}
	if h.requester && !mayAct(c, a.Caller) {
		w.log.Warn("click refused: not the requester", "conversation", c.ID, "user", a.Caller.User.ID, "action", a.ActionID)
		w.audit(ctx, appreg.AuditRecord{Actor: a.Caller.User.ID, Action: "click." + strings.TrimPrefix(a.ActionID, "appreg."),
			Tenant: c.Tenant, Target: c.Name, Detail: "conversation " + c.ID, Outcome: "denied: not the requester"})
		return appreg.Notice(msgNotYours(c)), nil
	}
	if h.state != "" && c.State != h.state {
		return appreg.Notice(msgNotNow(c)), nil
	}
	return h.onConversation(ctx, a, c)
}

// mayAct reports whether caller is the conversation's requester or whoever
// signs in for it.
func mayAct(c *appreg.Conversation, caller appreg.Caller) bool {
	for _, p := range []appreg.Caller{c.Requester, signer(c)} {
		if p.User.ID == caller.User.ID && (p.Platform == caller.Platform || p.Platform == "") {
			return true
		}
	}
	return false
}

func (w *Wizard) clickRotate(ctx context.Context, a appreg.Action) (appreg.Answer, error) {
	key, err := appreg.ParseSecretKey(a.Value)
	if err != nil {
		return appreg.Answer{}, err
	}
	return w.rotate(ctx, a.Caller, key)
}

// clickStored records that a delivered secret was stored.
func (w *Wizard) clickStored(ctx context.Context, a appreg.Action) (appreg.Answer, error) {
	key, err := appreg.ParseSecretKey(a.Value)
	if err != nil {
		return appreg.Answer{}, err
	}
	d, waiting, err := w.store.Confirm(ctx, key)
	if err != nil {
		return appreg.Answer{}, err
	}
	w.audit(ctx, appreg.AuditRecord{Actor: a.Caller.User.ID, Action: "secret.confirm", Tenant: d.Tenant, Target: d.Registration,
		Detail: fmt.Sprintf("service %s, key %s stored by the person it was shown to (waiting: %v)", d.Service, key.KeyID, waiting)})
	return appreg.Notice(msgStored(d, waiting)), nil
}

// clickReplace replaces a secret whose delivery nobody confirmed.
func (w *Wizard) clickReplace(ctx context.Context, a appreg.Action) (appreg.Answer, error) {
	key, err := appreg.ParseSecretKey(a.Value)
	if err != nil {
		return appreg.Answer{}, err
	}
	return w.replace(ctx, a.Caller, key)
}

func (w *Wizard) clickSnooze(ctx context.Context, a appreg.Action) (appreg.Answer, error) {
	if w.snoozer == nil {
		return appreg.Notice(msgRemindersOff()), nil
	}
	msg, err := w.snoozer.Snooze(ctx, a.Value, a.Caller)
	return appreg.Notice(msg), err
}

func (w *Wizard) clickRoleRequest(ctx context.Context, a appreg.Action) (appreg.Answer, error) {
	req, err := parseRoleRequest(a.Value)
	if err != nil {
		return appreg.Answer{}, err
	}
	words := strings.Fields(req.Role + " needed by the registration after onboarding")
	r := w.roleCommand(ctx, a.Caller, append([]string{"add", req.TenantID + "/" + req.AppID}, words...), "")
	return appreg.Notice(r.Message), nil
}

func (w *Wizard) clickListPage(ctx context.Context, a appreg.Action) (appreg.Answer, error) {
	p, err := parseListPage(a.Value)
	if err != nil {
		return appreg.Answer{}, err
	}
	regs, err := w.sortedRegistrations(ctx, p.Tenant)
	if err != nil {
		return appreg.Answer{}, err
	}
	return appreg.Notice(msgList(regs, p.Tenant, p.Page, w.localNow(), w.cfg.Location)), nil
}

func (w *Wizard) clickDecide(ctx context.Context, a appreg.Action, c *appreg.Conversation) (appreg.Answer, error) {
	if c.Role == nil {
		return appreg.Notice(msgBrokenButton()), nil
	}
	return w.decide(ctx, c, a)
}

func (w *Wizard) clickEnterName(_ context.Context, _ appreg.Action, c *appreg.Conversation) (appreg.Answer, error) {
	form := nameForm(c)
	return appreg.Answer{Form: &form}, nil
}

func (w *Wizard) clickNewCode(_ context.Context, _ appreg.Action, c *appreg.Conversation) (appreg.Answer, error) {
	w.spawn(c.ID, w.signIn)
	return appreg.Answer{}, nil
}

func (w *Wizard) clickRetry(_ context.Context, _ appreg.Action, c *appreg.Conversation) (appreg.Answer, error) {
	w.spawn(c.ID, w.work)
	return appreg.Answer{}, nil
}

func (w *Wizard) clickConfirm(ctx context.Context, _ appreg.Action, c *appreg.Conversation) (appreg.Answer, error) {
	if err := w.move(ctx, c, appreg.StateCreating, func(c *appreg.Conversation) { c.Confirmed = true }); err != nil {
		return appreg.Answer{}, err
	}
	w.spawn(c.ID, w.work)
	return appreg.Answer{}, nil
}

func (w *Wizard) clickKeep(ctx context.Context, _ appreg.Action, c *appreg.Conversation) (appreg.Answer, error) {
	if err := w.move(ctx, c, appreg.StateDone, nil); err != nil {
		return appreg.Answer{}, err
	}
	w.post(ctx, c, msgKeptBoth(c))
	return appreg.Answer{}, nil
}

func (w *Wizard) clickCancel(ctx context.Context, a appreg.Action, c *appreg.Conversation) (appreg.Answer, error) {
	if c.State.Terminal() {
		return appreg.Notice(msgNotNow(c)), nil
	}
	return appreg.Answer{}, w.cancel(ctx, c, a.Caller)
}

// Submit implements appreg.Bot. Like Command it spends at most AckTimeout
// on the answer; what a decision then tells the thread and the requester
// keeps the caller's context, as a click's does.
func (w *Wizard) Submit(ctx context.Context, s appreg.Submission) (map[string]string, error) {
	if s.FormID == FormReject {
		return w.reject(ctx, s)
	}
	ctx, cancel := w.ackContext(ctx)
	defer cancel()
	if s.FormID != FormName {
		return nil, appreg.Errorf(appreg.KindInvalid, "This form is not known to the bot.")
	}
	fail := func(msg string) (map[string]string, error) { return map[string]string{InputName: msg}, nil }
	if ok, err := w.authorized(ctx, s.Caller); !ok {
		if err != nil {
			w.log.Warn("operator check incomplete", "user", s.Caller.User.ID, "err", err)
		}
		return fail(msgNotOperator().Text.String())
	}
	c, err := w.store.Conversation(ctx, s.Conversation)
	if err != nil {
		return fail(appreg.ErrorMessage(err))
	}
	if s.Caller.User.ID != c.Requester.User.ID {
		return fail(msgNotYours(c).Text.String())
	}
	if c.State != appreg.StateAwaitingName {
		return fail(msgNotNow(c).Text.String())
	}
	name := strings.TrimSpace(s.Values[InputName])
	if err := appreg.ValidateName(name); err != nil {
		return fail(appreg.ErrorMessage(err))
	}
	if err := w.store.ReserveName(ctx, c.Service, name, c.ID); err != nil {
		return fail(appreg.ErrorMessage(err))
	}
	if err := w.move(ctx, c, appreg.StateCreating, func(c *appreg.Conversation) { c.Name = name; c.Reason = nil }); err != nil {
		// Release the name unless the step that won took the same one.
		if cur, lerr := w.store.Conversation(ctx, c.ID); lerr == nil && !strings.EqualFold(cur.Name, name) {
			_ = w.store.ReleaseName(ctx, c.Service, name, c.ID)
		}
		if appreg.ErrorKind(err) == appreg.KindConflict {
			return fail(whyChangedMeanwhile)
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
		err := w.move(ctx, c, appreg.StateCancelled, func(c *appreg.Conversation) { c.Reason = reasonCancelledBy(by) })
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
