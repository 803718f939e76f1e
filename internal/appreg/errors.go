package appreg

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for the people who read it. Adapters map a kind to
// a reply a support engineer can act on; the wrapped detail goes to the log.
type Kind string

// The closed set of error kinds.
const (
	KindInvalid     Kind = "invalid"     // the input breaks a rule; the message says which
	KindNotFound    Kind = "not_found"   // the thing named does not exist
	KindConflict    Kind = "conflict"    // someone or something got there first
	KindForbidden   Kind = "forbidden"   // the caller, or the signer in the tenant, lacks a right
	KindUnavailable Kind = "unavailable" // a dependency is down or slow; trying again later may work
	KindInternal    Kind = "internal"    // a bug or an unexpected answer
)

// ErrDuplicateDelivery is returned for a request whose delivery was handled
// already: a platform's retry. It is no failure; the caller answers nothing.
var ErrDuplicateDelivery = errors.New("delivery handled already")

// Error is an error with a kind and a message that is safe to show in chat.
// Message never contains a secret, a token or a raw upstream error; Err holds
// the detail for the log.
type Error struct {
	Kind    Kind
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Message
	}
	return e.Message + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind whose message is the formatted
// text. Use it for messages meant for a person.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of the given kind with a user-facing message and the
// underlying error kept for the log. A nil err gives nil.
func Wrap(kind Kind, err error, message string) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Message: message, Err: err}
}

// ErrorKind reports the kind of err: the kind of the outermost *Error in its
// chain, or KindInternal when there is none.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// ErrorMessage returns the text to show a person for err: the message of the
// outermost *Error, or a generic sentence for its kind. It never returns the
// text of a foreign error, which could hold anything.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	switch ErrorKind(err) {
	case KindUnavailable:
		return "The bot is temporarily unavailable. Please try again in a minute."
	default:
		return "Something went wrong on our side. The details are in the bot's log."
	}
}

// Throttled is how an adapter says that its platform asked to wait before
// the next call (HTTP 429 or 503 with Retry-After). It sits in the chain of
// an *Error of KindUnavailable, so that callers that pace themselves (the
// reminder queue) find the wait with RetryAfter.
type Throttled struct {
	Wait time.Duration
	Err  error
}

func (e *Throttled) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("throttled: retry after %s", e.Wait)
	}
	return fmt.Sprintf("throttled: retry after %s: %v", e.Wait, e.Err)
}

func (e *Throttled) Unwrap() error { return e.Err }

// RetryAfter returns how long to wait.
func (e *Throttled) RetryAfter() time.Duration { return e.Wait }

// RetryAfter returns the wait named by the first error in err's chain with
// a RetryAfter() time.Duration method, such as *Throttled.
func RetryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryAfter(), true
	}
	return 0, false
}
