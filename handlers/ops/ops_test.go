package ops

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

type pinger struct{ err error }

func (p *pinger) Ping(context.Context) error { return p.err }

func TestEndpoints(t *testing.T) {
	store := &pinger{}
	mux := http.NewServeMux()
	Register(mux, store, prometheus.NewRegistry())
	get := func(path string) int {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code
	}
	tests := []struct {
		name    string
		storeUp bool
		path    string
		want    int
	}{
		{"alive", true, "/healthz", 200},
		{"ready", true, "/readyz", 200},
		{"metrics", true, "/metrics", 200},
		{"not ready without redis", false, "/readyz", 503},
		{"still alive without redis", false, "/healthz", 200},
		{"ready again", true, "/readyz", 200},
	}
	for _, tt := range tests {
		store.err = nil
		if !tt.storeUp {
			store.err = errors.New("connection refused")
		}
		if got := get(tt.path); got != tt.want {
			t.Errorf("%s: %s = %d, want %d", tt.name, tt.path, got, tt.want)
		}
	}
}
