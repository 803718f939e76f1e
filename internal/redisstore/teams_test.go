package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

func TestTeamsRefs(t *testing.T) {
	ctx := context.Background()
	_, rdb := newTestStore(t)
	refs := NewTeamsRefs(rdb, time.Hour)
	tests := []struct {
		name   string
		save   map[string]string
		want   map[string]string
		forget string
	}{
		{"new", map[string]string{"serviceUrl": "https://smba/amer/", "tenant": "t1", "kind": "channel"},
			map[string]string{"serviceUrl": "https://smba/amer/", "tenant": "t1", "kind": "channel"}, ""},
		{"empty values keep what is stored", map[string]string{"serviceUrl": "https://smba/emea/", "tenant": ""},
			map[string]string{"serviceUrl": "https://smba/emea/", "tenant": "t1", "kind": "channel"}, ""},
		{"nothing to save", map[string]string{"tenant": ""},
			map[string]string{"serviceUrl": "https://smba/emea/", "tenant": "t1", "kind": "channel"}, ""},
		{"forget a field", nil, map[string]string{"serviceUrl": "https://smba/emea/", "kind": "channel"}, "tenant"},
	}
	const id = "19:abc@thread.tacv2"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := refs.SaveReference(ctx, "conv", id, tt.save); err != nil {
				t.Fatal(err)
			}
			if tt.forget != "" {
				if err := refs.ForgetField(ctx, "conv", id, tt.forget); err != nil {
					t.Fatal(err)
				}
			}
			got, err := refs.Reference(ctx, "conv", id)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
	if got, err := refs.Reference(ctx, "user", "unknown"); err != nil || len(got) != 0 {
		t.Fatalf("unknown reference: %v, %v", got, err)
	}
	if ttl := rdb.TTL(ctx, teamsRefKey("conv", id)).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("ttl %s", ttl)
	}
}

// TestTeamsRefsExpireUnlessUsed: a reference read within its lifetime
// lives on; one nobody uses goes away.
func TestTeamsRefsExpireUnlessUsed(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	refs := NewTeamsRefs(rdb, time.Hour)
	for _, id := range []string{"used", "idle"} {
		if err := refs.SaveReference(ctx, "user", id, map[string]string{"id": "29:" + id}); err != nil {
			t.Fatal(err)
		}
	}
	mr.FastForward(50 * time.Minute)
	if got, _ := refs.Reference(ctx, "user", "used"); got["id"] != "29:used" {
		t.Fatalf("used: %v", got)
	}
	mr.FastForward(50 * time.Minute)
	if got, _ := refs.Reference(ctx, "user", "used"); got["id"] != "29:used" {
		t.Fatalf("used after renewal: %v", got)
	}
	if got, _ := refs.Reference(ctx, "user", "idle"); len(got) != 0 {
		t.Fatalf("idle reference outlived its ttl: %v", got)
	}
}

func TestTeamsRefsUnavailable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	refs := NewTeamsRefs(rdb, 0)
	if err := refs.SaveReference(context.Background(), "conv", "x", map[string]string{"a": "b"}); appreg.ErrorKind(err) != appreg.KindUnavailable {
		t.Fatalf("save: %v", err)
	}
	if _, err := refs.Reference(context.Background(), "conv", "x"); appreg.ErrorKind(err) != appreg.KindUnavailable {
		t.Fatalf("read: %v", err)
	}
}
