package wizard

import (
	"context"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// keepSession holds the admin's session for a conversation: in memory, and
// sealed in the store when a state key is configured.
func (w *Wizard) keepSession(ctx context.Context, id string, sess appreg.Session) {
	w.mu.Lock()
	w.sessions[id] = sess
	w.mu.Unlock()
	if w.sealer == nil {
		return
	}
	plain, err := sess.Export()
	if err != nil {
		w.log.Warn("admin session not exportable; other replicas will ask for a new sign-in", "conversation", id, "err", err)
		return
	}
	if err := w.store.SaveSession(ctx, id, w.sealer.Seal(plain, []byte(id)), w.cfg.IdleTimeout); err != nil {
		w.log.Warn("admin session not stored; other replicas will ask for a new sign-in", "conversation", id, "err", err)
	}
}

// session returns the admin's session for a conversation: from memory, or
// restored from the store. It returns nil when there is none and the admin
// must sign in again.
func (w *Wizard) session(ctx context.Context, c *appreg.Conversation) appreg.Session {
	w.mu.Lock()
	sess := w.sessions[c.ID]
	w.mu.Unlock()
	if sess != nil || w.sealer == nil {
		return sess
	}
	sealed, err := w.store.Session(ctx, c.ID)
	if err != nil || sealed == nil {
		return nil
	}
	plain, err := w.sealer.Open(sealed, []byte(c.ID))
	if err != nil {
		w.log.Warn("stored admin session does not open (state key changed?)", "conversation", c.ID)
		return nil
	}
	sess, err = w.tenant.Restore(ctx, c.Tenant, plain)
	if err != nil {
		w.log.Info("stored admin session no longer works", "conversation", c.ID, "kind", appreg.ErrorKind(err))
		return nil
	}
	w.mu.Lock()
	w.sessions[c.ID] = sess
	w.mu.Unlock()
	return sess
}

func (w *Wizard) forgetSession(ctx context.Context, id string) {
	w.mu.Lock()
	delete(w.sessions, id)
	w.mu.Unlock()
	if w.sealer != nil {
		_ = w.store.DropSession(ctx, id)
		_ = w.store.DropHandover(ctx, id)
	}
}
