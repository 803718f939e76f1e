package redisstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/redisstore/redistest"
	"github.com/appreg-bot/appreg-bot/internal/reminders"
)

// newReminderTestStore returns a ReminderStore on the real Redis the
// environment names (redistest; flushed first), otherwise on miniredis, and
// a function that lets Redis's own clock (lease TTLs) move on by d. Its
// commands go through the key checks.
func newReminderTestStore(t testing.TB) (*ReminderStore, redis.UniversalClient, func(d time.Duration)) {
	t.Helper()
	if rdb, ok := redistest.Open(t, 32); ok {
		checkKeys(t, rdb)
		return NewReminderStore(rdb), rdb, func(d time.Duration) { time.Sleep(d) }
	}
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	checkKeys(t, rdb)
	return NewReminderStore(rdb), rdb, mr.FastForward
}

var remExpiry = time.Date(2030, 3, 31, 15, 0, 0, 0, time.UTC)

func remSecret(n int) appreg.SecretRef {
	return appreg.SecretRef{Tenant: "contoso.onmicrosoft.com", TenantID: fmt.Sprintf("t%07d", n), Registration: "TeamsVoice",
		AppID: fmt.Sprintf("a%07d", n), Service: "sbc1", KeyID: fmt.Sprintf("k%07d", n), Expires: remExpiry,
		Thread: appreg.Place{Channel: "C1", Thread: "1.2"}, Engineer: "U1"}
}

func remDay(day, hour int) time.Time { return time.Date(2030, 3, day, hour, 0, 0, 0, time.UTC) }

// remSchedule is the default schedule of s (30, 14, 7, 3, 1, 0 days at
// 09:00 UTC) as of now.
func remSchedule(s appreg.SecretRef, now time.Time) reminders.Schedule {
	var due []reminders.Due
	for _, d := range []int{30, 14, 7, 3, 1, 0} {
		day := s.Expires.AddDate(0, 0, -d)
		due = append(due, reminders.Due{Slot: reminders.ThresholdSlot(d), At: time.Date(day.Year(), day.Month(), day.Day(), 9, 0, 0, 0, time.UTC)})
	}
	return reminders.Schedule{Secret: s, Reminders: due, Now: now}
}

func TestReminderLease(t *testing.T) {
	ctx := context.Background()
	s, _, pass := newReminderTestStore(t)
	const ttl = 200 * time.Millisecond
	steps := []struct {
		name  string
		do    func() (bool, error)
		wantT bool
	}{
		{"a takes the free lease", func() (bool, error) { return s.AcquireLease(ctx, "a", ttl) }, true},
		{"b is refused", func() (bool, error) { return s.AcquireLease(ctx, "b", ttl) }, false},
		{"a renews", func() (bool, error) { return s.AcquireLease(ctx, "a", ttl) }, true},
		{"b's release leaves a's lease", func() (bool, error) { return true, s.ReleaseLease(ctx, "b") }, true},
		{"b is still refused", func() (bool, error) { return s.AcquireLease(ctx, "b", ttl) }, false},
		{"after the TTL b takes it", func() (bool, error) { pass(ttl + 50*time.Millisecond); return s.AcquireLease(ctx, "b", ttl) }, true},
		{"a is refused", func() (bool, error) { return s.AcquireLease(ctx, "a", ttl) }, false},
		{"b releases", func() (bool, error) { return true, s.ReleaseLease(ctx, "b") }, true},
		{"a takes it at once", func() (bool, error) { return s.AcquireLease(ctx, "a", ttl) }, true},
	}
	for _, st := range steps {
		got, err := st.do()
		if err != nil || got != st.wantT {
			t.Fatalf("%s: %v, %v; want %v", st.name, got, err, st.wantT)
		}
	}
}

func TestReminderClaimTakesTheMostUrgentOnce(t *testing.T) {
	ctx := context.Background()
	s, rdb, _ := newReminderTestStore(t)
	sec := remSecret(1)
	if n, err := s.Schedule(ctx, remSchedule(sec, remDay(1, 0))); n != 6 || err != nil {
		t.Fatalf("schedule: %d, %v", n, err)
	}
	// Down from 1 March until the 29th: 30, 14, 7 and 3 days are all due.
	c, err := s.ClaimDue(ctx, remDay(29, 10), 2, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Examined != 2 || c.Claimed != 1 || c.Dropped != 3 {
		t.Fatalf("claim = %+v, want 2 examined, 1 claimed, 3 dropped", c)
	}
	if c, _ := s.ClaimDue(ctx, remDay(29, 10), 2, false); c != (reminders.Claim{}) {
		t.Fatalf("second claim = %+v, want nothing", c)
	}
	ds, err := s.TakeDeliveries(ctx, remDay(29, 10), time.Minute, 10, "r1")
	if err != nil || len(ds) != 2 {
		t.Fatalf("deliveries = %+v, %v", ds, err)
	}
	for _, d := range ds {
		if d.Slot != "t3" || d.Secret != sec || d.Attempt != 1 || !d.ClaimedAt.Equal(remDay(29, 10)) {
			t.Errorf("delivery = %+v", d)
		}
	}
	if ds[0].Dest == ds[1].Dest {
		t.Errorf("both deliveries go to %s", ds[0].Dest)
	}
	if n, _ := rdb.ZCard(ctx, remDueKey).Result(); n != 2 {
		t.Errorf("%d reminders left in the schedule, want 2 (1 and 0 days)", n)
	}
	// The claim is recorded: scheduling again (same expiry) does not bring
	// the 3-day reminder back.
	if n, _ := s.Schedule(ctx, remSchedule(sec, remDay(29, 11))); n != 2 {
		t.Errorf("re-schedule: %d reminders, want 2", n)
	}
}

func TestReminderDeliveryTokens(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newReminderTestStore(t)
	sec := remSecret(1)
	sec.Engineer = ""
	now := remDay(29, 10)
	if _, err := s.Schedule(ctx, remSchedule(sec, now)); err != nil {
		t.Fatal(err)
	}
	if c, err := s.ClaimDue(ctx, now, 10, false); c.Claimed != 1 || err != nil {
		t.Fatalf("claim = %+v, %v", c, err)
	}
	const vis = time.Minute
	first, _ := s.TakeDeliveries(ctx, now, vis, 10, "r1")
	if len(first) != 1 || first[0].Dest != reminders.DestThread {
		t.Fatalf("take = %+v", first)
	}
	if again, _ := s.TakeDeliveries(ctx, now.Add(vis/2), vis, 10, "r2"); len(again) != 0 {
		t.Fatalf("taken while invisible: %+v", again)
	}
	// r1 dies; after the visibility r2 takes it with a new token.
	second, _ := s.TakeDeliveries(ctx, now.Add(vis+time.Second), vis, 10, "r2")
	if len(second) != 1 || second[0].Token == first[0].Token || second[0].Attempt != 2 {
		t.Fatalf("retake = %+v", second)
	}
	if h, _ := s.HoldDelivery(ctx, first[0], now.Add(2*vis)); h != reminders.Lost {
		t.Errorf("old token holds: %v", h)
	}
	if h, _ := s.HoldDelivery(ctx, second[0], now.Add(3*vis)); h != reminders.Held {
		t.Errorf("new token: %v", h)
	}
	if err := s.ReleaseDelivery(ctx, first[0], now); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.TakeDeliveries(ctx, now.Add(2*vis), vis, 10, "r3"); len(got) != 0 {
		t.Errorf("the old token released it: %+v", got)
	}
	if err := s.ExtendDeliveries(ctx, second, now.Add(10*vis)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.TakeDeliveries(ctx, now.Add(5*vis), vis, 10, "r3"); len(got) != 0 {
		t.Errorf("taken while extended: %+v", got)
	}
	if ok, err := s.AckDelivery(ctx, second[0]); !ok || err != nil {
		t.Errorf("ack = %v, %v", ok, err)
	}
	if got, _ := s.TakeDeliveries(ctx, now.Add(100*vis), vis, 10, "r3"); len(got) != 0 {
		t.Errorf("taken after the ack: %+v", got)
	}

	// A delivery of a secret untracked after the claim is stale.
	now = remDay(30, 10)
	if c, _ := s.ClaimDue(ctx, now, 10, false); c.Claimed != 1 {
		t.Fatalf("claim of the 1-day reminder = %+v", c)
	}
	ds, _ := s.TakeDeliveries(ctx, now, vis, 10, "r1")
	if was, err := s.Unschedule(ctx, reminders.IDOf(sec)); !was || err != nil {
		t.Fatalf("unschedule = %v, %v", was, err)
	}
	if h, _ := s.HoldDelivery(ctx, ds[0], now.Add(vis)); h != reminders.Stale {
		t.Errorf("hold after untrack = %v, want stale", h)
	}
}

func TestReminderSnoozeIsOncePerReminder(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newReminderTestStore(t)
	sec := remSecret(1)
	id := reminders.IDOf(sec)
	if _, err := s.Snooze(ctx, id, remDay(1, 0), 24*time.Hour); appreg.ErrorKind(err) != appreg.KindNotFound {
		t.Fatalf("snooze of an untracked secret: %v", err)
	}
	if _, err := s.Schedule(ctx, remSchedule(sec, remDay(1, 0))); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.ClaimDue(ctx, remDay(1, 9), 10, false); c.Claimed != 1 {
		t.Fatalf("claim = %+v", c)
	}
	first, err := s.Snooze(ctx, id, remDay(1, 12), 24*time.Hour)
	if err != nil || first.Already || !first.Next.Equal(remDay(2, 9)) || first.Secret != sec {
		t.Fatalf("first snooze = %+v, %v", first, err)
	}
	second, err := s.Snooze(ctx, id, remDay(1, 12).Add(time.Second), 24*time.Hour)
	if err != nil || !second.Already || !second.Next.Equal(first.Next) {
		t.Fatalf("second snooze = %+v, %v", second, err)
	}
	up, _ := s.Upcoming(ctx, 2)
	if len(up) != 2 || up[0].Slot != "s1" || !up[0].Due.Equal(remDay(2, 9)) || up[1].Slot != "t14" {
		t.Fatalf("upcoming = %+v", up)
	}
}

// BenchmarkReminderDueScan measures Scan's store work, one ClaimDue of the
// reminders due now (dueEach secrets, each enqueuing two deliveries;
// µs/scan), and one that finds nothing due (µs/empty-scan), with 10,000
// and with 1,000,000 secrets tracked (6,000,000 scheduled reminders at
// most). The cost should follow log N: the goal is the 1M scan within 2x
// the 10k scan. It needs a real Redis, and measures each that the
// environment names (redistest.AllFromEnv) in the same iterations, taking
// turns at going first: with REDIS_TEST_URL (one server) and REDIS_TEST_ADDRS (a
// Cluster) both set, the metrics are per topology (µs/scan-server,
// µs/scan-cluster, …) and x-cluster/server is the ratio of the scans.
// Loading 1M secrets (pipelined) takes a minute and about 2.5 GB of memory
// on each Redis (on a Cluster, on the node that holds the {rem} slot); each
// is flushed after.
//
//	eval "$(scripts/redis-topology.sh start cluster)"
//	REDIS_TEST_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench ReminderDueScan -benchtime 200x -timeout 30m ./internal/redisstore/
func BenchmarkReminderDueScan(b *testing.B) {
	targets := redistest.AllFromEnv()
	if len(targets) == 0 {
		b.Skip("neither REDIS_TEST_URL nor REDIS_TEST_ADDRS is set: the scan benchmark needs a real Redis")
	}
	const dueEach = 100
	ctx := context.Background()
	now := remDay(1, 0) // every loaded reminder is due later
	type rig struct {
		kind        string
		rdb         redis.UniversalClient
		s           *ReminderStore
		scan, empty time.Duration
	}
	var rigs []*rig
	for _, target := range targets {
		rdb := target.Client(b, 32)
		if err := redistest.Flush(ctx, rdb); err != nil {
			b.Fatal(err)
		}
		defer func() {
			if err := redistest.Flush(ctx, rdb); err != nil {
				b.Error(err)
			}
		}()
		rigs = append(rigs, &rig{kind: target.Kind(), rdb: rdb, s: NewReminderStore(rdb)})
	}
	loaded, dueSeq := 0, 10_000_000
	for _, tracked := range []int{10_000, 1_000_000} {
		// Load in turns, so that every Redis has had the same time to
		// settle (incremental rehashing) when the timing starts.
		const turn = 50_000
		for lo := loaded; lo < tracked; lo += turn {
			for _, r := range rigs {
				remLoad(b, r.rdb, lo, min(lo+turn, tracked), now)
			}
		}
		loaded = tracked
		b.Run(fmt.Sprintf("tracked=%d", tracked), func(b *testing.B) {
			for _, r := range rigs {
				r.scan, r.empty = 0, 0
			}
			for i := range b.N {
				// Take turns at going first.
				order := slices.Clone(rigs)
				if i%2 == 1 {
					slices.Reverse(order)
				}
				for _, r := range order {
					b.StopTimer()
					// dueEach secrets whose 3-day reminder is due now.
					pipe := r.rdb.Pipeline()
					for range dueEach {
						dueSeq++
						sec := remSecret(dueSeq)
						sec.Expires = now.Add(2 * 24 * time.Hour)
						args, err := scheduleArgs(remSchedule(sec, now))
						if err != nil {
							b.Fatal(err)
						}
						remScheduleScript.Run(ctx, pipe, []string{remDueKey, remSecretKey(reminders.IDOf(sec))}, args...)
					}
					if _, err := pipe.Exec(ctx); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					start := time.Now()
					c, err := r.s.ClaimDue(ctx, now, dueEach+1, true)
					r.scan += time.Since(start)
					b.StopTimer()
					if err != nil || c.Claimed != dueEach {
						b.Fatalf("%s: claim = %+v, %v; want %d claimed", r.kind, c, err, dueEach)
					}
					// The common case: a scan that finds nothing due.
					start = time.Now()
					c, err = r.s.ClaimDue(ctx, now, dueEach+1, true)
					r.empty += time.Since(start)
					if err != nil || c.Examined != 0 {
						b.Fatalf("%s: empty claim = %+v, %v", r.kind, c, err)
					}
					// Drop the deliveries: this benchmark is about the scan.
					if err := remDrain(ctx, r.rdb); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
			perScan := map[string]float64{}
			for _, r := range rigs {
				perScan[r.kind] = float64(r.scan.Microseconds()) / float64(b.N)
				b.ReportMetric(perScan[r.kind], "µs/scan-"+r.kind)
				b.ReportMetric(float64(r.empty.Microseconds())/float64(b.N), "µs/empty-scan-"+r.kind)
			}
			if s, c := perScan["server"], perScan["cluster"]; s > 0 && c > 0 {
				b.ReportMetric(c/s, "x-cluster/server")
			}
			scheduled, _ := rigs[0].rdb.ZCard(ctx, remDueKey).Result()
			b.ReportMetric(float64(scheduled), "scheduled")
			b.ReportMetric(dueEach, "due/scan")
		})
	}
}

// remLoad tracks the secrets from (included) to (excluded), pipelined, due
// after now.
func remLoad(b *testing.B, rdb redis.UniversalClient, from, to int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	if err := remScheduleScript.Load(ctx, rdb).Err(); err != nil {
		b.Fatal(err)
	}
	const chunk = 5000
	for lo := from; lo < to; lo += chunk {
		pipe := rdb.Pipeline()
		for i := lo; i < min(lo+chunk, to); i++ {
			sec := remSecret(i)
			// Expiries spread over two years from 40 days on.
			sec.Expires = now.Add(40*24*time.Hour + time.Duration(i%730)*24*time.Hour + time.Duration(i%1440)*time.Minute)
			args, err := scheduleArgs(remSchedule(sec, now))
			if err != nil {
				b.Fatal(err)
			}
			remScheduleScript.EvalSha(ctx, pipe, []string{remDueKey, remSecretKey(reminders.IDOf(sec))}, args...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatalf("load: %v", err)
		}
	}
}

// remDrain deletes every queued delivery.
func remDrain(ctx context.Context, rdb redis.UniversalClient) error {
	ids, err := rdb.ZRange(ctx, remQueueKey, 0, -1).Result()
	if err != nil {
		return err
	}
	pipe := rdb.Pipeline()
	for _, id := range ids {
		pipe.Del(ctx, remDeliveryKey(id))
	}
	pipe.Del(ctx, remQueueKey)
	_, err = pipe.Exec(ctx)
	return err
}

// interleave is a go-redis hook that runs between once, right after the
// first ZRANGEBYSCORE on key: another replica acting between a method's
// read and its script.
type interleave struct {
	key     string
	between func()
	done    bool
}

func (h *interleave) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *interleave) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *interleave) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if args := cmd.Args(); !h.done && cmd.Name() == "zrangebyscore" && len(args) > 1 && args[1] == h.key {
			h.done = true
			h.between()
		}
		return err
	}
}

// TestReminderClaimAndTakeCheckWhatTheyRead: ClaimDue and TakeDeliveries
// read first and act in a script; what another replica claimed or took in
// between is not claimed or taken twice.
func TestReminderClaimAndTakeCheckWhatTheyRead(t *testing.T) {
	ctx := context.Background()
	s, rdb, _ := newReminderTestStore(t)
	now := remDay(29, 10)
	if _, err := s.Schedule(ctx, remSchedule(remSecret(1), remDay(1, 0))); err != nil {
		t.Fatal(err)
	}
	var other reminders.Claim
	claims := &interleave{key: remDueKey, between: func() {
		var err error
		if other, err = s.ClaimDue(ctx, now, 10, false); err != nil {
			t.Error(err)
		}
	}}
	rdb.AddHook(claims)
	c, err := s.ClaimDue(ctx, now, 10, false)
	if err != nil || c.Claimed != 0 || other.Claimed != 1 {
		t.Fatalf("claim = %+v, %v; the other replica's = %+v; want 0 and 1 claimed", c, err, other)
	}
	var taken []reminders.Delivery
	takes := &interleave{key: remQueueKey, between: func() {
		var err error
		if taken, err = s.TakeDeliveries(ctx, now, time.Minute, 10, "r2"); err != nil {
			t.Error(err)
		}
	}}
	rdb.AddHook(takes)
	ds, err := s.TakeDeliveries(ctx, now, time.Minute, 10, "r1")
	if err != nil || len(ds) != 0 || len(taken) != 2 {
		t.Fatalf("take = %+v, %v; the other replica took %d; want 0 and 2", ds, err, len(taken))
	}
	// A delivery whose record went away leaves the queue.
	if err := rdb.Del(ctx, remDeliveryKey(taken[0].ID)).Err(); err != nil {
		t.Fatal(err)
	}
	if ds, _ := s.TakeDeliveries(ctx, now.Add(time.Hour), time.Minute, 10, "r1"); len(ds) != 1 || ds[0].ID != taken[1].ID {
		t.Fatalf("take after the visibility = %+v", ds)
	}
	if n, _ := rdb.ZCard(ctx, remQueueKey).Result(); n != 1 {
		t.Fatalf("%d deliveries queued, want 1", n)
	}
}
