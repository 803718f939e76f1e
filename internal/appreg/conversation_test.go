package appreg

import (
	"errors"
	"fmt"
	"testing"
)

func TestStateTransitions(t *testing.T) {
	tests := []struct {
		from, to State
		ok       bool
	}{
		{StateStarted, StateAwaitingSignIn, true},
		{StateAwaitingSignIn, StateSignedIn, true},
		{StateSignedIn, StateAwaitingName, true},
		{StateAwaitingName, StateCreating, true},
		{StateCreating, StateDone, true},
		{StateCreating, StateAwaitingName, true}, // name taken in the tenant
		{StateAwaitingSignIn, StateExpired, true},
		{StateExpired, StateAwaitingSignIn, true}, // new code
		{StateAwaitingName, StateAwaitingSignIn, true},
		{StateAwaitingName, StateCancelled, true},
		{StateStarted, StateDone, false},
		{StateStarted, StateCreating, false},
		{StateAwaitingName, StateDone, false},
		{StateCreating, StateExpired, true}, // the admin session was lost
		{StateExpired, StateExpired, false},
		{StateExpired, StateCreating, false},
		{StateDone, StateCancelled, false},
		{StateCancelled, StateAwaitingSignIn, false},
		{StateFailed, StateFailed, false},
	}
	for _, tt := range tests {
		if got := tt.from.CanMoveTo(tt.to); got != tt.ok {
			t.Errorf("%s → %s: got %v, want %v", tt.from, tt.to, got, tt.ok)
		}
	}
	for _, s := range States() {
		if !s.Terminal() && !s.CanMoveTo(StateCancelled) {
			t.Errorf("live state %s cannot be cancelled", s)
		}
	}
}

func TestErrorMessageNeverShowsForeignText(t *testing.T) {
	secret := errors.New("token=eyJhbGciOi...")
	tests := []struct {
		err  error
		kind Kind
		want string
	}{
		{Errorf(KindInvalid, "Bad name."), KindInvalid, "Bad name."},
		{fmt.Errorf("ctx: %w", Wrap(KindUnavailable, secret, "Graph is down.")), KindUnavailable, "Graph is down."},
		{secret, KindInternal, "Something went wrong on our side. The details are in the bot's log."},
		{&Error{Kind: KindUnavailable, Err: secret}, KindUnavailable, "The bot is temporarily unavailable. Please try again in a minute."},
	}
	for _, tt := range tests {
		if got := ErrorKind(tt.err); got != tt.kind {
			t.Errorf("ErrorKind(%v) = %s, want %s", tt.err, got, tt.kind)
		}
		if got := ErrorMessage(tt.err); got != tt.want {
			t.Errorf("ErrorMessage(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
