package redisstore

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestRedisLogsAreThinned: go-redis's repeated line during an outage is
// logged once per logEvery, with the count of the lines left out.
func TestRedisLogsAreThinned(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	l := &redisLogger{log: slog.New(slog.NewTextHandler(&buf, nil)), last: map[string]time.Time{}, left: map[string]int{},
		now: func() time.Time { return now }}
	for i := range 50 {
		now = now.Add(time.Second / 2)
		l.Printf(context.Background(), "dial failed after %d attempts", i)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "similar_lines_left_out=19") {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
}
