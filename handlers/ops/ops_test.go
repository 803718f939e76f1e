package ops

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
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

type auditLog struct{ recs []appreg.AuditRecord }

func (a auditLog) AuditLog(_ context.Context, filter string, limit, _ int) ([]appreg.AuditRecord, bool, error) {
	return a.recs[:min(limit, len(a.recs))], true, nil
}

func TestAuditExport(t *testing.T) {
	const token = "0123456789abcdef-token"
	log := auditLog{recs: []appreg.AuditRecord{{Actor: "U1", Action: "role.approve", Outcome: "ok"}, {Actor: "U2", Action: "role.request", Outcome: "ok"}}}
	mux := http.NewServeMux()
	RegisterAudit(mux, token, log)
	tests := []struct {
		name, auth, query string
		code, lines       int
	}{
		{"no token", "", "", 401, 0},
		{"wrong token", "Bearer nope", "", 401, 0},
		{"all", "Bearer " + token, "", 200, 2},
		{"limit", "Bearer " + token, "?limit=1", 200, 1},
		{"bad limit", "Bearer " + token, "?limit=x", 400, 0},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/audit"+tt.query, nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != tt.code {
			t.Errorf("%s: %d, want %d", tt.name, w.Code, tt.code)
			continue
		}
		if tt.code == 200 {
			lines := strings.Split(strings.TrimSpace(w.Body.String()), "\n")
			var rec appreg.AuditRecord
			if len(lines) != tt.lines || json.Unmarshal([]byte(lines[0]), &rec) != nil || rec.Actor != "U1" {
				t.Errorf("%s: body %q", tt.name, w.Body.String())
			}
		}
	}
	off := http.NewServeMux()
	RegisterAudit(off, "", log)
	w := httptest.NewRecorder()
	off.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/audit", nil))
	if w.Code != 404 {
		t.Fatalf("without a token: %d", w.Code)
	}
}
