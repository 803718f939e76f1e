package panics

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestGuardRecoversCountsAndTells(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	var count atomic.Int32
	told := make(chan any, 1)
	Go(log, func() { count.Add(1) }, func() { panic("boom") }, "conversation", "c1")
	func() {
		defer Guard(log, func() { count.Add(1) }, func(v any) { told <- v }, "job", "j")
		panic("bang")
	}()
	if v := <-told; v != "bang" {
		t.Errorf("told %v", v)
	}
	deadline := time.Now().Add(2 * time.Second)
	for count.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if count.Load() != 2 || !strings.Contains(buf.String(), `"conversation":"c1"`) || !strings.Contains(buf.String(), `"stack":"goroutine`) {
		t.Errorf("count %d, log %s", count.Load(), buf.String())
	}
}

func TestMiddleware(t *testing.T) {
	var count atomic.Int32
	h := Middleware(slog.New(slog.DiscardHandler), func() { count.Add(1) }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
		panic("handler bug")
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if w.Code != http.StatusInternalServerError || count.Load() != 1 {
		t.Errorf("status %d, count %d", w.Code, count.Load())
	}
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("abort not passed on: %v", v)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/abort", nil))
	}()
}
