package redisstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/webhook"
)

func TestWebhookOutbox(t *testing.T) {
	_, rdb := newTestStore(t)
	o := NewWebhookOutbox(rdb)
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	event := func(i int) webhook.Pending {
		return webhook.Pending{ID: fmt.Sprint("msg_", i), Type: webhook.EventRemoved, KeyID: fmt.Sprint("k", i), Sealed: []byte{0, 1, byte(i)}, Budget: 5, Since: now}
	}
	for i := range 20 {
		added, err := o.Add(ctx, event(i), now.Add(time.Duration(i-9)*time.Minute)) // 0..9 due by now
		if err != nil || !added {
			t.Fatalf("Add %d: %v %v", i, added, err)
		}
	}
	// Adding one that is there changes nothing.
	again := event(0)
	again.Attempts = 3
	if added, err := o.Add(ctx, again, now.Add(time.Hour)); err != nil || added {
		t.Fatalf("Add again: %v %v", added, err)
	}
	if at, ok, err := o.Due(ctx, "msg_0"); err != nil || !ok || !at.Equal(now.Add(-9*time.Minute)) {
		t.Fatalf("Due msg_0 = %v %v %v", at, ok, err)
	}
	if _, ok, err := o.Due(ctx, "msg_none"); err != nil || ok {
		t.Fatalf("Due of none = %v %v", ok, err)
	}

	// Three workers claim at once: each due event goes to one.
	lease := now.Add(time.Minute)
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				ps, err := o.Claim(ctx, now, lease, 2)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ps) == 0 {
					return
				}
				mu.Lock()
				for _, p := range ps {
					got[p.ID]++
					if p.Attempts != 0 || p.Budget != 5 || len(p.Sealed) != 3 {
						t.Errorf("claimed %+v", p)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != 10 {
		t.Errorf("%d events claimed, want 10", len(got))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s claimed %d times", id, n)
		}
	}
	// A failed attempt is recorded and due again later; a done event and
	// a retry of it stay gone.
	if err := o.Retry(ctx, "msg_1", 1, now.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := o.Done(ctx, "msg_2", "msg_3"); err != nil {
		t.Fatal(err)
	}
	if err := o.Retry(ctx, "msg_2", 1, now); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := o.Due(ctx, "msg_2"); ok {
		t.Error("a retry brought a done event back")
	}
	ps, err := o.Claim(ctx, now.Add(45*time.Second), now.Add(2*time.Minute), 10)
	if err != nil || len(ps) != 1 || ps[0].ID != "msg_1" || ps[0].Attempts != 1 || ps[0].Since != now {
		t.Fatalf("claim after retry = %+v %v", ps, err)
	}
	if n, err := o.Pending(ctx); err != nil || n != 18 {
		t.Errorf("Pending = %d %v, want 18", n, err)
	}
}
