// Package redistest gives tests the real Redis that the environment names,
// in any of the topologies the bot supports:
//
//   - REDIS_TEST_URL: one server (redis:// URL; CI runs one on port 6390);
//   - REDIS_TEST_ADDRS: the nodes of a Redis Cluster, comma-separated;
//   - REDIS_TEST_ADDRS with REDIS_TEST_MASTER_NAME: the sentinels of a
//     Sentinel set and the name of its primary.
//
// REDIS_TEST_ADDRS wins over REDIS_TEST_URL. They mirror the bot's own
// REDIS_URL, REDIS_ADDRS and REDIS_MASTER_NAME, and scripts/redis-topology.sh
// prints them for the Cluster and the Sentinel set it starts. With none set,
// tests use miniredis. It imports go-redis as its parent redisstore does,
// and only tests import it.
package redistest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Target is a real Redis for tests.
type Target struct {
	URL        string   // one server
	Addrs      []string // Cluster nodes, or the sentinels when MasterName is set
	MasterName string   // Sentinel
}

// FromEnv returns the Redis the environment names; false when it names
// none.
func FromEnv() (Target, bool) {
	if addrs := os.Getenv("REDIS_TEST_ADDRS"); addrs != "" {
		t := Target{MasterName: os.Getenv("REDIS_TEST_MASTER_NAME")}
		for _, a := range strings.Split(addrs, ",") {
			if a = strings.TrimSpace(a); a != "" {
				t.Addrs = append(t.Addrs, a)
			}
		}
		return t, true
	}
	if url := os.Getenv("REDIS_TEST_URL"); url != "" {
		return Target{URL: url}, true
	}
	return Target{}, false
}

// AllFromEnv returns every Redis the environment names: the server of
// REDIS_TEST_URL first, then the Cluster or Sentinel set of
// REDIS_TEST_ADDRS. Benchmarks use it to compare topologies in one run.
func AllFromEnv() []Target {
	var out []Target
	if url := os.Getenv("REDIS_TEST_URL"); url != "" {
		out = append(out, Target{URL: url})
	}
	if t, ok := FromEnv(); ok && t.URL == "" {
		out = append(out, t)
	}
	return out
}

// Kind is "sentinel", "cluster" or "server": what go-redis makes of the
// target, as it does of the bot's settings.
func (t Target) Kind() string {
	switch {
	case t.MasterName != "":
		return "sentinel"
	case len(t.Addrs) > 1:
		return "cluster"
	}
	return "server"
}

// BotEnv returns the bot's settings (REDIS_URL, REDIS_ADDRS,
// REDIS_MASTER_NAME) for the target.
func (t Target) BotEnv() map[string]string {
	return map[string]string{"REDIS_URL": t.URL, "REDIS_ADDRS": strings.Join(t.Addrs, ","), "REDIS_MASTER_NAME": t.MasterName}
}

// Client returns a new client on the target with a pool of poolSize
// connections (per node; 0: go-redis's default), closed when tb ends.
func (t Target) Client(tb testing.TB, poolSize int) redis.UniversalClient {
	tb.Helper()
	var rdb redis.UniversalClient
	if t.URL != "" && len(t.Addrs) == 0 {
		o, err := redis.ParseURL(t.URL)
		if err != nil {
			tb.Fatalf("REDIS_TEST_URL: %v", err)
		}
		if poolSize > 0 {
			o.PoolSize = poolSize
		}
		rdb = redis.NewClient(o)
	} else {
		rdb = redis.NewUniversalClient(&redis.UniversalOptions{Addrs: t.Addrs, MasterName: t.MasterName, PoolSize: poolSize})
	}
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// Flush empties the target's database: on every primary of a Cluster, on
// the primary of a Sentinel set. It sends FLUSHDB ASYNC, which returns at
// once however many keys there are (a plain FLUSHDB of a benchmark's
// millions would outlast the client's read timeout), then waits until
// Redis has freed them, so that nothing measured next pays for it.
func Flush(ctx context.Context, rdb redis.UniversalClient) error {
	flush := func(ctx context.Context, node *redis.Client) error {
		if err := node.FlushDBAsync(ctx).Err(); err != nil {
			return err
		}
		for {
			info, err := node.Info(ctx, "memory").Result()
			if err != nil {
				return err
			}
			if strings.Contains(info, "lazyfree_pending_objects:0\r\n") {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, flush)
	case *redis.Client:
		return flush(ctx, c)
	}
	return fmt.Errorf("flush: unexpected client %T", rdb)
}

// Open returns a flushed client on the Redis the environment names, or
// false when it names none.
func Open(tb testing.TB, poolSize int) (redis.UniversalClient, bool) {
	tb.Helper()
	t, ok := FromEnv()
	if !ok {
		return nil, false
	}
	rdb := t.Client(tb, poolSize)
	if err := Flush(context.Background(), rdb); err != nil {
		tb.Fatalf("flush the test Redis (%s): %v", t.Kind(), err)
	}
	return rdb, true
}
