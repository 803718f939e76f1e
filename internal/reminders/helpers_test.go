package reminders_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/redisstore"
	"github.com/appreg-bot/appreg-bot/internal/redisstore/redistest"
	"github.com/appreg-bot/appreg-bot/internal/reminders"
)

// testRedis is a Redis for one test: the real one the environment names
// when it names one (redistest: one server, a Cluster or a Sentinel set;
// flushed first), otherwise miniredis.
type testRedis struct {
	target redistest.Target
	mr     *miniredis.Miniredis
}

func newTestRedis(t testing.TB) *testRedis {
	t.Helper()
	if target, ok := redistest.FromEnv(); ok {
		r := &testRedis{target: target}
		if err := redistest.Flush(context.Background(), r.client(t)); err != nil {
			t.Fatalf("flush test redis (%s): %v", target.Kind(), err)
		}
		return r
	}
	return &testRedis{mr: miniredis.RunT(t)}
}

// client returns a new client: each replica gets its own connections.
func (r *testRedis) client(t testing.TB) redis.UniversalClient {
	t.Helper()
	if r.mr != nil {
		rdb := redis.NewClient(&redis.Options{Addr: r.mr.Addr()})
		t.Cleanup(func() { rdb.Close() })
		return rdb
	}
	return r.target.Client(t, 64)
}

// expireLease makes Redis forget the lease: miniredis moves its TTLs only
// with FastForward, a real Redis needs the time to pass.
func (r *testRedis) expireLease(ttl time.Duration) {
	if r.mr != nil {
		r.mr.FastForward(ttl + time.Millisecond)
		return
	}
	time.Sleep(ttl + 50*time.Millisecond)
}

// fakeClock is a Clock whose Sleep moves the time on at once: lanes that
// wait for their turn or a Retry-After run without waiting, and the test
// sees the time they would have waited.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// posted is one message the recording chat received.
type posted struct {
	To      appreg.Place
	Message appreg.Message
	At      time.Time
	By      string // which chat (replica) posted it
	Private string // the user of a private message
}

// recChat is a recording appreg.Chat. fail, when set, may refuse a post.
type recChat struct {
	name  string
	clock reminders.Clock
	log   *postLog
	fail  func(to appreg.Place, n int) error // n: posts to that channel so far
}

// postLog is shared by the chats of several replicas.
type postLog struct {
	mu     sync.Mutex
	posts  []posted
	counts map[string]int
}

func newPostLog() *postLog { return &postLog{counts: map[string]int{}} }

func (l *postLog) all() []posted {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.posts)
}

func (l *postLog) public() []posted {
	var out []posted
	for _, p := range l.all() {
		if p.Private == "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *recChat) Post(ctx context.Context, to appreg.Place, msg appreg.Message) (appreg.MessageRef, error) {
	if err := ctx.Err(); err != nil {
		return appreg.MessageRef{}, appreg.Wrap(appreg.KindUnavailable, err, "chat unreachable")
	}
	c.log.mu.Lock()
	n := c.log.counts[to.Channel]
	c.log.counts[to.Channel]++
	c.log.mu.Unlock()
	if c.fail != nil {
		if err := c.fail(to, n); err != nil {
			return appreg.MessageRef{}, err
		}
	}
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	c.log.posts = append(c.log.posts, posted{To: to, Message: msg, At: c.clock.Now(), By: c.name})
	return appreg.MessageRef{Platform: to.Platform, Channel: to.Channel, ID: fmt.Sprint(len(c.log.posts))}, nil
}

// Direct records a direct message as a post to the user's id, the way the
// tests name the engineer's direct chat.
func (c *recChat) Direct(ctx context.Context, platform, user string, msg appreg.Message) error {
	_, err := c.Post(ctx, appreg.Place{Platform: platform, Channel: user}, msg)
	return err
}

func (c *recChat) Private(ctx context.Context, to appreg.Place, user string, msg appreg.Message) error {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	c.log.posts = append(c.log.posts, posted{To: to, Message: msg, At: c.clock.Now(), By: c.name, Private: user})
	return nil
}

func (c *recChat) Update(context.Context, appreg.MessageRef, appreg.Message) error { return nil }
func (c *recChat) IsOneOf(context.Context, string, string, []string) (bool, error) {
	return false, nil
}

// countObserver counts the Observer calls.
type countObserver struct {
	mu                        sync.Mutex
	due, sent, failed, panics int
}

func (o *countObserver) Due(n int) { o.mu.Lock(); o.due += n; o.mu.Unlock() }
func (o *countObserver) Sent()     { o.mu.Lock(); o.sent++; o.mu.Unlock() }
func (o *countObserver) Failed()   { o.mu.Lock(); o.failed++; o.mu.Unlock() }
func (o *countObserver) Panic()    { o.mu.Lock(); o.panics++; o.mu.Unlock() }

// replica is one scheduler on the shared Redis, as a bot replica runs it.
type replica struct {
	*reminders.Scheduler
	store *redisstore.ReminderStore
	chat  *recChat
	obs   *countObserver
}

// env is a test world: a Redis, a clock, a shared record of posts.
type env struct {
	t     *testing.T
	redis *testRedis
	clock *fakeClock
	posts *postLog
	cfg   reminders.Config
}

func newEnv(t *testing.T, now time.Time) *env {
	return &env{t: t, redis: newTestRedis(t), clock: newClock(now), posts: newPostLog(),
		cfg: reminders.Config{Location: time.UTC, ChannelRate: 1, Visibility: 5 * time.Minute, LeaseTTL: time.Minute}}
}

func (e *env) replica(name string) *replica {
	e.t.Helper()
	cfg := e.cfg
	cfg.Replica = name
	store := redisstore.NewReminderStore(e.redis.client(e.t))
	chat := &recChat{name: name, clock: e.clock, log: e.posts}
	obs := &countObserver{}
	s, err := reminders.New(cfg, reminders.Deps{Store: store, Chat: chat, Clock: e.clock, Observer: obs,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatal(err)
	}
	return &replica{Scheduler: s, store: store, chat: chat, obs: obs}
}

// scanAndDeliver scans at the clock's time and delivers what was claimed.
func (r *replica) scanAndDeliver(t *testing.T, clock *fakeClock) int {
	t.Helper()
	ctx := context.Background()
	n, err := r.Scan(ctx, clock.Now())
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	if _, err := r.Deliver(ctx); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	return n
}

// secret returns a tracked secret of registration reg, expiring at exp,
// whose thread is in channel and whose engineer is eng.
func secret(n int, exp time.Time, channel, eng string) appreg.SecretRef {
	return appreg.SecretRef{
		Tenant: "contoso.onmicrosoft.com", TenantID: fmt.Sprintf("tenant-%04d", n),
		Registration: fmt.Sprintf("TeamsVoice%d", n), AppID: fmt.Sprintf("app-%04d", n),
		Service: "sbc1", KeyID: fmt.Sprintf("key-%04d", n), Expires: exp,
		Thread: appreg.Place{Platform: "slack", Channel: channel, Thread: "1700000000.000100"}, Engineer: eng,
	}
}

// key of a post: which secret's reminder went where.
func postKey(p posted) string {
	ref := ""
	for _, b := range p.Message.Buttons {
		if b.ActionID == appreg.ActionSnooze {
			ref = b.Value
		}
	}
	return ref + " -> " + p.To.Channel + "/" + p.To.Thread
}

// field returns the value of a message field.
func field(m appreg.Message, label string) string {
	for _, f := range m.Fields {
		if f.Label == label {
			return f.Value
		}
	}
	return ""
}
