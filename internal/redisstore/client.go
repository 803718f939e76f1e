package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

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

func Connect(opts Options, log *slog.Logger) (redis.UniversalClient, func(), error) {
	if opts.URL == "" && len(opts.Addrs) == 0 {
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return nil, nil, fmt.Errorf("start embedded redis: %w", err)
		}
		log.Warn("REDIS_URL is not set: using an embedded in-process Redis; all state is lost when the bot exits", "addr", mr.Addr())
		rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{mr.Addr()}})
		return rdb, func() { _ = rdb.Close(); mr.Close() }, nil
	}
	uo := &redis.UniversalOptions{MasterName: opts.MasterName}
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

// RouteLogs sends go-redis's own log lines (connection trouble, mostly) to
// log, so that they go through the bot's redaction like any other line.
// It sets a process-wide hook of go-redis: call it once, from main.
func RouteLogs(log *slog.Logger) { redis.SetLogger(redisLogger{log}) }

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
