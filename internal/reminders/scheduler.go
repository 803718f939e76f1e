package reminders

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/panics"
)

// snoozeFor is how far the Snooze button postpones a secret's next reminder.
const snoozeFor = 24 * time.Hour

// Deps are the scheduler's ports and tools. Store and Chat are required;
// Clock, Observer and Logger may be nil (the wall clock, no metrics,
// slog.Default()).
type Deps struct {
	Store    Store
	Chat     appreg.Chat
	Clock    Clock
	Observer Observer
	Logger   *slog.Logger
}

// Scheduler is the secret-expiry reminder schedule: it implements
// appreg.Reminders, scans for due reminders and delivers them. It is safe
// for concurrent use; run one per replica.
type Scheduler struct {
	cfg   Config
	tod   time.Duration
	store Store
	chat  appreg.Chat
	clock Clock
	obs   Observer
	log   *slog.Logger
	d     *deliverer
}

var _ appreg.Reminders = (*Scheduler)(nil)

// New returns a Scheduler. It starts nothing; call Run. KindInvalid for a
// bad configuration.
func New(cfg Config, d Deps) (*Scheduler, error) {
	if d.Store == nil || d.Chat == nil {
		return nil, appreg.Errorf(appreg.KindInvalid, "reminders: a store and a chat are required")
	}
	cfg, tod, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if d.Clock == nil {
		d.Clock = SystemClock{}
	}
	if d.Observer == nil {
		d.Observer = nopObserver{}
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	s := &Scheduler{cfg: cfg, tod: tod, store: d.Store, chat: d.Chat, clock: d.Clock, obs: d.Observer,
		log: d.Logger.With("component", "reminders", "replica", cfg.Replica)}
	s.d = newDeliverer(s)
	return s, nil
}

// Track implements appreg.Reminders: it schedules the secret's reminders,
// replacing any earlier schedule of it. Thresholds already past are skipped
// except the most urgent, which goes out at the next scan. KindInvalid for
// a secret without ids or expiry; KindUnavailable when the store is down.
func (s *Scheduler) Track(ctx context.Context, ref appreg.SecretRef) (appreg.ReminderPlan, error) {
	if err := IDOf(ref).Validate(); err != nil {
		return appreg.ReminderPlan{}, appreg.Errorf(appreg.KindInvalid, "A secret to remind of needs a tenant id, an application id and a key id.")
	}
	if ref.Expires.IsZero() {
		return appreg.ReminderPlan{}, appreg.Errorf(appreg.KindInvalid, "A secret to remind of needs an expiry date.")
	}
	now := s.clock.Now()
	due := dueTimes(ref.Expires, s.cfg.Thresholds, s.tod, s.cfg.Location)
	n, err := s.store.Schedule(ctx, Schedule{Secret: ref, Reminders: due, Now: now})
	if err != nil {
		return appreg.ReminderPlan{}, err
	}
	s.log.InfoContext(ctx, "secret tracked", "tenant_id", ref.TenantID, "app_id", ref.AppID, "key_id", ref.KeyID,
		"expires", ref.Expires, "scheduled", n)
	// Thresholds already past are skipped but for the most urgent of them,
	// which goes at the next scan.
	plan := appreg.ReminderPlan{Channel: s.cfg.Channels[ref.Thread.Platform]}
	past := 0
	for past < len(due) && !due[past].At.After(now) {
		past++
	}
	if past > 0 {
		plan.Due = append(plan.Due, now)
	}
	for _, d := range due[past:] {
		plan.Due = append(plan.Due, d.At)
	}
	return plan, nil
}

// Untrack implements appreg.Reminders: the secret gets no more reminders,
// and deliveries of it still queued are dropped. Untracking a secret that is
// not tracked is no error.
func (s *Scheduler) Untrack(ctx context.Context, tenantID, appID, keyID string) error {
	id := SecretID{TenantID: tenantID, AppID: appID, KeyID: keyID}
	if err := id.Validate(); err != nil {
		return err
	}
	was, err := s.store.Unschedule(ctx, id)
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "secret untracked", "tenant_id", tenantID, "app_id", appID, "key_id", keyID, "was_tracked", was)
	return nil
}

// Scan claims every reminder due at now and enqueues its messages; it
// returns how many reminders it claimed. Any number of replicas may scan at
// once: each reminder is claimed once. Of several due reminders of one
// secret only the most urgent is claimed. Run calls it under the lease.
func (s *Scheduler) Scan(ctx context.Context, now time.Time) (int, error) {
	claimed, dropped := 0, 0
	for {
		c, err := s.store.ClaimDue(ctx, now, s.cfg.BatchSize, len(s.cfg.Channels) > 0)
		if err != nil {
			s.obs.Due(claimed)
			return claimed, err
		}
		claimed += c.Claimed
		dropped += c.Dropped
		if c.Examined < s.cfg.BatchSize {
			break
		}
	}
	s.obs.Due(claimed)
	if claimed > 0 || dropped > 0 {
		s.log.InfoContext(ctx, "reminders claimed", "claimed", claimed, "dropped_older", dropped)
	}
	return claimed, nil
}

// Snooze postpones the next reminder of the secret that ref names (the
// Value of the "Snooze 1 day" button) to one day after the reminder that
// was clicked, and returns what to tell the person who clicked. A double
// click snoozes once. KindInvalid for a reference that is not one;
// KindNotFound when the secret is no longer tracked (rotated or removed).
func (s *Scheduler) Snooze(ctx context.Context, ref string, by appreg.Caller) (appreg.Message, error) {
	id, err := ParseRef(ref)
	if err != nil {
		return appreg.Message{}, err
	}
	res, err := s.store.Snooze(ctx, id, s.clock.Now(), snoozeFor)
	if err != nil {
		if appreg.ErrorKind(err) == appreg.KindNotFound {
			s.log.InfoContext(ctx, "audit: snooze refused: secret not tracked", "ref", ref, "user", by.User.ID, "channel", by.Channel)
		}
		return appreg.Message{}, err
	}
	s.log.InfoContext(ctx, "audit: reminder snoozed", "ref", ref, "user", by.User.ID, "platform", by.Platform,
		"channel", by.Channel, "next", res.Next, "already", res.Already)
	return snoozedMessage(res.Secret, res.Next, res.Already, s.cfg.Location), nil
}

// Upcoming returns the next limit scheduled reminders, soonest first, and
// how many are scheduled in all, for the `/appreg reminders` listing.
// limit <= 0 means 20.
func (s *Scheduler) Upcoming(ctx context.Context, limit int) ([]Upcoming, int, error) {
	if limit <= 0 {
		limit = 20
	}
	next, err := s.store.Upcoming(ctx, limit)
	if err != nil {
		return nil, 0, err
	}
	total, err := s.store.Scheduled(ctx)
	return next, max(total, len(next)), err
}

// Deliver posts every delivery visible in the queue now, and those that
// become visible while it runs, pacing each channel; it returns when none
// is left in hand, with the number of deliveries it took. A delivery the
// chat keeps refusing as unavailable keeps it waiting until ctx ends. Run
// delivers continuously; Deliver is for tests and one-off runs.
func (s *Scheduler) Deliver(ctx context.Context) (int, error) {
	total := 0
	for {
		took, err := s.d.fill(ctx)
		total += took
		if err != nil {
			return total, err
		}
		if took == 0 && s.d.held() == 0 {
			return total, nil
		}
		limit := s.cfg.MaxHeld
		if took == 0 {
			limit = 1
		}
		if err := s.d.waitBelow(ctx, limit); err != nil {
			return total, err
		}
		s.d.maybeExtend(ctx)
	}
}

// Run scans and delivers until ctx ends, while this replica holds the
// reminder lease; otherwise it stands by and tries for the lease every
// ScanInterval. It releases the lease on return and returns nil when ctx
// ends.
func (s *Scheduler) Run(ctx context.Context) error {
	var lead *leadership
	defer func() {
		lead.stop(s)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
		defer cancel()
		if err := s.store.ReleaseLease(rctx, s.cfg.Replica); err != nil {
			s.log.Warn("reminder lease not released", "err", err)
		}
	}()
	down := false // the store did not answer last time: said once, not at every scan
	for {
		held, err := s.store.AcquireLease(ctx, s.cfg.Replica, s.cfg.LeaseTTL)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil && !down:
			s.log.WarnContext(ctx, "reminder lease: store unavailable; scans pause until it answers", "err", err)
			down = true
		case err == nil && down:
			s.log.InfoContext(ctx, "reminder lease: store answers again; scans resume")
			down = false
		}
		if err != nil {
			held = false
		}
		switch {
		case held && lead == nil:
			s.log.InfoContext(ctx, "reminder lease taken: scanning and delivering")
			lead = s.startLeading(ctx)
		case !held && lead != nil:
			s.log.WarnContext(ctx, "reminder lease lost: standing by")
			lead.stop(s)
			lead = nil
		}
		if held {
			func() {
				defer panics.Guard(s.log, s.obs.Panic, nil, "job", "reminder scan")
				if _, err := s.Scan(ctx, s.clock.Now()); err != nil && ctx.Err() == nil {
					s.log.WarnContext(ctx, "reminder scan failed", "err", err)
				}
			}()
		}
		if s.clock.Sleep(ctx, s.cfg.ScanInterval) != nil {
			return nil
		}
	}
}

// leadership is the delivery loop of the lease holder.
type leadership struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startLeading starts the delivery loop.
func (s *Scheduler) startLeading(ctx context.Context) *leadership {
	lctx, cancel := context.WithCancel(ctx)
	l := &leadership{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		s.deliverLoop(lctx)
	}()
	return l
}

// stop ends the delivery loop and waits until the lanes have let go of
// their deliveries (released for the next lease holder). A nil l is
// nothing to stop.
func (l *leadership) stop(s *Scheduler) {
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.d.waitBelow(wctx, 1)
}

// guardedFill is deliverer.fill with a panic taken for an error.
func (s *Scheduler) guardedFill(ctx context.Context) (took int, err error) {
	defer panics.Guard(s.log, s.obs.Panic, func(v any) { err = fmt.Errorf("panic: %v", v) }, "job", "reminder queue")
	return s.d.fill(ctx)
}

// deliverLoop takes deliveries as they become visible and hands them to
// the channel lanes until ctx ends.
func (s *Scheduler) deliverLoop(ctx context.Context) {
	for ctx.Err() == nil {
		took, err := s.guardedFill(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "reminder queue unavailable", "err", err)
		}
		s.d.maybeExtend(ctx)
		if took == 0 || err != nil {
			if s.clock.Sleep(ctx, s.cfg.PollInterval) != nil {
				return
			}
			continue
		}
		if s.d.waitBelow(ctx, s.cfg.MaxHeld) != nil {
			return
		}
	}
}
