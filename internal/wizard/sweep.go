package wizard

import (
	"context"

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
		// We hold the lease, so nobody is waiting for this sign-in any more.
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
