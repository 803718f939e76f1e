package reminders_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/handlers/slackbot"
	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/redisstore"
	"github.com/appreg-bot/appreg-bot/internal/reminders"
	"github.com/appreg-bot/appreg-bot/internal/slackfake"
)

// The secret of most tests expires on Sunday 31 March 2030 at 15:00 UTC;
// reminders are due at 09:00 UTC on 1, 17, 24, 28, 30 and 31 March.
var expiry = time.Date(2030, 3, 31, 15, 0, 0, 0, time.UTC)

func at(month time.Month, day, hour int) time.Time {
	return time.Date(2030, month, day, hour, 0, 0, 0, time.UTC)
}

func TestThresholdsFireOnceEach(t *testing.T) {
	e := newEnv(t, at(1, 1, 0))
	r := e.replica("a")
	ctx := context.Background()
	if err := r.Track(ctx, secret(1, expiry, "C1", "U1")); err != nil {
		t.Fatal(err)
	}
	// Scan every six hours until after expiry: each reminder is posted at
	// the first scan after it is due, once, in the thread and to the
	// engineer.
	for now := e.clock.Now(); now.Before(at(4, 10, 0)); now = now.Add(6 * time.Hour) {
		e.clock.Set(now)
		r.scanAndDeliver(t, e.clock)
	}
	posts := e.posts.all()
	want := []struct {
		at   time.Time
		left string
	}{
		{at(3, 1, 12), "30"}, {at(3, 17, 12), "14"}, {at(3, 24, 12), "7"},
		{at(3, 28, 12), "3"}, {at(3, 30, 12), "1"}, {at(3, 31, 12), "0 (expires today)"},
	}
	if len(posts) != 2*len(want) {
		for _, p := range posts {
			t.Logf("%s %s %s", p.At, p.To.Channel, field(p.Message, "Days left"))
		}
		t.Fatalf("%d posts, want %d", len(posts), 2*len(want))
	}
	for i, w := range want {
		for j, to := range []string{"C1", "U1"} {
			p := posts[2*i+j]
			if p.To.Channel != to && posts[2*i+1-j].To.Channel == to {
				p = posts[2*i+1-j] // the two messages of a reminder may go in either order
			}
			if p.To.Channel != to || !p.At.Equal(w.at) || field(p.Message, "Days left") != w.left {
				t.Errorf("reminder %d to %s: got %s at %s, %q days left; want %s, %q", i, to, p.To.Channel, p.At, field(p.Message, "Days left"), w.at, w.left)
			}
		}
	}
	if last := posts[len(posts)-1].Message.Text.String(); !strings.Contains(last, "Final alert") || !strings.Contains(last, "may already be failing") {
		t.Errorf("the 0-day reminder is not the final alert: %s", last)
	}
	for _, p := range posts {
		if p.To.Channel == "C1" && p.To.Thread != "1700000000.000100" {
			t.Errorf("thread reminder posted to %+v, want the creation thread", p.To)
		}
	}
	if r.obs.due != 6 || r.obs.sent != 12 || r.obs.failed != 0 {
		t.Errorf("observer: due %d sent %d failed %d, want 6 12 0", r.obs.due, r.obs.sent, r.obs.failed)
	}
}

func TestDowntimeSendsOnlyTheMostUrgentMissedReminder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		backAt   time.Time // the bot was down from 1 January until then
		wantLeft []string  // days left of the reminders posted from then on
		final    bool      // the first one is the final alert of an expired secret
	}{
		{"down over 30 and 14 days", at(3, 17, 10), []string{"14", "7", "3", "1", "0 (expires today)"}, false},
		{"down until 2 days before", at(3, 29, 10), []string{"2", "1", "0 (expires today)"}, false},
		{"down until after expiry", at(4, 5, 10), []string{"expired"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, at(1, 1, 0))
			e.cfg.Channels = map[string]string{"slack": "CREM"} // one message per reminder, in the reminders channel
			r := e.replica("a")
			ctx := context.Background()
			s := secret(1, expiry, "C1", "")
			if err := r.Track(ctx, s); err != nil {
				t.Fatal(err)
			}
			e.clock.Set(tc.backAt)
			if n := r.scanAndDeliver(t, e.clock); n != 1 {
				t.Fatalf("first scan after the downtime claimed %d reminders, want 1", n)
			}
			for now := tc.backAt.Add(time.Hour); now.Before(at(4, 10, 0)); now = now.Add(6 * time.Hour) {
				e.clock.Set(now)
				r.scanAndDeliver(t, e.clock)
			}
			posts := e.posts.all()
			var got []string
			for _, p := range posts {
				got = append(got, field(p.Message, "Days left"))
				if p.To.Channel != "CREM" || p.To.Thread != "" {
					t.Errorf("posted to %+v, want the reminders channel", p.To)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.wantLeft, ",") {
				t.Fatalf("days left of the posts = %v, want %v", got, tc.wantLeft)
			}
			if first := posts[0].Message.Text.String(); tc.final != strings.Contains(first, "expired on") {
				t.Errorf("first post: %s", first)
			}
		})
	}
}

func TestTrackSkipsPastThresholdsButTheMostUrgent(t *testing.T) {
	e := newEnv(t, at(3, 29, 10)) // tracked 2 days and 5 hours before expiry
	r := e.replica("a")
	ctx := context.Background()
	if err := r.Track(ctx, secret(1, expiry, "C1", "U1")); err != nil {
		t.Fatal(err)
	}
	up, err := r.Upcoming(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range up {
		got = append(got, fmt.Sprintf("%s@%s", u.Slot, u.Due.Format("01-02T15")))
	}
	if want := "t3@03-28T09,t1@03-30T09,t0@03-31T09"; strings.Join(got, ",") != want {
		t.Fatalf("upcoming = %v, want %s", got, want)
	}
	if up[0].Secret.Registration != "TeamsVoice1" {
		t.Errorf("upcoming secret = %+v", up[0].Secret)
	}
}

func TestTrackAgainReplacesTheSchedule(t *testing.T) {
	e := newEnv(t, at(3, 1, 10))
	r := e.replica("a")
	ctx := context.Background()
	s := secret(1, expiry, "C1", "")
	if err := r.Track(ctx, s); err != nil {
		t.Fatal(err)
	}
	r.scanAndDeliver(t, e.clock) // the 30-day reminder
	// The registration is saved again: same expiry, nothing is sent twice.
	e.clock.Set(at(3, 2, 10))
	if err := r.Track(ctx, s); err != nil {
		t.Fatal(err)
	}
	if n := r.scanAndDeliver(t, e.clock); n != 0 {
		t.Fatalf("re-tracking with the same expiry sent %d reminders again", n)
	}
	// A new expiry replaces every pending reminder.
	s.Expires = time.Date(2030, 9, 30, 15, 0, 0, 0, time.UTC)
	if err := r.Track(ctx, s); err != nil {
		t.Fatal(err)
	}
	up, err := r.Upcoming(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(up) != 6 || !up[0].Due.Equal(time.Date(2030, 8, 31, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("upcoming after the new expiry = %+v", up)
	}
	if got := len(e.posts.all()); got != 1 {
		t.Errorf("%d posts, want 1", got)
	}
}

func TestReplicasNeverDoubleSend(t *testing.T) {
	const secrets = 200
	e := newEnv(t, at(3, 29, 10))
	replicas := []*replica{e.replica("a"), e.replica("b"), e.replica("c")}
	ctx := context.Background()
	for i := range secrets {
		if err := replicas[i%3].Track(ctx, secret(i, expiry, fmt.Sprintf("C%d", i%10), fmt.Sprintf("U%d", i%7))); err != nil {
			t.Fatal(err)
		}
	}
	// Every replica scans and delivers at once, twice (no lease: the claim
	// alone must keep each reminder to one replica).
	var wg sync.WaitGroup
	claimed := make([]int, len(replicas))
	for i, r := range replicas {
		wg.Go(func() {
			for range 2 {
				n, err := r.Scan(ctx, e.clock.Now())
				if err != nil {
					t.Error(err)
				}
				claimed[i] += n
				if _, err := r.Deliver(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if total := claimed[0] + claimed[1] + claimed[2]; total != secrets {
		t.Errorf("claimed %v = %d in all, want %d", claimed, total, secrets)
	}
	seen := map[string]int{}
	for _, p := range e.posts.all() {
		seen[postKey(p)]++
	}
	if len(seen) != 2*secrets {
		t.Errorf("%d distinct messages, want %d", len(seen), 2*secrets)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s posted %d times", k, n)
		}
	}
}

func TestRunOneReplicaScansUnderTheLease(t *testing.T) {
	const secrets = 20
	tr := newTestRedis(t)
	posts := newPostLog()
	var all []*reminders.Scheduler
	var chats []*recChat
	for _, name := range []string{"a", "b"} {
		chat := &recChat{name: name, clock: reminders.SystemClock{}, log: posts}
		s, err := reminders.New(reminders.Config{Replica: name, ScanInterval: 10 * time.Millisecond, LeaseTTL: time.Second,
			PollInterval: 5 * time.Millisecond, ChannelRate: 1000, ChannelBurst: 10},
			reminders.Deps{Store: redisstore.NewReminderStore(tr.client(t)), Chat: chat, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		all, chats = append(all, s), append(chats, chat)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Go(func() {
			if err := s.Run(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	exp := time.Now().Add(36 * time.Hour) // the 1-day reminder is due already
	for i := range secrets {
		if err := all[i%2].Track(ctx, secret(i, exp, "C1", "U1")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(posts.all()) < 2*secrets && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // room for a double send to show
	cancel()
	wg.Wait()
	got := posts.all()
	if len(got) != 2*secrets {
		t.Fatalf("%d posts, want %d", len(got), 2*secrets)
	}
	by := map[string]int{}
	seen := map[string]bool{}
	for _, p := range got {
		by[p.By]++
		if seen[postKey(p)] {
			t.Errorf("%s posted twice", postKey(p))
		}
		seen[postKey(p)] = true
	}
	if len(by) != 1 {
		t.Errorf("posts by replica = %v, want all by the lease holder", by)
	}
}

// deadStore is the store as seen by a replica that dies: it never gets to
// release the deliveries it holds.
type deadStore struct{ reminders.Store }

func (deadStore) ReleaseDelivery(context.Context, reminders.Delivery, time.Time) error { return nil }

func TestReplicaKilledMidBatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		postsA int // messages replica a posts before it dies
	}{
		{"after the claim, before any post", 0},
		{"after some posts", 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const secrets = 10
			e := newEnv(t, at(3, 29, 10))
			e.cfg.LeaseTTL = 300 * time.Millisecond // a real Redis must see it expire
			ctx := context.Background()
			b := e.replica("b")

			aCtx, kill := context.WithCancel(ctx)
			defer kill()
			aStore := redisstore.NewReminderStore(e.redis.client(t))
			posted := 0
			var mu sync.Mutex
			aChat := &recChat{name: "a", clock: e.clock, log: e.posts, fail: func(appreg.Place, int) error {
				mu.Lock()
				defer mu.Unlock()
				if posted == tc.postsA {
					kill()
					return appreg.Wrap(appreg.KindUnavailable, aCtx.Err(), "killed")
				}
				posted++
				return nil
			}}
			cfg := e.cfg
			cfg.Replica = "a"
			a, err := reminders.New(cfg, reminders.Deps{Store: deadStore{aStore}, Chat: aChat, Clock: e.clock, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			for i := range secrets {
				if err := a.Track(ctx, secret(i, expiry, "C1", fmt.Sprintf("U%d", i))); err != nil {
					t.Fatal(err)
				}
			}
			ttl := e.cfg.LeaseTTL
			if ok, err := aStore.AcquireLease(ctx, "a", ttl); !ok || err != nil {
				t.Fatalf("a: lease %v %v", ok, err)
			}
			if n, err := a.Scan(ctx, e.clock.Now()); n != secrets || err != nil {
				t.Fatalf("a claimed %d, %v", n, err)
			}
			if tc.postsA == 0 {
				// a takes the whole batch, then dies before posting.
				if ds, err := aStore.TakeDeliveries(ctx, e.clock.Now(), e.cfg.Visibility, 100, "a"); len(ds) != 2*secrets || err != nil {
					t.Fatalf("a took %d deliveries, %v", len(ds), err)
				}
			} else {
				_, _ = a.Deliver(aCtx) // dies after postsA messages
			}
			if got := len(e.posts.all()); got != tc.postsA {
				t.Fatalf("a posted %d before dying, want %d", got, tc.postsA)
			}

			// b stands by while a's lease lasts, and finds a's deliveries
			// invisible until their visibility ends.
			if ok, _ := b.store.AcquireLease(ctx, "b", ttl); ok {
				t.Fatal("b took the lease while a held it")
			}
			e.redis.expireLease(ttl)
			if ok, err := b.store.AcquireLease(ctx, "b", ttl); !ok || err != nil {
				t.Fatalf("b: lease after a's expired: %v %v", ok, err)
			}
			if n, _ := b.Deliver(ctx); n != 0 {
				t.Fatalf("b delivered %d before a's deliveries became visible", n)
			}
			e.clock.Advance(e.cfg.Visibility + time.Second)
			if _, err := b.Scan(ctx, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Deliver(ctx); err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, p := range e.posts.all() {
				seen[postKey(p)]++
			}
			if len(seen) != 2*secrets {
				t.Errorf("%d distinct messages, want %d", len(seen), 2*secrets)
			}
			for k, n := range seen {
				if n != 1 {
					t.Errorf("%s posted %d times", k, n)
				}
			}
			if b.obs.sent != 2*secrets-tc.postsA {
				t.Errorf("b sent %d, want %d", b.obs.sent, 2*secrets-tc.postsA)
			}
		})
	}
}

func TestSnooze(t *testing.T) {
	e := newEnv(t, at(3, 28, 9))
	r := e.replica("a")
	ctx := context.Background()
	s := secret(1, expiry, "C1", "U1")
	if err := r.Track(ctx, s); err != nil {
		t.Fatal(err)
	}
	r.scanAndDeliver(t, e.clock) // the 3-day reminder, at 09:00
	posts := e.posts.public()
	if len(posts) != 2 {
		t.Fatalf("%d posts, want 2", len(posts))
	}
	ref := posts[0].Message.Buttons[1].Value
	click := appreg.Caller{Platform: "slack", User: appreg.User{ID: "U1"}, Channel: "C1"}

	// A double click, an hour later, snoozes once: the next reminder is one
	// day after the one clicked.
	e.clock.Set(at(3, 28, 10))
	var confirmations []string
	for range 2 {
		msg, err := r.Snooze(ctx, ref, click)
		if err != nil {
			t.Fatal(err)
		}
		confirmations = append(confirmations, msg.Text.String())
	}
	up, err := r.Upcoming(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range up {
		got = append(got, fmt.Sprintf("%s@%s", u.Slot, u.Due.Format("01-02T15")))
	}
	if want := "s1@03-29T09,t1@03-30T09,t0@03-31T09"; strings.Join(got, ",") != want {
		t.Fatalf("upcoming after snooze = %v, want %s", got, want)
	}
	if len(confirmations) != 2 || !strings.Contains(confirmations[0], "Snoozed") || !strings.Contains(confirmations[1], "Already snoozed") {
		t.Errorf("confirmations = %q", confirmations)
	}

	// The snoozed reminder comes a day later, once.
	e.clock.Set(at(3, 29, 9))
	if n := r.scanAndDeliver(t, e.clock); n != 1 {
		t.Fatalf("snoozed reminder: %d claimed", n)
	}
	posts = e.posts.public()
	if len(posts) != 4 || !strings.Contains(posts[3].Message.Text.String(), "snoozed reminder") || field(posts[3].Message, "Days left") != "2" {
		t.Fatalf("after the snooze: %d posts, last %q", len(posts), posts[len(posts)-1].Message.Text)
	}
	// Snoozing that one lands on the 1-day reminder: one reminder then.
	if _, err := r.Snooze(ctx, ref, click); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(at(3, 30, 9))
	if n := r.scanAndDeliver(t, e.clock); n != 1 {
		t.Fatalf("1-day reminder: %d claimed", n)
	}
	posts = e.posts.public()
	if last := posts[len(posts)-1].Message; len(posts) != 6 || strings.Contains(last.Text.String(), "snoozed") || field(last, "Days left") != "1" {
		t.Fatalf("after the second snooze: %d posts, last %q", len(posts), last.Text)
	}

	for _, tc := range []struct {
		ref  string
		want appreg.Kind
	}{
		{"not-a-ref", appreg.KindInvalid},
		{"t/a/k/extra", appreg.KindInvalid},
		{"t//k", appreg.KindInvalid},
		{"tenant-9/app-9/key-9", appreg.KindNotFound},
	} {
		if _, err := r.Snooze(ctx, tc.ref, click); appreg.ErrorKind(err) != tc.want {
			t.Errorf("Snooze(%q) = %v, want %s", tc.ref, err, tc.want)
		}
	}
}

func TestUntrackStopsReminders(t *testing.T) {
	e := newEnv(t, at(3, 1, 10))
	r := e.replica("a")
	ctx := context.Background()
	s1, s2 := secret(1, expiry, "C1", "U1"), secret(2, expiry, "C1", "U1")
	for _, s := range []appreg.SecretRef{s1, s2} {
		if err := r.Track(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// s1 is untracked before anything is due.
	if err := r.Untrack(ctx, s1.TenantID, s1.AppID, s1.KeyID); err != nil {
		t.Fatal(err)
	}
	// s2 is untracked after its reminder was claimed, before it is posted.
	if n, err := r.Scan(ctx, e.clock.Now()); n != 1 || err != nil {
		t.Fatalf("scan: %d, %v", n, err)
	}
	if err := r.Untrack(ctx, s2.TenantID, s2.AppID, s2.KeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	for _, day := range []int{17, 24, 28, 30, 31} {
		e.clock.Set(at(3, day, 10))
		r.scanAndDeliver(t, e.clock)
	}
	if posts := e.posts.all(); len(posts) != 0 {
		t.Fatalf("untracked secrets got %d posts: %+v", len(posts), posts[0])
	}
	if up, _ := r.Upcoming(ctx, 10); len(up) != 0 {
		t.Errorf("upcoming after untrack = %+v", up)
	}
	if err := r.Untrack(ctx, s1.TenantID, s1.AppID, s1.KeyID); err != nil {
		t.Errorf("untracking twice: %v", err)
	}
}

func TestRateLimitedChat(t *testing.T) {
	rateLimited := func(wait time.Duration) error {
		return appreg.Wrap(appreg.KindUnavailable, &appreg.Throttled{Wait: wait}, "Slack is rate-limiting the bot.")
	}
	for _, tc := range []struct {
		name     string
		fail     func(n int) error // the answer to the n-th post to the channel
		minSpan  time.Duration     // the delivery takes at least this long
		wantSent int
		failed   int
	}{
		{"429 with Retry-After", func(n int) error {
			if n < 2 {
				return rateLimited(30 * time.Second)
			}
			return nil
		}, 60 * time.Second, 5, 2},
		{"unavailable without Retry-After", func(n int) error {
			if n < 3 {
				return appreg.Errorf(appreg.KindUnavailable, "Slack is down")
			}
			return nil
		}, 7 * time.Second, 5, 3},
		{"a permanent refusal drops only that message", func(n int) error {
			if n == 1 {
				return appreg.Errorf(appreg.KindForbidden, "not in channel")
			}
			return nil
		}, 0, 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, at(3, 29, 10))
			e.cfg.Channels = map[string]string{"slack": "CREM"}
			r := e.replica("a")
			r.chat.fail = func(_ appreg.Place, n int) error { return tc.fail(n) }
			ctx := context.Background()
			for i := range 5 {
				if err := r.Track(ctx, secret(i, expiry, "C1", "")); err != nil {
					t.Fatal(err)
				}
			}
			start := e.clock.Now()
			r.scanAndDeliver(t, e.clock)
			posts := e.posts.all()
			if len(posts) != tc.wantSent || r.obs.sent != tc.wantSent || r.obs.failed != tc.failed {
				t.Fatalf("posted %d, sent %d, failed %d; want %d, %d, %d", len(posts), r.obs.sent, r.obs.failed, tc.wantSent, tc.wantSent, tc.failed)
			}
			if span := posts[0].At.Sub(start); span < tc.minSpan {
				t.Errorf("first post after %s, want at least %s", span, tc.minSpan)
			}
			for i := 1; i < len(posts); i++ {
				if gap := posts[i].At.Sub(posts[i-1].At); gap < time.Second {
					t.Errorf("posts %d and %d to one channel %s apart, want at least 1s", i-1, i, gap)
				}
			}
		})
	}
}

// slackEnv is the scheduler driving the real Slack adapter against the
// Slack fake.
func slackEnv(t *testing.T, e *env, cfg reminders.Config, clock reminders.Clock) (*reminders.Scheduler, *slackfake.Server) {
	t.Helper()
	fake := slackfake.New("xoxb-test")
	t.Cleanup(fake.Close)
	chat := slackbot.NewChat("xoxb-test", fake.URL()+"/", slog.New(slog.DiscardHandler))
	s, err := reminders.New(cfg, reminders.Deps{Store: redisstore.NewReminderStore(e.redis.client(t)), Chat: chat,
		Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s, fake
}

func TestSecretExpiringInTwoDaysThroughSlack(t *testing.T) {
	e := newEnv(t, at(3, 29, 10))
	s, fake := slackEnv(t, e, e.cfg, e.clock)
	ctx := context.Background()
	ref := secret(1, expiry, "C0THREAD", "U0ENGINEER")
	if err := s.Track(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Scan(ctx, e.clock.Now()); n != 1 || err != nil {
		t.Fatalf("scan: %d, %v", n, err)
	}
	if _, err := s.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls("chat.postMessage")
	if len(calls) != 2 {
		t.Fatalf("%d chat.postMessage calls, want 2", len(calls))
	}
	var thread, dm int
	for _, c := range calls {
		switch {
		case c.Param("channel") == "C0THREAD" && c.Param("thread_ts") == "1700000000.000100":
			thread++
		case c.Param("channel") == "U0ENGINEER" && c.Param("thread_ts") == "":
			dm++
		default:
			t.Errorf("post to %s thread %q", c.Param("channel"), c.Param("thread_ts"))
		}
		if !strings.Contains(c.Text, "in 2 days") || !strings.Contains(c.Text, "TeamsVoice1") {
			t.Errorf("text = %q", c.Text)
		}
		var buttons []string
		for _, b := range c.Blocks {
			for _, el := range b.Elements {
				if el.Type == "button" {
					buttons = append(buttons, el.ActionID+"="+el.Value+"|"+el.Text.Text)
				}
			}
		}
		want := "appreg.rotate=tenant-0001/app-0001/key-0001|Rotate secret,appreg.snooze=tenant-0001/app-0001/key-0001|Snooze 1 day"
		if strings.Join(buttons, ",") != want {
			t.Errorf("buttons = %v, want %s", buttons, want)
		}
		text := ""
		for _, b := range c.Blocks {
			for _, f := range b.Fields {
				text += f.Text + "\n"
			}
		}
		for _, w := range []string{"contoso.onmicrosoft.com", "TeamsVoice1", "sbc1", "Sun 31 Mar 2030 15:00 UTC", "Days left\n2"} {
			if !strings.Contains(text, w) {
				t.Errorf("fields lack %q:\n%s", w, text)
			}
		}
	}
	if thread != 1 || dm != 1 {
		t.Errorf("thread %d, dm %d; want 1 and 1", thread, dm)
	}
	if id, err := reminders.ParseRef("tenant-0001/app-0001/key-0001"); err != nil || id != reminders.IDOf(ref) {
		t.Errorf("ParseRef = %+v, %v", id, err)
	}
}

func TestSlackRateLimitDeliveredLater(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out Slack's Retry-After")
	}
	e := newEnv(t, time.Now())
	cfg := e.cfg
	cfg.Channels = map[string]string{"slack": "CREM"}
	cfg.ChannelRate = 50 // faster than the fake allows: the chat meets 429s
	s, fake := slackEnv(t, e, cfg, reminders.SystemClock{})
	fake.LimitPerChannel("chat.postMessage", 2, 1)
	ctx := context.Background()
	const secrets = 4
	for i := range secrets {
		if err := s.Track(ctx, secret(i, time.Now().Add(36*time.Hour), "C1", "")); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Scan(ctx, time.Now()); n != secrets || err != nil {
		t.Fatalf("scan: %d, %v", n, err)
	}
	if _, err := s.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	var ok, limited int
	seen := map[string]bool{}
	for _, c := range fake.Calls("chat.postMessage") {
		switch c.Error {
		case "":
			ok++
			seen[c.Blocks[len(c.Blocks)-1].Elements[0].Value] = true
		case "ratelimited":
			limited++
		}
	}
	if ok != secrets || len(seen) != secrets || limited == 0 {
		t.Fatalf("posted %d (%d distinct), rate-limited %d; want %d posted and some rate-limited", ok, len(seen), limited, secrets)
	}
}

func TestConfigAndRefs(t *testing.T) {
	store := redisstore.NewReminderStore(newTestRedis(t).client(t))
	chat := &recChat{clock: reminders.SystemClock{}, log: newPostLog()}
	for _, tc := range []struct {
		name string
		cfg  reminders.Config
		ok   bool
	}{
		{"defaults", reminders.Config{}, true},
		{"bad time of day", reminders.Config{TimeOfDay: "9am"}, false},
		{"negative threshold", reminders.Config{Thresholds: []int{7, -1}}, false},
		{"scan slower than the lease", reminders.Config{LeaseTTL: time.Second, ScanInterval: time.Second}, false},
	} {
		_, err := reminders.New(tc.cfg, reminders.Deps{Store: store, Chat: chat})
		if (err == nil) != tc.ok || (err != nil && appreg.ErrorKind(err) != appreg.KindInvalid) {
			t.Errorf("%s: New = %v", tc.name, err)
		}
	}
	if _, err := reminders.New(reminders.Config{}, reminders.Deps{Chat: chat}); err == nil {
		t.Error("New without a store succeeded")
	}
	for _, tc := range []struct {
		ref string
		ok  bool
	}{
		{"t/a/k", true}, {"t/a", false}, {"t/a/k/x", false}, {"/a/k", false}, {"t/a#b/k", false}, {"", false},
	} {
		id, err := reminders.ParseRef(tc.ref)
		if (err == nil) != tc.ok || (tc.ok && id.String() != tc.ref) {
			t.Errorf("ParseRef(%q) = %+v, %v", tc.ref, id, err)
		}
	}
	if d, err := reminders.ParseTimeOfDay("07:30"); err != nil || d != 7*time.Hour+30*time.Minute {
		t.Errorf("ParseTimeOfDay = %s, %v", d, err)
	}
	err := fmt.Errorf("wrapped: %w", appreg.Wrap(appreg.KindUnavailable, &appreg.Throttled{Wait: 3 * time.Second}, "x"))
	if wait, ok := appreg.RetryAfter(err); !ok || wait != 3*time.Second {
		t.Errorf("RetryAfter not found in %v", err)
	}
}
