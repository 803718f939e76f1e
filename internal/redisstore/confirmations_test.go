package redisstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

func TestSecretDeliveriesWaitForConfirmation(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	delivery := func(i int) appreg.SecretDelivery {
		return appreg.SecretDelivery{Key: appreg.SecretKey{TenantID: "t", AppID: "a", KeyID: fmt.Sprint("k", i)}, Registration: "R", Service: fmt.Sprint("s", i),
			To: appreg.Caller{Platform: "slack", User: appreg.User{ID: "U1"}}, DeliveredAt: now}
	}
	for i := range 30 {
		if err := s.AwaitConfirmation(ctx, delivery(i), now.Add(time.Duration(i-19)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// Confirmed once: a second confirmation finds nothing waiting.
	if d, ok, err := s.Confirm(ctx, delivery(0).Key); err != nil || !ok || d.Service != "s0" {
		t.Fatalf("confirm: %+v %v %v", d, ok, err)
	}
	if _, ok, _ := s.Confirm(ctx, delivery(0).Key); ok {
		t.Fatal("confirmed twice")
	}
	// Four replicas claim what is due at once: each of the 19 due
	// deliveries left goes to exactly one.
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				ds, err := s.ClaimUnconfirmed(ctx, now, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				for _, d := range ds {
					got[d.Key.KeyID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != 19 {
		t.Errorf("%d deliveries claimed, want 19", len(got))
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("%s claimed %d times", k, n)
		}
	}
	if _, ok, _ := s.Confirm(ctx, delivery(5).Key); ok {
		t.Error("a claimed delivery was still waiting")
	}
	if _, ok, _ := s.Confirm(ctx, delivery(25).Key); !ok {
		t.Error("a delivery not yet due was claimed")
	}
}
