package reminders

import (
	"context"
	"sync"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/panics"
)

// ackTimeout bounds the acknowledgement or release that follows a post
// even when the caller's context has ended: a posted message must not be
// posted again because the replica was shutting down.
const ackTimeout = 5 * time.Second

// deliverer holds the deliveries this replica has taken from the queue, in
// one lane per destination channel. A lane posts its deliveries one at a
// time, paced by a token bucket and paused by Retry-After.
type deliverer struct {
	s *Scheduler

	mu         sync.Mutex
	lanes      map[string]*lane
	holding    map[string]Delivery // the copy held last, by delivery id
	inflight   int                 // deliveries in lanes, being posted included
	progress   chan struct{}       // closed and replaced when inflight drops
	lastExtend time.Time
}

// lane is the queue and pacing state of one channel. Only the lane's
// goroutine (at most one at a time, see running) touches the pacing fields.
type lane struct {
	channel string // the lane's key
	to      destination
	queue   []Delivery
	running bool

	tokens      float64
	last        time.Time
	pausedUntil time.Time
	backoff     time.Duration
}

func newDeliverer(s *Scheduler) *deliverer {
	return &deliverer{s: s, lanes: map[string]*lane{}, holding: map[string]Delivery{}, progress: make(chan struct{})}
}

// destination is where a delivery posts: the registration's thread (or
// the reminders channel of its platform), or the engineer's direct chat.
type destination struct {
	place appreg.Place // a thread or channel; for a direct message, the platform
	user  string       // the engineer, for a direct message
}

// lane names the destination's lane: one per channel or direct chat.
func (to destination) lane() string {
	if to.user != "" {
		return "dm\x00" + to.place.Platform + "\x00" + to.user
	}
	return to.place.Platform + "\x00" + to.place.Channel
}

func (d *deliverer) destination(del Delivery) destination {
	thread := del.Secret.Thread
	if del.Dest == DestEngineer {
		return destination{place: appreg.Place{Platform: thread.Platform}, user: del.Secret.Engineer}
	}
	if ch := d.s.cfg.Channels[thread.Platform]; ch != "" {
		return destination{place: appreg.Place{Platform: thread.Platform, Channel: ch}}
	}
	return destination{place: thread}
}

// send posts msg to the destination.
func (d *deliverer) send(ctx context.Context, to destination, msg appreg.Message) error {
	if to.user != "" {
		return d.s.chat.Direct(ctx, to.place.Platform, to.user, msg)
	}
	_, err := d.s.chat.Post(ctx, to.place, msg)
	return err
}

// held returns the number of deliveries in hand.
func (d *deliverer) held() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inflight
}

// fill takes as many visible deliveries as there is room for and hands
// them to their lanes. It returns how many it took.
func (d *deliverer) fill(ctx context.Context) (int, error) {
	cfg := d.s.cfg
	d.mu.Lock()
	room := min(cfg.MaxHeld-d.inflight, cfg.BatchSize)
	d.mu.Unlock()
	if room <= 0 {
		return 0, nil
	}
	ds, err := d.s.store.TakeDeliveries(ctx, d.s.clock.Now(), cfg.Visibility, room, cfg.Replica)
	for _, del := range ds {
		d.enqueue(ctx, del)
	}
	return len(ds), err
}

// enqueue hands a delivery to its channel's lane, starting the lane's
// goroutine when it is idle.
func (d *deliverer) enqueue(ctx context.Context, del Delivery) {
	to := d.destination(del)
	if to.user == "" && to.place.Channel == "" { // nowhere to post (no thread, no engineer): done
		d.ack(ctx, del)
		return
	}
	key := to.lane()
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.lanes[key]
	if l == nil {
		if len(d.lanes) >= 1000 {
			d.sweepLocked()
		}
		l = &lane{channel: key, to: to, tokens: float64(d.s.cfg.ChannelBurst)}
		d.lanes[key] = l
	}
	l.queue = append(l.queue, del)
	d.inflight++
	d.holding[del.ID] = del
	if !l.running {
		l.running = true
		go d.runLane(ctx, l)
	}
}

// sweepLocked forgets idle lanes whose pacing no longer matters. d.mu is
// held.
func (d *deliverer) sweepLocked() {
	now := d.s.clock.Now()
	for ch, l := range d.lanes {
		if !l.running && now.Sub(l.last) > time.Minute && now.After(l.pausedUntil) {
			delete(d.lanes, ch)
		}
	}
}

// runLane posts the lane's deliveries in order until its queue is empty or
// ctx ends; then the deliveries left are released for any replica.
func (d *deliverer) runLane(ctx context.Context, l *lane) {
	for {
		d.mu.Lock()
		if len(l.queue) == 0 || ctx.Err() != nil {
			rest := l.queue
			l.queue, l.running = nil, false
			d.mu.Unlock()
			for _, del := range rest {
				d.release(ctx, del)
				d.finish(del)
			}
			return
		}
		del := l.queue[0]
		l.queue = l.queue[1:]
		d.mu.Unlock()

		func() {
			// A delivery that panics is dropped: posted again, it would
			// panic again.
			defer panics.Guard(d.s.log, d.s.obs.Panic, func(any) { d.ack(ctx, del) }, "delivery", del.ID)
			d.deliver(ctx, l, del)
		}()
		d.finish(del)
		d.maybeExtend(ctx)
	}
}

// finish counts a delivery out of the lanes.
func (d *deliverer) finish(del Delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inflight--
	if h, ok := d.holding[del.ID]; ok && h.Token == del.Token {
		delete(d.holding, del.ID)
	}
	close(d.progress)
	d.progress = make(chan struct{})
}

// waitBelow waits until fewer than n deliveries are in hand.
func (d *deliverer) waitBelow(ctx context.Context, n int) error {
	for {
		d.mu.Lock()
		inflight, progress := d.inflight, d.progress
		d.mu.Unlock()
		if inflight < n {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// maybeExtend keeps the deliveries in hand invisible to other replicas:
// every third of the visibility it extends them all.
func (d *deliverer) maybeExtend(ctx context.Context) {
	now := d.s.clock.Now()
	d.mu.Lock()
	if now.Sub(d.lastExtend) < d.s.cfg.Visibility/3 || len(d.holding) == 0 {
		d.mu.Unlock()
		return
	}
	d.lastExtend = now
	ds := make([]Delivery, 0, len(d.holding))
	for _, del := range d.holding {
		ds = append(ds, del)
	}
	d.mu.Unlock()
	if err := d.s.store.ExtendDeliveries(ctx, ds, now.Add(d.s.cfg.Visibility)); err != nil && ctx.Err() == nil {
		d.s.log.WarnContext(ctx, "reminder deliveries not extended", "n", len(ds), "err", err)
	}
}

// deliver posts one delivery: wait for the lane's turn, check it is still
// ours, post, acknowledge. Rate limits and outages are retried after the
// wait they call for; a permanent refusal drops the message.
func (d *deliverer) deliver(ctx context.Context, l *lane, del Delivery) {
	s := d.s
	log := s.log.With("delivery", del.ID, "ref", Ref(del.Secret), "slot", del.Slot, "dest", del.Dest, "channel", l.channel)
	for {
		if err := d.pace(ctx, l); err != nil {
			d.release(ctx, del)
			return
		}
		now := s.clock.Now()
		hold, err := s.store.HoldDelivery(ctx, del, now.Add(s.cfg.Visibility))
		if err != nil {
			if ctx.Err() != nil {
				return // the delivery stays held until its visibility ends
			}
			log.WarnContext(ctx, "reminder delivery: store unavailable", "err", err)
			d.backOff(l, now)
			continue
		}
		switch hold {
		case Lost:
			log.InfoContext(ctx, "reminder delivery taken over by another holder; leaving it")
			return
		case Stale:
			log.InfoContext(ctx, "reminder dropped: the secret is no longer tracked")
			d.ack(ctx, del)
			return
		}
		err = d.send(ctx, l.to, reminderMessage(del.Secret, del.Slot, now, s.cfg.Location))
		if err == nil {
			l.backoff = 0
			d.ack(ctx, del)
			s.obs.Sent()
			return
		}
		if ctx.Err() != nil {
			d.release(ctx, del)
			return
		}
		s.obs.Failed()
		if wait, ok := appreg.RetryAfter(err); ok {
			log.WarnContext(ctx, "reminder delivery rate-limited", "retry_after", wait, "err", err)
			l.pausedUntil = s.clock.Now().Add(wait)
			continue
		}
		if appreg.ErrorKind(err) == appreg.KindUnavailable {
			log.WarnContext(ctx, "reminder delivery: chat unavailable; will retry", "err", err)
			d.backOff(l, s.clock.Now())
			continue
		}
		log.ErrorContext(ctx, "reminder message dropped: the chat refused it", "kind", appreg.ErrorKind(err), "err", err)
		d.ack(ctx, del)
		return
	}
}

// backOff pauses the lane, doubling the pause each time up to MaxBackoff.
func (d *deliverer) backOff(l *lane, now time.Time) {
	l.backoff = min(max(2*l.backoff, time.Second), d.s.cfg.MaxBackoff)
	l.pausedUntil = now.Add(l.backoff)
}

// pace waits until the lane may post: after any pause, and when the token
// bucket holds a token, which it takes.
func (d *deliverer) pace(ctx context.Context, l *lane) error {
	rate, burst := d.s.cfg.ChannelRate, float64(d.s.cfg.ChannelBurst)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := d.s.clock.Now()
		if now.Before(l.pausedUntil) {
			if err := d.s.clock.Sleep(ctx, l.pausedUntil.Sub(now)); err != nil {
				return err
			}
			continue
		}
		if !l.last.IsZero() {
			l.tokens = min(burst, l.tokens+now.Sub(l.last).Seconds()*rate)
		}
		l.last = now
		if l.tokens >= 1 {
			l.tokens--
			return nil
		}
		wait := time.Duration((1 - l.tokens) / rate * float64(time.Second))
		if err := d.s.clock.Sleep(ctx, max(wait, time.Millisecond)); err != nil {
			return err
		}
	}
}

// ack deletes a delivery from the queue, even when ctx has just ended.
func (d *deliverer) ack(ctx context.Context, del Delivery) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	ours, err := d.s.store.AckDelivery(actx, del)
	switch {
	case err != nil:
		d.s.log.ErrorContext(ctx, "reminder delivery not acknowledged; it may be posted again", "delivery", del.ID, "err", err)
	case !ours:
		d.s.log.WarnContext(ctx, "reminder delivery acknowledged after another holder took it", "delivery", del.ID)
	}
}

// release makes a delivery visible again at once, for any replica.
func (d *deliverer) release(ctx context.Context, del Delivery) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	if err := d.s.store.ReleaseDelivery(rctx, del, d.s.clock.Now()); err != nil {
		d.s.log.WarnContext(ctx, "reminder delivery not released; it will be retried after its visibility", "delivery", del.ID, "err", err)
	}
}
