package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/redisstore/redistest"
)

// newTestStore returns a Store on the real Redis the environment names
// (redistest: one server, a Cluster or a Sentinel set; flushed first),
// otherwise on miniredis. Its commands go through the key checks.
func newTestStore(t testing.TB) (*Store, redis.UniversalClient) {
	t.Helper()
	rdb, ok := redistest.Open(t, 0)
	if !ok {
		mr := miniredis.RunT(t)
		rdb = redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { rdb.Close() })
	}
	checkKeys(t, rdb)
	return New(rdb, time.Hour, nil), rdb
}

func newConv(id string) *appreg.Conversation {
	return &appreg.Conversation{ID: id, State: appreg.StateStarted, Tenant: "contoso.onmicrosoft.com", Service: "sbc1",
		Requester: appreg.Caller{Channel: "C1", User: appreg.User{ID: "U-" + id}}}
}

func TestConversationCompareAndSet(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	c := newConv("c1")
	if active, err := s.CreateConversation(ctx, c, ""); err != nil || active != "" {
		t.Fatal(active, err)
	}
	again := newConv("c1")
	again.Requester.User.ID = "U-other"
	if _, err := s.CreateConversation(ctx, again, ""); appreg.ErrorKind(err) != appreg.KindConflict {
		t.Fatalf("second create: got %v, want conflict", err)
	}
	// The same requester in the same channel has an active conversation.
	second := newConv("c2")
	second.Requester = c.Requester
	if active, err := s.CreateConversation(ctx, second, ""); err != nil || active != "c1" {
		t.Fatalf("create while c1 is active = %q, %v", active, err)
	}
	if _, err := s.Conversation(ctx, "c2"); appreg.ErrorKind(err) != appreg.KindNotFound {
		t.Fatalf("c2 stored: %v", err)
	}
	if id, _ := s.ActiveConversation(ctx, "C1", "U-c1"); id != "c1" {
		t.Fatalf("active = %q", id)
	}
	// A retried delivery stores nothing and keeps no active slot.
	d1 := newConv("d1")
	if active, err := s.CreateConversation(ctx, d1, "trigger-1"); err != nil || active != "" {
		t.Fatal(active, err)
	}
	d2 := newConv("d2")
	d2.Requester.User.ID = "U-d2-other"
	if _, err := s.CreateConversation(ctx, d2, "trigger-1"); !errors.Is(err, appreg.ErrDuplicateDelivery) {
		t.Fatalf("retried delivery: %v", err)
	}
	if _, err := s.Conversation(ctx, "d2"); appreg.ErrorKind(err) != appreg.KindNotFound {
		t.Fatalf("d2 stored: %v", err)
	}
	if id, _ := s.ActiveConversation(ctx, "C1", "U-d2-other"); id != "" {
		t.Fatalf("retried delivery kept an active slot: %q", id)
	}
	stale, _ := s.Conversation(ctx, "c1")
	c.State = appreg.StateAwaitingSignIn
	if err := s.UpdateConversation(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c.Version != 2 {
		t.Fatalf("version after update = %d, want 2", c.Version)
	}
	stale.State = appreg.StateCancelled
	if err := s.UpdateConversation(ctx, stale); appreg.ErrorKind(err) != appreg.KindConflict {
		t.Fatalf("stale update: got %v, want conflict", err)
	}
	got, err := s.Conversation(ctx, "c1")
	if err != nil || got.State != appreg.StateAwaitingSignIn || got.Version != 2 {
		t.Fatalf("stored = %+v, %v", got, err)
	}
	if _, err := s.Conversation(ctx, "nope"); appreg.ErrorKind(err) != appreg.KindNotFound {
		t.Fatalf("missing: got %v, want not found", err)
	}
}

func TestConcurrentUpdatesApplyOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	if _, err := s.CreateConversation(ctx, newConv("race"), ""); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.Conversation(ctx, "race")
			if err != nil {
				t.Error(err)
				return
			}
			c.State = appreg.StateAwaitingSignIn
			if err := s.UpdateConversation(ctx, c); err == nil {
				wins.Add(1)
			} else if appreg.ErrorKind(err) != appreg.KindConflict {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	c, _ := s.Conversation(ctx, "race")
	if int64(wins.Load())+1 != c.Version {
		t.Fatalf("%d updates won but version is %d", wins.Load(), c.Version)
	}
}

func TestLiveConversationsFollowState(t *testing.T) {
	ctx := context.Background()
	s, rdb := newTestStore(t)
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.CreateConversation(ctx, newConv(id), ""); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := s.Conversation(ctx, "b")
	b.State = appreg.StateCancelled
	if err := s.UpdateConversation(ctx, b); err != nil {
		t.Fatal(err)
	}
	rdb.Del(ctx, convKey("c")) // expired behind the index's back
	ids, err := s.LiveConversations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != "a" {
		t.Fatalf("live = %v, want [a]", ids)
	}
}

func TestIdempotencyLeasesAndNames(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	tests := []struct {
		name string
		run  func() (bool, error)
		want bool
	}{
		{"first delivery", func() (bool, error) { return s.FirstDelivery(ctx, "t1", time.Minute) }, true},
		{"retried delivery", func() (bool, error) { return s.FirstDelivery(ctx, "t1", time.Minute) }, false},
		{"lease free", func() (bool, error) { return s.AcquireLease(ctx, "l", "r1", time.Minute) }, true},
		{"lease renewed by owner", func() (bool, error) { return s.AcquireLease(ctx, "l", "r1", time.Minute) }, true},
		{"lease held by other", func() (bool, error) { return s.AcquireLease(ctx, "l", "r2", time.Minute) }, false},
		{"release by other is ignored", func() (bool, error) {
			_ = s.ReleaseLease(ctx, "l", "r2")
			return s.AcquireLease(ctx, "l", "r2", time.Minute)
		}, false},
		{"release by owner frees it", func() (bool, error) {
			_ = s.ReleaseLease(ctx, "l", "r1")
			return s.AcquireLease(ctx, "l", "r2", time.Minute)
		}, true},
		{"name free", func() (bool, error) { return s.ReserveName(ctx, "sbc1", "Contoso-1", "c1") == nil, nil }, true},
		{"name again by same conversation", func() (bool, error) { return s.ReserveName(ctx, "sbc1", "contoso-1", "c1") == nil, nil }, true},
		{"name by another conversation, any case", func() (bool, error) { return s.ReserveName(ctx, "sbc1", "CONTOSO-1", "c2") == nil, nil }, false},
		{"same name for another service", func() (bool, error) { return s.ReserveName(ctx, "sbc2", "Contoso-1", "c2") == nil, nil }, true},
		{"name released", func() (bool, error) {
			_ = s.ReleaseName(ctx, "sbc1", "Contoso-1", "c1")
			return s.ReserveName(ctx, "sbc1", "Contoso-1", "c2") == nil, nil
		}, true},
	}
	for _, tt := range tests {
		got, err := tt.run()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRegistryHoldsNamesAndHistory(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	exp := time.Date(2027, 11, 26, 0, 0, 0, 0, time.UTC)
	r := appreg.Registration{Tenant: "contoso.onmicrosoft.com", TenantID: "tid", Name: "Voice1", AppID: "app", Services: []string{"sbc1"},
		Secrets: []appreg.SecretRecord{{KeyID: "k1", Service: "sbc1", Expires: exp}}}
	if err := s.SaveRegistration(ctx, r, appreg.Change{By: "U1", What: "created"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReserveName(ctx, "sbc1", "voice1", "c9"); appreg.ErrorKind(err) != appreg.KindConflict {
		t.Fatalf("reserve a registered name: %v", err)
	}
	if err := s.ReserveName(ctx, "sbc2", "voice1", "c9"); err != nil {
		t.Fatalf("another service: %v", err)
	}
	r.Services = append(r.Services, "sbc2")
	if err := s.SaveRegistration(ctx, r, appreg.Change{By: "U2", What: "attached sbc2"}); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"", "CONTOSO.onmicrosoft.com", "tid"} {
		regs, err := s.Registrations(ctx, tenant)
		if err != nil || len(regs) != 1 || len(regs[0].Services) != 2 || regs[0].SecretFor("SBC1").KeyID != "k1" {
			t.Fatalf("Registrations(%q) = %+v, %v", tenant, regs, err)
		}
	}
	if regs, _ := s.Registrations(ctx, "fabrikam.com"); len(regs) != 0 {
		t.Fatalf("other tenant: %v", regs)
	}
	h, err := s.History(ctx, "tid", "app")
	if err != nil || len(h) != 2 || h[0].What != "created" || h[1].By != "U2" {
		t.Fatalf("history = %+v, %v", h, err)
	}
}

func TestUnreachableRedisIsUnavailable(t *testing.T) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	s := New(rdb, time.Hour, nil)
	mr.Close()
	ctx := context.Background()
	if err := s.Ping(ctx); appreg.ErrorKind(err) != appreg.KindUnavailable {
		t.Fatalf("ping: %v", err)
	}
	if _, err := s.CreateConversation(ctx, newConv("x"), ""); appreg.ErrorKind(err) != appreg.KindUnavailable {
		t.Fatalf("create: %v", err)
	}
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestAuditLogIsAppendOnlyNewestFirst(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	for i := range 450 {
		target := "Voice1"
		if i%2 == 1 {
			target = "Other"
		}
		if err := s.Audit(ctx, appreg.AuditRecord{Actor: "U1", Action: "role.request", Target: target, Detail: fmt.Sprint(i), Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		filter    string
		limit     int
		n         int
		newestIdx string
	}{
		{"", 10, 10, "449"},
		{"voice1", 5, 5, "448"},
		{"VOICE1", 300, 225, "448"},
		{"nobody", 10, 0, ""},
	}
	for _, tt := range tests {
		got, _, err := s.AuditLog(ctx, tt.filter, tt.limit, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tt.n || (tt.n > 0 && got[0].Detail != tt.newestIdx) {
			t.Errorf("AuditLog(%q, %d): %d records, first %+v", tt.filter, tt.limit, len(got), got[:min(1, len(got))])
		}
	}
}

func TestUpdateRegistrationLosesNoConcurrentChange(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	r := appreg.Registration{TenantID: "tid", Name: "Voice1", AppID: "app", Services: []string{"sbc1"}}
	if err := s.SaveRegistration(ctx, r, appreg.Change{What: "created"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			service := fmt.Sprintf("sbc%d", i+2)
			_, err := s.UpdateRegistration(ctx, "tid", "app", appreg.Change{What: "attached " + service}, func(r *appreg.Registration) error {
				r.Services = append(r.Services, service)
				r.Secrets = append(r.Secrets, appreg.SecretRecord{KeyID: service, Service: service})
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	regs, _ := s.Registrations(ctx, "tid")
	if len(regs) != 1 || len(regs[0].Services) != 11 || len(regs[0].Secrets) != 10 {
		t.Fatalf("record = %+v", regs)
	}
	if h, _ := s.History(ctx, "tid", "app"); len(h) != 11 {
		t.Fatalf("history has %d entries", len(h))
	}
	if _, err := s.UpdateRegistration(ctx, "tid", "nope", appreg.Change{}, func(*appreg.Registration) error { return nil }); appreg.ErrorKind(err) != appreg.KindNotFound {
		t.Fatalf("unknown registration: %v", err)
	}
	refuse := appreg.Errorf(appreg.KindConflict, "no")
	if _, err := s.UpdateRegistration(ctx, "tid", "app", appreg.Change{}, func(*appreg.Registration) error { return refuse }); err != refuse {
		t.Fatalf("apply's error: %v", err)
	}
}

// TestAuditLogScanIsBounded: a filter that matches nothing reads no more
// than the scan bound and says it stopped there.
func TestAuditLogScanIsBounded(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	for i := range 450 {
		if err := s.Audit(ctx, appreg.AuditRecord{Actor: "U1", Action: "x", Target: fmt.Sprint("R", i)}); err != nil {
			t.Fatal(err)
		}
	}
	recs, complete, err := s.AuditLog(ctx, "nothing-matches", 20, 300)
	if err != nil || len(recs) != 0 || complete {
		t.Fatalf("bounded scan: %d records, complete %v, %v", len(recs), complete, err)
	}
	recs, complete, err = s.AuditLog(ctx, "R44", 20, 10_000)
	if err != nil || !complete || len(recs) != 11 { // R44, R440–R449
		t.Fatalf("full scan: %d records, complete %v, %v", len(recs), complete, err)
	}
}
