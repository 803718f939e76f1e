package main

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/appreg-bot/appreg-bot/internal/redisstore/redistest"
)

// testRedis returns the Redis settings (REDIS_URL, REDIS_ADDRS,
// REDIS_MASTER_NAME) of the bot replicas a test starts: the real Redis the
// environment names (redistest: one server, a Cluster or a Sentinel set),
// flushed first, or else a new miniredis.
func testRedis(t *testing.T) map[string]string {
	t.Helper()
	target, ok := redistest.FromEnv()
	if !ok {
		return map[string]string{"REDIS_URL": "redis://" + miniredis.RunT(t).Addr()}
	}
	if _, ok := redistest.Open(t, 1); !ok {
		t.Fatal("no test Redis")
	}
	return target.BotEnv()
}

// redisText returns every key, field and value in the test Redis the bot
// replicas use (strings, hashes, sets, sorted sets and lists), for tests
// that check nothing secret is kept there.
func (e *env) redisText() string {
	e.t.Helper()
	var rdb redis.UniversalClient
	if u := e.redis["REDIS_URL"]; u != "" && e.redis["REDIS_ADDRS"] == "" {
		o, err := redis.ParseURL(u)
		if err != nil {
			e.t.Fatal(err)
		}
		rdb = redis.NewClient(o)
	} else {
		rdb = redis.NewUniversalClient(&redis.UniversalOptions{Addrs: strings.Split(e.redis["REDIS_ADDRS"], ","), MasterName: e.redis["REDIS_MASTER_NAME"]})
	}
	defer rdb.Close()
	var mu sync.Mutex
	var b strings.Builder
	dump := func(ctx context.Context, node redis.UniversalClient) error {
		iter := node.Scan(ctx, 0, "*", 500).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			var vals []string
			switch node.Type(ctx, key).Val() {
			case "string":
				vals = []string{node.Get(ctx, key).Val()}
			case "hash":
				for f, v := range node.HGetAll(ctx, key).Val() {
					vals = append(vals, f, v)
				}
			case "set":
				vals = node.SMembers(ctx, key).Val()
			case "zset":
				vals = node.ZRange(ctx, key, 0, -1).Val()
			case "list":
				vals = node.LRange(ctx, key, 0, -1).Val()
			}
			mu.Lock()
			b.WriteString(key + "\n" + strings.Join(vals, "\n") + "\n")
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if c, ok := rdb.(*redis.ClusterClient); ok {
		err = c.ForEachMaster(e.ctx, func(ctx context.Context, n *redis.Client) error { return dump(ctx, n) })
	} else {
		err = dump(e.ctx, rdb)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return b.String()
}
