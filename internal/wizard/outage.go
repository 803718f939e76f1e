package wizard

import (
	"context"
	"errors"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Store outages. Redis may stop for a while (a restart, a failover):
//
//   - A command, click or form submission gets at most AckTimeout of store
//     time (ackContext), so that the person hears "try again in a moment"
//     within Slack's 3 seconds instead of nothing at all.
//   - A job that meets the store down (appreg.ErrStoreUnavailable) does not
//     fail and says nothing in chat: it keeps its place, waits for the store
//     (storeBack), takes its lease again and continues the conversation from
//     its stored state (resume). What it did in the tenant before the outage
//     was recorded step by step, and what it did after its last record is
//     found again by the steps' own idempotency (the creation key, the
//     secret's attempt mark), so nothing is done twice.
//   - A sign-in that ends while the store is down keeps its session in
//     memory; the resumed job finds it there (resume, awaiting_sign_in).
//   - The sweep, the hand-back watcher and the reminder scan skip their turn
//     while the store is down and catch up on the first one after.

// ackContext bounds the store time of an acknowledgement: a delivery that
// cannot reach the store is answered with its error well inside the
// platform's deadline.
func (w *Wizard) ackContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, w.cfg.AckTimeout)
}

// storeDown reports whether err says that the store could not be reached,
// rather than that the caller stopped waiting for it.
func storeDown(err error) bool {
	return errors.Is(err, appreg.ErrStoreUnavailable) && !errors.Is(err, context.Canceled)
}

// storeBack waits until the store answers again, checking with a growing
// pause (at most 2 s). It reports false when ctx ends first.
func (w *Wizard) storeBack(ctx context.Context) bool {
	pause := 200 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(pause):
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := w.store.Ping(pctx)
		cancel()
		if err == nil {
			return true
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// reload reads a conversation, waiting out a store outage: used where the
// job holds something the store must record first (a sign-in just made).
func (w *Wizard) reload(ctx context.Context, id string) (*appreg.Conversation, error) {
	for {
		c, err := w.store.Conversation(ctx, id)
		if !storeDown(err) {
			return c, err
		}
		w.log.Warn("store unavailable; waiting for it to record the sign-in", "conversation", id, "err", err)
		if !w.storeBack(ctx) {
			return nil, err
		}
	}
}

// holdSignIn keeps (or, with nil, forgets) a session the admin signed in
// with until its conversation has recorded the sign-in.
func (w *Wizard) holdSignIn(id string, sess appreg.Session) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if sess == nil {
		delete(w.signIns, id)
		return
	}
	w.signIns[id] = sess
}

// heldSignIn returns the session held for a conversation, or nil.
func (w *Wizard) heldSignIn(id string) appreg.Session {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.signIns[id]
}

// signedInHeld goes on after a sign-in and forgets the held session unless
// the store went away before the conversation recorded it.
func (w *Wizard) signedInHeld(ctx context.Context, c *appreg.Conversation, sess appreg.Session) error {
	err := w.signedIn(ctx, c, sess)
	if !storeDown(err) {
		w.holdSignIn(c.ID, nil)
	}
	return err
}
