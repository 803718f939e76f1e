package main

import (
	"testing"

	"github.com/alicebob/miniredis/v2"

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
