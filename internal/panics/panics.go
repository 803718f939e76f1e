// Package panics keeps a panic in one of the bot's goroutines from taking
// the process down. Every goroutine the bot starts defers Guard at its
// top: a panic there is logged with its stack, counted, and whoever the
// goroutine worked for is told (a conversation is ended with a message, a
// click gets an answer), while the rest of the process goes on.
package panics

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// Guard, deferred, recovers a panic: it logs it at ERROR with the stack
// and attrs, calls count, then after with the panic's value; both may be
// nil. http.ErrAbortHandler, net/http's way to abort a response, is let
// through.
func Guard(log *slog.Logger, count func(), after func(v any), attrs ...any) {
	v := recover()
	if v == nil {
		return
	}
	if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
		panic(v)
	}
	log.Error("recovered from a panic", append(attrs, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))...)
	if count != nil {
		count()
	}
	if after != nil {
		after(v)
	}
}

// Go runs f in a goroutine guarded by Guard.
func Go(log *slog.Logger, count func(), f func(), attrs ...any) {
	go func() {
		defer Guard(log, count, nil, attrs...)
		f()
	}()
}

// Middleware guards an HTTP handler: a panic is logged and counted, and
// the request answered 500 if nothing was written yet.
func Middleware(log *slog.Logger, count func(), h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer Guard(log, count, func(any) {
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		}, "path", r.URL.Path)
		h.ServeHTTP(w, r)
	})
}
