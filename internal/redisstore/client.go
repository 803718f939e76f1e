package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Options say how to reach Redis.
type Options struct {
	// URL is a redis:// or rediss:// URL (user, password, database, TLS).
	URL string
	// Addrs are further seed nodes (host:port): with more than one address in
	// all the client is a Cluster client.
	Addrs []string
	// MasterName selects Sentinel: the addresses are the sentinels'.
	MasterName string
}

// Client is a connection to Redis, plain, Sentinel or Cluster: what the
// stores of this package are built on. Packages that wire stores together
// name it so, without importing go-redis.
type Client = redis.UniversalClient

// Connect returns a go-redis universal client for opts: a plain, Sentinel or
// Cluster client depending on MasterName and the number of addresses. With
// no URL it starts an embedded in-process Redis (miniredis) whose state is
// lost on exit, says so in the log, and returns a close function that stops
// it.
//
// The client gives up within bounds when Redis does not answer (see
// bounded), and honours its callers' deadlines: a Redis outage costs a
// command at most the caller's budget, never go-redis's defaults of several
// dials, retries and 5-second reads.
func Connect(opts Options, log *slog.Logger) (redis.UniversalClient, func(), error) {
	if opts.URL == "" && len(opts.Addrs) == 0 {
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return nil, nil, fmt.Errorf("start embedded redis: %w", err)
		}
		log.Warn("REDIS_URL is not set: using an embedded in-process Redis; all state is lost when the bot exits", "addr", mr.Addr())
		uo := &redis.UniversalOptions{Addrs: []string{mr.Addr()}}
		bounded(uo)
		rdb := redis.NewUniversalClient(uo)
		return rdb, func() { _ = rdb.Close(); mr.Close() }, nil
	}
	uo := &redis.UniversalOptions{MasterName: opts.MasterName}
	bounded(uo)
	if opts.URL != "" {
		o, err := redis.ParseURL(opts.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		uo.Addrs = []string{o.Addr}
		uo.Username, uo.Password, uo.DB, uo.TLSConfig = o.Username, o.Password, o.DB, o.TLSConfig
	}
	for _, a := range opts.Addrs {
		if a = strings.TrimSpace(a); a != "" {
			uo.Addrs = append(uo.Addrs, a)
		}
	}
	rdb := redis.NewUniversalClient(uo)
	return rdb, func() { _ = rdb.Close() }, nil
}

// The client's limits. Redis answers the bot's commands in milliseconds (the
// largest, a due-scan claim over a million secrets, takes about 5 ms), so a
// second or more without an answer is an outage, not a slow command; the
// limits only cut short waits that would end in an error anyway.
const (
	// dialTimeout bounds one connection attempt, TLS handshake included.
	dialTimeout = 2 * time.Second
	// ioTimeout bounds one read or write of a command when the caller's
	// context has no earlier deadline.
	ioTimeout = 3 * time.Second
	// dialAttempts is how often go-redis dials before a command fails:
	// go-redis's own default is 5, each up to dialTimeout.
	dialAttempts = 2
)

// bounded sets the limits on uo and makes go-redis honour the deadline of a
// command's context for its reads and writes (ContextTimeoutEnabled): the
// acknowledgement path gives each delivery a budget, and a command sent
// while Redis is down or failing over ends within it. Retries (go-redis's 3,
// with backoff up to 512 ms) stay: they ride out a failover's reconnect.
func bounded(uo *redis.UniversalOptions) {
	uo.DialTimeout = dialTimeout
	uo.ReadTimeout, uo.WriteTimeout = ioTimeout, ioTimeout
	uo.DialerRetries, uo.DialerRetryTimeout = dialAttempts, 50*time.Millisecond
	uo.MaxRetryBackoff = 512 * time.Millisecond
	uo.ContextTimeoutEnabled = true
}

// RouteLogs sends go-redis's own log lines (connection trouble, mostly) to
// log, so that they go through the bot's redaction like any other line.
// While Redis is down go-redis says the same thing for every command that
// tries to dial: a line is written at most once per logEvery for each of
// its formats, with the number of lines left out since. It sets a
// process-wide hook of go-redis: call it once, from main.
func RouteLogs(log *slog.Logger) {
	redis.SetLogger(&redisLogger{log: log, last: map[string]time.Time{}, left: map[string]int{}, now: time.Now})
}

// logEvery is how often one kind of go-redis line is logged at most.
const logEvery = 10 * time.Second

type redisLogger struct {
	log  *slog.Logger
	now  func() time.Time
	mu   sync.Mutex
	last map[string]time.Time // by format
	left map[string]int       // lines left out since
}

func (l *redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.mu.Lock()
	now := l.now()
	if at, ok := l.last[format]; ok && now.Sub(at) < logEvery {
		l.left[format]++
		l.mu.Unlock()
		return
	}
	left := l.left[format]
	l.last[format], l.left[format] = now, 0
	l.mu.Unlock()
	if left > 0 {
		l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...), "similar_lines_left_out", left)
		return
	}
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
