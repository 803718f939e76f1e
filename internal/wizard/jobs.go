package wizard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/panics"
)

// Jobs: slow work on a conversation runs in the background under the
// conversation's lease, one job at a time across all replicas; every step
// is a compare-and-set on the conversation's version.

func newID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// spawn runs job for a conversation in the background while holding the
// conversation's lease, so that one job at a time works on a conversation
// across all replicas. When another job holds the lease, spawn waits for it
// up to LeaseTTL (a job that is just finishing), then leaves the
// conversation to the sweep. Jobs check the conversation's state when they
// run, so a job that waited and finds its step done does nothing.
func (w *Wizard) spawn(id string, job func(ctx context.Context, c *appreg.Conversation) error) {
	w.run(id, job, w.cfg.LeaseTTL)
}

// run is spawn with a bound on the wait for the lease; 0 tries once, as the
// sweep does: a busy conversation has its job.
func (w *Wizard) run(id string, job func(ctx context.Context, c *appreg.Conversation) error, wait time.Duration) {
	// The owner names this job, not just this replica: a second job for the
	// same conversation in this process must not share the lease.
	lease, owner := "conv:"+id, w.owner+":"+newID()
	w.jobs.Add(1)
	w.goJob(func() {
		defer w.jobs.Done()
		// A panic ends this conversation with a message, not the process.
		defer panics.Guard(w.log, w.obs.Panic, func(any) { w.endAfterPanic(id) }, "conversation", id)
		if !w.acquire(lease, owner, wait) {
			return
		}
		ctx, cancel := context.WithCancel(w.ctx)
		defer cancel()
		panics.Go(w.log, w.obs.Panic, func() { w.renew(ctx, cancel, lease, owner) }, "conversation", id)
		defer func() {
			// A fresh context: the job's own may be cancelled by Close.
			rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer rcancel()
			_ = w.store.ReleaseLease(rctx, lease, owner)
		}()
		c, err := w.store.Conversation(ctx, id)
		if err == nil {
			err = job(ctx, c)
		}
		for storeDown(err) && ctx.Err() == nil {
			// The store went away under the job: no failure to report, the
			// job waits for it and continues from what is stored.
			if err = w.afterOutage(ctx, id, lease, owner); err == errLeaseLost {
				return
			}
		}
		if err != nil && ctx.Err() == nil {
			w.jobFailed(id, err)
		}
	})
}

// errLeaseLost ends a job whose conversation another replica took while the
// store was down.
var errLeaseLost = errors.New("lease lost during a store outage")

// afterOutage waits for the store, takes the job's lease again and resumes
// the conversation from its stored state. It returns errLeaseLost when
// another replica took the conversation meanwhile.
func (w *Wizard) afterOutage(ctx context.Context, id, lease, owner string) error {
	w.log.Warn("store unavailable; the conversation waits for it", "conversation", id)
	if !w.storeBack(ctx) {
		return ctx.Err()
	}
	ok, err := w.store.AcquireLease(ctx, lease, owner, w.cfg.LeaseTTL)
	if err != nil {
		return err
	}
	if !ok {
		w.log.Info("conversation taken over by another replica during a store outage", "conversation", id)
		return errLeaseLost
	}
	w.log.Info("store back; the conversation goes on", "conversation", id)
	c, err := w.store.Conversation(ctx, id)
	if err != nil {
		return err
	}
	return w.resume(ctx, c)
}

// acquire takes a job's lease, waiting up to wait for another holder.
func (w *Wizard) acquire(lease, owner string, wait time.Duration) bool {
	deadline := time.Now().Add(wait) // real time: it paces real polling
	for {
		ok, err := w.store.AcquireLease(w.ctx, lease, owner, w.cfg.LeaseTTL)
		if ok {
			return true
		}
		if err != nil {
			w.log.Warn("lease not taken", "lease", lease, "err", err)
			return false
		}
		if !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-w.ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// renew keeps a lease while its job runs, and stops the job when the lease
// is lost to another owner.
func (w *Wizard) renew(ctx context.Context, stop context.CancelFunc, lease, owner string) {
	t := time.NewTicker(w.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ok, err := w.store.AcquireLease(ctx, lease, owner, w.cfg.LeaseTTL)
			if err == nil && !ok {
				w.log.Warn("lease lost; stopping job", "lease", lease)
				stop()
				return
			}
		}
	}
}

// endAfterPanic ends a conversation whose job panicked: it fails, so that
// nothing runs on half-done, and its thread says what was done.
func (w *Wizard) endAfterPanic(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := w.store.Conversation(ctx, id)
	if err != nil || c.State.Terminal() {
		return
	}
	if err := w.move(ctx, c, appreg.StateFailed, func(c *appreg.Conversation) { c.Reason = reasonCrashed() }); err != nil {
		w.log.Error("conversation not ended after a panic", "conversation", id, "err", err)
		return
	}
	w.post(ctx, c, msgCrashed(c))
}

// jobFailed reports an error that ended a job, in the conversation's thread.
func (w *Wizard) jobFailed(id string, err error) {
	w.obs.Error(appreg.ErrorKind(err))
	w.log.Error("conversation step failed", "conversation", id, "kind", appreg.ErrorKind(err), "err", err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, lerr := w.store.Conversation(ctx, id)
	if lerr != nil || c.State.Terminal() || c.Status.IsZero() {
		return
	}
	if c.State == appreg.StateCreating {
		// Recorded so that the sweep waits for the user's Retry.
		c.Reason = appreg.T(appreg.ErrorMessage(err))
		if w.save(ctx, c) != nil {
			return
		}
		w.updateStatus(ctx, c)
	}
	w.post(ctx, c, msgStepFailed(c, err))
}

// save stores c (a compare-and-set). On a conflict it returns the error;
// the caller's job stops, and whoever won carries on.
func (w *Wizard) save(ctx context.Context, c *appreg.Conversation) error {
	return w.store.UpdateConversation(ctx, c)
}

// recordStatus records where a conversation's status message is (which
// starts its thread). A click that lands between the post and this record
// changes the conversation first: the record is made on the fresh
// conversation then, for the thread must not be lost.
func (w *Wizard) recordStatus(ctx context.Context, c *appreg.Conversation, ref appreg.MessageRef) error {
	for {
		c.Status = ref
		err := w.save(ctx, c)
		if appreg.ErrorKind(err) != appreg.KindConflict {
			return err
		}
		cur, lerr := w.store.Conversation(ctx, c.ID)
		if lerr != nil {
			return lerr
		}
		*c = *cur
		if !c.Status.IsZero() {
			return nil
		}
	}
}

// move moves c to state to, applying change first, and updates the status
// message. It returns a KindConflict error when the step is not allowed
// from c's state or another change came first.
func (w *Wizard) move(ctx context.Context, c *appreg.Conversation, to appreg.State, change func(*appreg.Conversation)) error {
	from := c.State
	if !from.CanMoveTo(to) {
		return appreg.Errorf(appreg.KindConflict, "This conversation is %s and cannot go to %s.", describeState(from), describeState(to))
	}
	next := *c
	if change != nil {
		change(&next)
	}
	next.State = to
	if err := w.save(ctx, &next); err != nil {
		return err
	}
	*c = next
	w.obs.Transition(from, to)
	// The move happened: its count is kept even when the job is being
	// stopped (a cancelled context would leave the counts off).
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	err := w.store.CountTransition(cctx, from, to)
	cancel()
	if err != nil {
		w.log.Warn("conversation count not kept", "conversation", c.ID, "err", err)
	}
	w.log.Info("conversation moved", "conversation", c.ID, "from", from, "to", to, "version", c.Version)
	if to.Terminal() {
		if c.Name != "" && to != appreg.StateDone {
			_ = w.store.ReleaseName(ctx, c.Service, c.Name, c.ID)
		}
		if c.HoldsSlot() {
			_ = w.store.ClearActiveConversation(ctx, c.Requester.Channel, c.Requester.User.ID, c.ID)
		}
		w.forgetSession(ctx, c.ID)
	}
	w.updateStatus(ctx, c)
	return nil
}

func (w *Wizard) updateStatus(ctx context.Context, c *appreg.Conversation) {
	if c.Status.IsZero() {
		return
	}
	if err := w.chat.Update(ctx, c.Status, statusMessage(c, w.cfg.Location)); err != nil {
		w.log.Warn("status message not updated", "conversation", c.ID, "err", err)
	}
}

// post posts msg in the conversation's thread; a failure is logged.
func (w *Wizard) post(ctx context.Context, c *appreg.Conversation, msg appreg.Message) {
	if _, err := w.chat.Post(ctx, c.Thread(), msg); err != nil {
		w.log.Warn("thread message not posted", "conversation", c.ID, "err", err)
	}
}

// tell shows msg privately, near the conversation's thread, to whoever
// signs in: the requester, or the approver of a role change.
func (w *Wizard) tell(ctx context.Context, c *appreg.Conversation, msg appreg.Message) error {
	return w.chat.Private(ctx, c.Thread(), signer(c).User.ID, msg)
}

// direct sends the requester a direct message; a failure is logged.
func (w *Wizard) direct(ctx context.Context, c *appreg.Conversation, msg appreg.Message) {
	if err := w.chat.Direct(ctx, c.Requester.Platform, c.Requester.User.ID, msg); err != nil {
		w.log.Warn("requester not messaged", "conversation", c.ID, "err", err)
	}
}

// cannotPost handles a thread that cannot be opened: when the bot may not
// post there (not a member, archived, unknown channel) the conversation
// fails and the requester hears why in a direct message; other errors are
// returned, and the sweep tries again.
func (w *Wizard) cannotPost(ctx context.Context, c *appreg.Conversation, err error, reason func(error) appreg.Text) error {
	if k := appreg.ErrorKind(err); k != appreg.KindForbidden && k != appreg.KindNotFound {
		return err
	}
	w.log.Warn("thread not opened", "conversation", c.ID, "channel", c.Requester.Channel, "err", err)
	why := reason(err)
	if merr := w.move(ctx, c, appreg.StateFailed, func(c *appreg.Conversation) { c.Reason = why }); merr != nil {
		return merr
	}
	w.direct(ctx, c, msgCannotOpenThread(why))
	return nil
}
