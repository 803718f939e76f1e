package wizard

import (
	"context"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/panics"
)

// Rolling restarts: a replica that shuts down hands back what it holds.
//
//   - Its jobs stop and release their leases at once (run's deferred
//     release), and Close then bumps the store's hand-back counter. Every
//     replica reads that counter every HandBackPoll (one GET) and sweeps when
//     it changes, so a conversation handed back is picked up within seconds,
//     not at the next RecoveryInterval.
//   - A sign-in being waited for survives the replica when a state key is
//     configured and the tenant can resume sign-ins (appreg.SignInResumer):
//     while it waits, the replica keeps the sign-in's handover (the device
//     code, its expiry, the tenant and the scopes) sealed with the state key
//     in the store, expiring with the code. The sweep of the replica that
//     takes the conversation over opens it and goes on polling the same code,
//     so the admin's approval is noticed and no new code is asked for. The
//     handover is dropped as soon as the sign-in ends, whatever its outcome;
//     only a replica that is shutting down leaves it in place. Without a
//     state key nothing is stored and the sweep asks for a new code, as it
//     always did.

// handoverAD is the additional data a handover is sealed with: the
// conversation's own id, marked so that a sealed handover cannot be opened
// as a sealed session, nor in another conversation.
func handoverAD(id string) string { return id + "/signin" }

// keepHandover stores the sealed handover of a sign-in being waited for, so
// that another replica can go on waiting for it. A failure is logged: the
// sign-in still works here, only a restart would lose it.
func (w *Wizard) keepHandover(ctx context.Context, c *appreg.Conversation, attempt appreg.SignIn) {
	h, ok := attempt.(appreg.HandingOver)
	if w.sealer == nil || !ok {
		return
	}
	if _, ok := w.tenant.(appreg.SignInResumer); !ok {
		return
	}
	ttl := time.Until(attempt.Code().ExpiresAt) // the device code's own clock
	if ttl <= 0 {
		return
	}
	data, err := h.Handover()
	if err != nil {
		w.log.Warn("sign-in not handed over: no handover", "conversation", c.ID, "err", err)
		return
	}
	if err := w.store.SaveHandover(ctx, c.ID, w.sealer.Seal(data, []byte(handoverAD(c.ID))), ttl); err != nil {
		w.log.Warn("sign-in handover not stored; a restart would ask for a new code", "conversation", c.ID, "err", err)
	}
}

// dropHandover removes a sign-in's handover once the sign-in has ended.
// While the replica shuts down it is left for the next one.
func (w *Wizard) dropHandover(c *appreg.Conversation) {
	if w.sealer == nil || w.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := w.store.DropHandover(ctx, c.ID); err != nil {
		w.log.Warn("sign-in handover not dropped; it expires with its code", "conversation", c.ID, "err", err)
	}
}

// resumeSignIn returns the sign-in a replica handed over for c, or nil when
// there is none that can go on (no state key, none stored, expired, sealed
// with another key).
func (w *Wizard) resumeSignIn(ctx context.Context, c *appreg.Conversation) (appreg.SignIn, error) {
	resumer, ok := w.tenant.(appreg.SignInResumer)
	if w.sealer == nil || !ok {
		return nil, nil
	}
	sealed, err := w.store.Handover(ctx, c.ID)
	if err != nil || sealed == nil {
		return nil, err
	}
	data, err := w.sealer.Open(sealed, []byte(handoverAD(c.ID)))
	if err != nil {
		w.log.Warn("sign-in handover does not open (state key changed?)", "conversation", c.ID)
		return nil, nil
	}
	attempt, err := resumer.ResumeSignIn(ctx, c.Tenant, data)
	if appreg.ErrorKind(err) == appreg.KindUnavailable {
		return nil, err
	}
	if err != nil {
		w.log.Info("sign-in handover not resumable", "conversation", c.ID, "kind", appreg.ErrorKind(err), "err", err)
		return nil, nil
	}
	w.log.Info("sign-in taken over from another replica", "conversation", c.ID)
	return attempt, nil
}

// handBacks reads the hand-back counter at start: hand-backs after it are
// news, those before it are covered by the first sweep.
func (w *Wizard) handBacks() (n int64, known bool) {
	ctx, cancel := w.ackContext(w.ctx)
	defer cancel()
	n, err := w.store.HandedBack(ctx)
	return n, err == nil
}

// watchHandBacks sweeps whenever another replica hands conversations back,
// checking every HandBackPoll until Close: one GET each time. last is the
// counter read at start; when it could not be read, the first reading
// that succeeds sweeps (a hand-back may have come meanwhile).
func (w *Wizard) watchHandBacks(last int64, known bool) {
	t := time.NewTicker(w.cfg.HandBackPoll)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		}
		n, err := w.store.HandedBack(w.ctx)
		if err != nil {
			continue // the store is down: the sweep after it comes back catches up
		}
		if !known || n != last {
			w.log.Info("another replica handed conversations back; sweeping")
			func() {
				defer panics.Guard(w.log, w.obs.Panic, nil, "job", "sweep")
				w.Sweep(w.ctx)
			}()
		}
		last, known = n, true
	}
}

// handBack tells the other replicas that this one released its
// conversations.
func (w *Wizard) handBack() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := w.store.HandBack(ctx); err != nil {
		w.log.Warn("hand-back not announced; other replicas find the conversations at their next sweep", "err", err)
	}
}
