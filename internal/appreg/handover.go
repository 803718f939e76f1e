package appreg

import (
	"context"
	"errors"
)

// ErrStoreUnavailable is in the chain of every error a Store returns when it
// cannot be reached (beside an *Error of KindUnavailable), so that the engine
// can tell its store being down from a tenant or chat platform being down:
// work that meets it waits for the store and goes on, rather than fail.
var ErrStoreUnavailable = errors.New("store unavailable")

// HandingOver is implemented by a SignIn that another process can go on
// waiting for (a rolling restart). Handover returns the bytes that
// SignInResumer.ResumeSignIn needs: they hold the device code, a credential
// until the sign-in ends, so the caller encrypts them before storing them
// and never logs them.
type HandingOver interface {
	Handover() ([]byte, error)
}

// SignInResumer is implemented by a Tenant whose sign-ins can be continued
// in another process. ResumeSignIn returns a SignIn that waits for the same
// device code as the one that was handed over; its Code is that code.
// KindNotFound when the handover cannot be used (unreadable, another tenant,
// the code expired): a new code is needed. KindUnavailable when the identity
// platform cannot be reached.
type SignInResumer interface {
	ResumeSignIn(ctx context.Context, tenant string, handover []byte) (SignIn, error)
}
