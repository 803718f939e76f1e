// Package calls is the call log that the HTTP fakes (slackfake, teamsfake,
// keyvaultfake) share: each records the calls it answers in a Log, and
// tests read them back or wait for one that a background goroutine is
// about to make.
//
// It depends on the standard library only, so that any fake can use it
// without pulling in the bot's packages.
package calls

import (
	"context"
	"sync"
)

// Log is an append-only record of calls of type C, oldest first. The zero
// Log is empty and ready to use; a Log must not be copied after first use.
// Its methods are safe for concurrent use.
type Log[C any] struct {
	mu    sync.Mutex
	calls []C
	// changed is closed (and dropped) by the next Record; WaitFor creates
	// it when it has to wait, so that an idle Log allocates nothing.
	changed chan struct{}
}

// Record appends c to the log and wakes every WaitFor that is waiting.
func (l *Log[C]) Record(c C) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// Matching returns the recorded calls that satisfy pred (all calls when
// pred is nil), oldest first, in a new slice. pred runs with the log
// locked: it must not call the log's methods.
func (l *Log[C]) Matching(pred func(C) bool) []C {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []C
	for _, c := range l.calls {
		if pred == nil || pred(c) {
			out = append(out, c)
		}
	}
	return out
}

// WaitFor returns the first recorded call that satisfies pred (any call
// when pred is nil), waiting for later Records until there is one. It
// returns ctx's error, unwrapped, when ctx ends first. pred runs with the
// log locked: it must not call the log's methods.
func (l *Log[C]) WaitFor(ctx context.Context, pred func(C) bool) (C, error) {
	for {
		c, ok, changed := l.first(pred)
		if ok {
			return c, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			var zero C
			return zero, ctx.Err()
		}
	}
}

// first returns the first recorded call that satisfies pred (any call when
// pred is nil) or, when there is none, a channel that the next Record
// closes.
func (l *Log[C]) first(pred func(C) bool) (_ C, ok bool, changed <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls {
		if pred == nil || pred(c) {
			return c, true, nil
		}
	}
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	var zero C
	return zero, false, l.changed
}
