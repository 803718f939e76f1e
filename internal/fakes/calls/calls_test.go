package calls

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// call is a recorded call for the tests: an operation and a sequence number.
type call struct {
	op string
	n  int
}

func ofOp(op string) func(call) bool { return func(c call) bool { return c.op == op } }

func TestMatching(t *testing.T) {
	recorded := []call{{"get", 1}, {"set", 2}, {"get", 3}}
	tests := []struct {
		name     string
		recorded []call
		pred     func(call) bool
		want     []call
	}{
		{"empty log", nil, nil, nil},
		{"nil pred is every call, oldest first", recorded, nil, recorded},
		{"pred filters, oldest first", recorded, ofOp("get"), []call{{"get", 1}, {"get", 3}}},
		{"nothing matches", recorded, ofOp("delete"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Log[call]
			for _, c := range tt.recorded {
				l.Record(c)
			}
			got := l.Matching(tt.pred)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Matching = %v, want %v", got, tt.want)
			}
			if len(got) > 0 {
				got[0] = call{"changed", 0}
				if again := l.Matching(tt.pred); !slices.Equal(again, tt.want) {
					t.Errorf("changing the returned slice changed the log: %v", again)
				}
			}
		})
	}
}

func TestWaitFor(t *testing.T) {
	tests := []struct {
		name   string
		before []call // recorded before WaitFor starts
		after  []call // recorded one at a time while WaitFor waits
		pred   func(call) bool
		cancel bool // cancel the context once after is recorded
		// timeout is the context's deadline (default 10s).
		timeout time.Duration
		want    call
		wantErr error
	}{
		{
			name:   "already recorded: the first match",
			before: []call{{"set", 1}, {"get", 2}, {"get", 3}},
			pred:   ofOp("get"),
			want:   call{"get", 2},
		},
		{
			name:   "nil pred: the first call",
			before: []call{{"set", 1}, {"get", 2}},
			want:   call{"set", 1},
		},
		{
			name:  "wakes on a later Record",
			after: []call{{"get", 1}},
			pred:  ofOp("get"),
			want:  call{"get", 1},
		},
		{
			name:   "keeps waiting past later calls that do not match",
			before: []call{{"set", 1}},
			after:  []call{{"set", 2}, {"delete", 3}, {"get", 4}},
			pred:   ofOp("get"),
			want:   call{"get", 4},
		},
		{
			name:    "cancelled: ctx's error",
			before:  []call{{"set", 1}},
			after:   []call{{"set", 2}},
			pred:    ofOp("get"),
			cancel:  true,
			wantErr: context.Canceled,
		},
		{
			name:    "deadline: ctx's error",
			pred:    ofOp("get"),
			timeout: 10 * time.Millisecond,
			wantErr: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()

			var l Log[call]
			for _, c := range tt.before {
				l.Record(c)
			}
			type result struct {
				c   call
				err error
			}
			done := make(chan result, 1)
			go func() {
				c, err := l.WaitFor(ctx, tt.pred)
				done <- result{c, err}
			}()
			for _, c := range tt.after {
				waitParked(t, &l, done)
				l.Record(c)
			}
			if tt.cancel {
				waitParked(t, &l, done)
				cancel()
			}

			var got result
			select {
			case got = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("WaitFor did not return")
			}
			if got.c != tt.want || !errors.Is(got.err, tt.wantErr) || (tt.wantErr == nil) != (got.err == nil) {
				t.Errorf("WaitFor = %v, %v; want %v, %v", got.c, got.err, tt.want, tt.wantErr)
			}
			if tt.wantErr != nil && got.err != ctx.Err() {
				t.Errorf("WaitFor error = %v, want ctx.Err() %v itself", got.err, ctx.Err())
			}
		})
	}
}

// waitParked waits until a WaitFor on l is blocked waiting for the next
// Record, failing the test when WaitFor returns or it takes too long.
func waitParked[R any](t *testing.T, l *Log[call], done <-chan R) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		parked := l.changed != nil
		l.mu.Unlock()
		if parked {
			return
		}
		select {
		case r := <-done:
			t.Fatalf("WaitFor returned %v early", r)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("WaitFor did not start waiting")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrent records from many goroutines while others wait for each
// call; run it with -race.
func TestConcurrent(t *testing.T) {
	const n = 50
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var l Log[call]
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			op := fmt.Sprint("op", i)
			c, err := l.WaitFor(ctx, ofOp(op))
			if err == nil && c.n != i {
				err = fmt.Errorf("WaitFor(%s) = %v", op, c)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	for i := range n {
		wg.Go(func() {
			l.Record(call{fmt.Sprint("op", i), i})
			_ = l.Matching(nil)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(l.Matching(nil)); got != n {
		t.Errorf("%d calls recorded, want %d", got, n)
	}
}
