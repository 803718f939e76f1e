package reminders

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Clock is where the package reads the time and waits. Tests drive it.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or returns ctx's error when ctx ends first.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits d or until ctx ends.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Observer counts what the scheduler does, for metrics. Its methods must be
// cheap and safe for concurrent use.
type Observer interface {
	// Due is called after each claim with the number of reminders found
	// due and claimed.
	Due(n int)
	// Sent is called for each message posted.
	Sent()
	// Failed is called for each failed attempt to post a message, whether
	// it will be retried (rate limit, outage) or dropped.
	Failed()
	// Panic is called for each panic recovered in the scheduler's work.
	Panic()
}

type nopObserver struct{}

func (nopObserver) Due(int) {}
func (nopObserver) Sent()   {}
func (nopObserver) Failed() {}
func (nopObserver) Panic()  {}

// newReplicaName returns a random replica name.
func newReplicaName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "rem-" + hex.EncodeToString(b[:])
}
