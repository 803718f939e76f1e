// Package ops serves the operational endpoints: /healthz (the process is
// alive), /readyz (the store answers), /metrics (Prometheus) and /audit (the
// audit log, behind a bearer token).
package ops

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Pinger is what readiness checks.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Register adds the endpoints to mux.
func Register(mux *http.ServeMux, store Pinger, reg *prometheus.Registry) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
}

// auditScan bounds how many records one export reads to find its matches.
const auditScan = 200_000

// AuditLogger is what the audit export reads.
type AuditLogger interface {
	AuditLog(ctx context.Context, filter string, limit, scan int) ([]appreg.AuditRecord, bool, error)
}

// RegisterAudit adds GET /audit: the audit log as JSON lines, newest first
// (?filter= a registration or tenant, ?limit= at most 10000, default 1000),
// for callers presenting "Authorization: Bearer <token>". With no token
// configured the endpoint does not exist.
func RegisterAudit(mux *http.ServeMux, token string, log AuditLogger) {
	if token == "" {
		return
	}
	mux.HandleFunc("GET /audit", func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="appreg-bot audit"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		limit := 1000
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				http.Error(w, "limit: a number from 1 to 10000", http.StatusBadRequest)
				return
			}
			limit = n
		}
		recs, complete, err := log.AuditLog(r.Context(), r.URL.Query().Get("filter"), limit, auditScan)
		if err != nil {
			http.Error(w, appreg.ErrorMessage(err), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		if !complete {
			w.Header().Set("X-Audit-Incomplete", "scanned the newest "+strconv.Itoa(auditScan)+" records")
		}
		enc := json.NewEncoder(w)
		for _, rec := range recs {
			if err := enc.Encode(rec); err != nil {
				return
			}
		}
	})
}
