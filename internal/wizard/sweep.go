package wizard

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Recovery: a job dies with its replica, a conversation sits idle, a
// request waits for an approver past its time. The sweep finds each live
// conversation that no job is working on and continues it or ends it with
// a message.

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
	w.reportUnconfirmed(ctx)
}

// reportUnconfirmed tells the thread, and the person, of each secret shown
// longer than ConfirmTTL ago that nobody confirmed stored, with one click
// to replace it. A secret gone since (rotated, removed) is not reported.
func (w *Wizard) reportUnconfirmed(ctx context.Context) {
	ds, err := w.store.ClaimUnconfirmed(ctx, w.now(), 50)
	if err != nil {
		w.log.Warn("sweep: unconfirmed secrets not read", "err", err)
	}
	for _, d := range ds {
		r, err := w.findRegistration(ctx, d.Key.TenantID+"/"+d.Key.AppID)
		if err != nil || !slices.ContainsFunc(r.Secrets, func(s appreg.SecretRecord) bool { return s.KeyID == d.Key.KeyID }) {
			continue
		}
		w.log.Info("secret delivery not confirmed", "registration", d.Registration, "key_id", d.Key.KeyID, "to", d.To.User.ID)
		w.audit(ctx, appreg.AuditRecord{Actor: "bot", Action: "secret.unconfirmed", Tenant: d.Tenant, Target: d.Registration,
			Detail: fmt.Sprintf("service %s, key %s, shown to %s at %s", d.Service, d.Key.KeyID, d.To.User.ID, d.DeliveredAt.Format(time.RFC3339))})
		msg := msgUnconfirmed(d, w.cfg.ConfirmTTL, w.cfg.Location)
		if _, err := w.chat.Post(ctx, d.Thread, msg); err != nil {
			w.log.Warn("unconfirmed secret not reported in its thread", "key_id", d.Key.KeyID, "err", err)
		}
		if err := w.chat.Direct(ctx, d.To.Platform, d.To.User.ID, msg); err != nil {
			w.log.Warn("unconfirmed secret not reported to its owner", "key_id", d.Key.KeyID, "err", err)
		}
	}
}

// resume is the sweep's job for one conversation.
func (w *Wizard) resume(ctx context.Context, c *appreg.Conversation) error {
	idle := w.now().Sub(c.UpdatedAt) > w.cfg.IdleTimeout
	switch c.State {
	case appreg.StateStarted:
		return w.start(ctx, c)
	case appreg.StateAwaitingApproval:
		if c.Status.IsZero() { // the request was never posted
			if err := w.postRequest(ctx, c); err != nil {
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
		// We hold the lease, so nobody is waiting for this sign-in any more:
		// it was made during a store outage, or handed over by a replica
		// that shut down, or lost with its replica.
		if sess := w.heldSignIn(c.ID); sess != nil {
			return w.signedInHeld(ctx, c, sess)
		}
		attempt, err := w.resumeSignIn(ctx, c)
		if err != nil {
			if storeDown(err) {
				return err
			}
			w.log.Warn("sign-in handover not resumed now; the next sweep tries again", "conversation", c.ID, "err", err)
			return nil
		}
		if attempt != nil {
			return w.waitSignIn(ctx, c, attempt)
		}
		return w.expire(ctx, c, reasonSignInInterrupted())
	case appreg.StateSignedIn:
		if c.Flow == appreg.FlowOnboard {
			return w.askName(ctx, c, nil)
		}
		return w.afterSignIn(ctx, c)
	case appreg.StateAwaitingName:
		if idle {
			return w.expireIdle(ctx, c)
		}
	case appreg.StateCreating:
		if c.Reason.IsEmpty() { // not waiting for a Retry click
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
