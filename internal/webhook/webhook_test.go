package webhook_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/redisstore"
	"github.com/appreg-bot/appreg-bot/internal/seal"
	"github.com/appreg-bot/appreg-bot/internal/webhook"
	"github.com/appreg-bot/appreg-bot/internal/webhook/webhooktest"
)

const (
	signingSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretText    = "s3cr3t~Value.ThatMustNeverLeak_0123456789"
)

// env is a sink, its receiver, its Redis and what it logged.
type env struct {
	sink   *webhook.Sink
	rcv    *webhooktest.Receiver
	srv    *httptest.Server
	mr     *miniredis.Miniredis
	rdb    redis.UniversalClient
	outbox *redisstore.WebhookOutbox
	opt    webhook.Options
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, tweak func(*webhook.Options)) *env {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	rcv := webhooktest.New(signingSecret)
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	sealer, err := seal.New(bytes.Repeat([]byte{1}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	e := &env{rcv: rcv, srv: srv, mr: mr, rdb: rdb, outbox: redisstore.NewWebhookOutbox(rdb), logs: logs}
	e.opt = webhook.Options{URL: srv.URL + "/hooks/appreg?token=url-token-123", Secret: signingSecret, Sealer: sealer, Outbox: e.outbox,
		AttemptTimeout: 500 * time.Millisecond, Attempts: 4, RetireAttempts: 4, Backoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Poll: 10 * time.Millisecond, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if tweak != nil {
		tweak(&e.opt)
	}
	e.sink, err = webhook.New(e.opt)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func secretCred() appreg.Credential {
	return appreg.Credential{Kind: appreg.KindSecret, TenantID: "tid-1", TenantDomain: "contoso.onmicrosoft.com", Registration: "<!here> Teams*",
		ClientID: "app-1", Service: "voice", KeyID: "key-1", Expires: time.Date(2027, 11, 30, 0, 0, 0, 0, time.UTC), Secret: secretText}
}

// noLeak fails when the secret, the signing secret or the URL's token
// shows in what the sink logged, in Redis or in err.
func (e *env) noLeak(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{secretText, signingSecret, strings.TrimPrefix(signingSecret, "whsec_"), "url-token-123", "PRIVATE KEY"} {
		if strings.Contains(e.logs.String(), s) {
			t.Errorf("the log holds %q:\n%s", s, e.logs.String())
		}
		if err != nil && strings.Contains(err.Error()+appreg.ErrorMessage(err), s) {
			t.Errorf("the error holds %q: %v", s, err)
		}
		if dump := e.redisDump(); strings.Contains(dump, s) {
			t.Errorf("Redis holds %q", s)
		}
	}
}

func (e *env) redisDump() string {
	var b strings.Builder
	for _, k := range e.mr.Keys() {
		switch e.mr.Type(k) {
		case "hash":
			fields, _ := e.mr.HKeys(k)
			for _, f := range fields {
				b.WriteString(f + "=" + e.mr.HGet(k, f) + "\n")
			}
		case "zset":
			m, _ := e.mr.ZMembers(k)
			b.WriteString(strings.Join(m, ",") + "\n")
		case "string":
			v, _ := e.mr.Get(k)
			b.WriteString(v + "\n")
		}
	}
	return b.String()
}

func (e *env) pending(t *testing.T) int64 {
	t.Helper()
	n, err := e.outbox.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDeliverSecret(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c := secretCred()
	d, err := e.sink.Deliver(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	id := webhook.EventID(webhook.EventCreated, c)
	if d.Sink != "webhook" || !strings.Contains(d.Where, id) || strings.Contains(d.Where, "url-token") {
		t.Errorf("Delivered = %+v", d)
	}
	got := e.rcv.Accepted()
	if len(got) != 1 {
		t.Fatalf("receiver accepted %d events, want 1", len(got))
	}
	var p webhook.Payload
	if err := json.Unmarshal([]byte(got[0].Raw), &p); err != nil {
		t.Fatal(err)
	}
	want := webhook.Data{Kind: appreg.KindSecret, TenantID: "tid-1", TenantDomain: "contoso.onmicrosoft.com", Registration: "<!here> Teams*",
		ClientID: "app-1", Service: "voice", KeyID: "key-1", Expires: c.Expires, Secret: secretText}
	if p.Type != webhook.EventCreated || p.Data != want || p.Timestamp.IsZero() {
		t.Errorf("payload = %+v, want type %s, data %+v", p, webhook.EventCreated, want)
	}
	if ids := e.rcv.AcceptedIDs(); ids[0] != id {
		t.Errorf("webhook-id = %s, want %s", ids[0], id)
	}
	if n := e.pending(t); n != 0 {
		t.Errorf("%d events still pending after a 2xx", n)
	}
	e.noLeak(t, nil)

	// A rotation is credential.rotated and names what it replaces.
	r := c
	r.KeyID, r.Replaces = "key-2", "key-1"
	if _, err := e.sink.Deliver(ctx, r); err != nil {
		t.Fatal(err)
	}
	got = e.rcv.Accepted()
	if len(got) != 2 || got[1].Type != webhook.EventRotated || got[1].Data.Replaces != "key-1" || got[1].Data.KeyID != "key-2" {
		t.Errorf("rotation payload = %+v", got[len(got)-1])
	}
}

func TestReceiverFaults(t *testing.T) {
	slow := func(w http.ResponseWriter) { time.Sleep(700 * time.Millisecond); w.WriteHeader(http.StatusOK) }
	for _, tc := range []struct {
		name     string
		answers  []func(http.ResponseWriter)
		attempts int // requests the receiver sees
		kind     appreg.Kind
		says     string
	}{
		{"2xx at once", nil, 1, "", ""},
		{"408 then 2xx", []func(http.ResponseWriter){webhooktest.Status(408)}, 2, "", ""},
		{"429 twice then 2xx", []func(http.ResponseWriter){webhooktest.Status(429), webhooktest.Status(429)}, 3, "", ""},
		{"500, 502, 503 then 2xx", []func(http.ResponseWriter){webhooktest.Status(500), webhooktest.Status(502), webhooktest.Status(503)}, 4, "", ""},
		{"slow then 2xx", []func(http.ResponseWriter){slow}, 2, "", ""},
		{"5xx throughout", []func(http.ResponseWriter){webhooktest.Status(503), webhooktest.Status(503), webhooktest.Status(503), webhooktest.Status(503)}, 4, appreg.KindUnavailable, "did not take the event after 4 attempts"},
		{"400", []func(http.ResponseWriter){webhooktest.Status(400)}, 1, appreg.KindInvalid, "rejected the event (400 Bad Request)"},
		{"401", []func(http.ResponseWriter){webhooktest.Status(401)}, 1, appreg.KindForbidden, "Check that BOT_WEBHOOK_SECRET"},
		{"403", []func(http.ResponseWriter){webhooktest.Status(403)}, 1, appreg.KindForbidden, "refused the bot (403 Forbidden)"},
		{"404", []func(http.ResponseWriter){webhooktest.Status(404)}, 1, appreg.KindInvalid, "no such endpoint (404 Not Found). Check BOT_WEBHOOK_URL"},
		{"410", []func(http.ResponseWriter){webhooktest.Status(410)}, 1, appreg.KindInvalid, "no such endpoint (410 Gone)"},
		{"422", []func(http.ResponseWriter){webhooktest.Status(422)}, 1, appreg.KindInvalid, "rejected the event (422"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.rcv.Script(tc.answers...)
			_, err := e.sink.Deliver(context.Background(), secretCred())
			tries := e.rcv.Attempts()
			if len(tries) != tc.attempts {
				t.Errorf("receiver saw %d attempts, want %d", len(tries), tc.attempts)
			}
			for i, a := range tries {
				if !a.Verified {
					t.Errorf("attempt %d not verified: %s", i+1, a.Why)
				}
				if a.ID != tries[0].ID {
					t.Errorf("attempt %d has webhook-id %s, the first had %s", i+1, a.ID, tries[0].ID)
				}
			}
			switch {
			case tc.kind == "" && err != nil:
				t.Fatalf("Deliver = %v", err)
			case tc.kind != "" && appreg.ErrorKind(err) != tc.kind:
				t.Fatalf("Deliver = %v (kind %s), want kind %s", err, appreg.ErrorKind(err), tc.kind)
			case tc.kind != "" && !strings.Contains(appreg.ErrorMessage(err), tc.says):
				t.Errorf("message %q does not say %q", appreg.ErrorMessage(err), tc.says)
			}
			if n := e.pending(t); n != 0 {
				t.Errorf("%d events left pending after Deliver returned", n)
			}
			e.noLeak(t, err)
		})
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	for _, code := range []int{301, 302, 307, 308} {
		e := newEnv(t, nil)
		e.rcv.Script(func(w http.ResponseWriter) {
			w.Header().Set("Location", other.URL+"/steal")
			w.WriteHeader(code)
		})
		_, err := e.sink.Deliver(context.Background(), secretCred())
		if appreg.ErrorKind(err) != appreg.KindInvalid || !strings.Contains(appreg.ErrorMessage(err), "does not follow redirects") {
			t.Errorf("%d: Deliver = %v", code, err)
		}
		if n := len(e.rcv.Attempts()); n != 1 {
			t.Errorf("%d: %d attempts, want 1", code, n)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
}

func TestReceiverDown(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Close()
	_, err := e.sink.Deliver(context.Background(), secretCred())
	if appreg.ErrorKind(err) != appreg.KindUnavailable || !strings.Contains(appreg.ErrorMessage(err), "after 4 attempts") {
		t.Fatalf("Deliver = %v", err)
	}
	e.noLeak(t, err)
}

// A process that stops while the receiver is down leaves the event
// recorded, sealed; the next process continues it with the same
// webhook-id.
func TestRestartContinues(t *testing.T) {
	e := newEnv(t, nil)
	e.rcv.Script(webhooktest.Status(503))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(e.rcv.Attempts()) < 1 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	// Long back-off so the stop lands between attempts.
	e.opt.Backoff, e.opt.MaxBackoff = time.Minute, time.Minute
	first, err := webhook.New(e.opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Deliver(ctx, secretCred()); appreg.ErrorKind(err) != appreg.KindUnavailable {
		t.Fatalf("Deliver after stop = %v", err)
	}
	if n := e.pending(t); n != 1 {
		t.Fatalf("%d events pending after the stop, want 1", n)
	}
	e.noLeak(t, nil)

	// The next process, a little later: its worker continues the event.
	later := func() time.Time { return time.Now().Add(5 * time.Minute) }
	opt := e.opt
	opt.Now = later
	next, err := webhook.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	next.RunOnce(context.Background())
	got := e.rcv.Accepted()
	if len(got) != 1 || got[0].Data.Secret != secretText {
		t.Fatalf("after restart the receiver accepted %+v", got)
	}
	tries := e.rcv.Attempts()
	for _, a := range tries {
		if a.ID != webhook.EventID(webhook.EventCreated, secretCred()) {
			t.Errorf("attempt with webhook-id %s", a.ID)
		}
	}
	if n := e.pending(t); n != 0 {
		t.Errorf("%d events pending after delivery", n)
	}
}

func TestRetire(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c := secretCred()
	if _, err := e.sink.Deliver(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := e.sink.Retire(ctx, c); err != nil {
		t.Fatal(err)
	}
	// The worker sends it; the first attempt fails and is retried.
	e.rcv.Script(webhooktest.Status(502))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.sink.Run(runCtx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for (len(e.rcv.Accepted()) < 2 || e.pending(t) > 0) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	got := e.rcv.Accepted()
	if len(got) != 2 {
		t.Fatalf("accepted %d events, want created and removed", len(got))
	}
	r := got[1]
	if r.Type != webhook.EventRemoved || r.Data.KeyID != "key-1" || r.Data.Secret != "" || r.Data.Certificate != nil {
		t.Errorf("removed payload = %+v", r)
	}
	if n := e.pending(t); n != 0 {
		t.Errorf("%d events pending", n)
	}
	e.noLeak(t, nil)
}

// A credential removed before its created event got through: the receiver
// never gets the secret, only the removal.
func TestRetireDropsUndeliveredCreate(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c := secretCred()
	// Left by a stopped process, due now.
	p := webhook.Pending{ID: webhook.EventID(webhook.EventCreated, c), Type: webhook.EventCreated, KeyID: c.KeyID,
		Sealed: e.opt.Sealer.Seal([]byte(`{"type":"credential.created","data":{"secret":"`+secretText+`"}}`), []byte(webhook.EventID(webhook.EventCreated, c))), Budget: 4}
	if _, err := e.outbox.Add(ctx, p, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := e.sink.Retire(ctx, c); err != nil {
		t.Fatal(err)
	}
	e.sink.RunOnce(ctx)
	got := e.rcv.Accepted()
	if len(got) != 1 || got[0].Type != webhook.EventRemoved {
		t.Fatalf("accepted %+v, want only credential.removed", got)
	}
}

func TestRemovedGivenUp(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.rcv.Script(webhooktest.Status(500), webhooktest.Status(500), webhooktest.Status(500), webhooktest.Status(500), webhooktest.Status(500))
	if err := e.sink.Retire(ctx, secretCred()); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		e.sink.RunOnce(ctx)
		if e.pending(t) == 0 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if n := len(e.rcv.Attempts()); n != 4 {
		t.Errorf("%d attempts, want RetireAttempts (4)", n)
	}
	if n := e.pending(t); n != 0 {
		t.Errorf("%d events pending after giving up", n)
	}
	if !strings.Contains(e.logs.String(), "webhook event given up") {
		t.Errorf("giving up is not logged:\n%s", e.logs.String())
	}
}

func TestCertificatePayload(t *testing.T) {
	e := newEnv(t, nil)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "appreg"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	c := secretCred()
	c.Kind, c.Secret, c.Certificate, c.Key = appreg.KindCertificate, "", cert, appreg.NewPrivateKey(key)
	if _, err := e.sink.Deliver(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	got := e.rcv.Accepted()
	if len(got) != 1 || got[0].Data.Certificate == nil {
		t.Fatalf("accepted %+v", got)
	}
	d := got[0].Data
	if d.Secret != "" || d.Kind != string(appreg.KindCertificate) || len(d.Thumbprint) != 40 {
		t.Errorf("data = %+v", d)
	}
	cb, _ := pem.Decode([]byte(d.Certificate.CertificatePEM))
	kb, _ := pem.Decode([]byte(d.Certificate.PrivateKeyPEM))
	if cb == nil || kb == nil || cb.Type != "CERTIFICATE" || kb.Type != "PRIVATE KEY" {
		t.Fatalf("PEM blocks: %v %v", cb, kb)
	}
	pk, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !pk.(*ecdsa.PrivateKey).PublicKey.Equal(cert.PublicKey) {
		t.Error("the private key does not match the certificate")
	}
	// Its removal says which certificate, without the key.
	if err := e.sink.Retire(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	e.sink.RunOnce(context.Background())
	got = e.rcv.Accepted()
	if len(got) != 2 || got[1].Data.Certificate != nil || got[1].Data.Thumbprint != d.Thumbprint {
		t.Errorf("removal = %+v", got[len(got)-1])
	}
	e.noLeak(t, nil)
}

func TestNewChecks(t *testing.T) {
	sealer, _ := seal.New(make([]byte, seal.KeySize))
	ok := webhook.Options{URL: "https://hooks.example.com/x", Secret: signingSecret, Sealer: sealer, Outbox: redisstore.NewWebhookOutbox(nil)}
	for _, tc := range []struct {
		name string
		mod  func(*webhook.Options)
		want string
	}{
		{"fine", func(*webhook.Options) {}, ""},
		{"loopback http", func(o *webhook.Options) { o.URL = "http://127.0.0.1:8080/x" }, ""},
		{"plain http", func(o *webhook.Options) { o.URL = "http://hooks.example.com/x" }, "must be https"},
		{"no host", func(o *webhook.Options) { o.URL = "https:///x" }, "must be https"},
		{"secret without prefix", func(o *webhook.Options) { o.Secret = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }, `want "whsec_"`},
		{"secret not base64", func(o *webhook.Options) { o.Secret = "whsec_not base64!" }, "not base64"},
		{"secret too short", func(o *webhook.Options) { o.Secret = "whsec_c2hvcnQ=" }, "24 to 64"},
		{"no sealer", func(o *webhook.Options) { o.Sealer = nil }, "sealer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.mod(&o)
			_, err := webhook.New(o)
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("New = %v, want %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(o.Secret, "whsec_")) && o.Secret != "" {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}
