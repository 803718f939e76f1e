// Package webhook delivers credentials to the provider's platform: an
// appreg.Sink that posts events signed per the Standard Webhooks
// specification (https://www.standardwebhooks.com) to one https address.
//
// Every event is recorded in an Outbox (Redis) before its first attempt,
// its payload sealed, so that a restart continues the retries; a 2xx ends
// it. An event keeps its webhook-id across attempts and restarts, and the id
// is derived from the event's type and the credential's key id, so the
// receiver de-duplicates. Retries back off exponentially; 408, 429 and 5xx
// (and a receiver that is down or slow) are retried, other 4xx and
// redirects are not: a credential goes to the configured address or
// nowhere.
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/panics"
	"github.com/appreg-bot/appreg-bot/internal/safeurl"
	"github.com/appreg-bot/appreg-bot/internal/seal"
)

// The event types.
const (
	EventCreated = "credential.created" // a new credential: onboarding, another service
	EventRotated = "credential.rotated" // a credential that replaces one (data.replaces)
	EventRemoved = "credential.removed" // a credential gone from the tenant
)

// Payload is the body of every event, in JSON.
type Payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"` // when the event happened (not the attempt)
	Data      Data      `json:"data"`
}

// Data describes the credential.
type Data struct {
	Kind         appreg.CredentialKind `json:"kind"` // "secret" or "certificate"
	TenantID     string                `json:"tenant_id"`
	TenantDomain string                `json:"tenant_domain"`
	Registration string                `json:"registration"`
	ClientID     string                `json:"client_id"`
	Service      string                `json:"service"`
	KeyID        string                `json:"key_id"`
	Expires      time.Time             `json:"expires"`
	Replaces     string                `json:"replaces,omitempty"`
	// Thumbprint is a certificate's SHA-1 thumbprint in hex, as Entra
	// shows it.
	Thumbprint string `json:"thumbprint,omitempty"`
	// Secret is a secret's text (created and rotated events).
	Secret string `json:"secret,omitempty"`
	// Certificate is a certificate and its private key (created and rotated
	// events).
	Certificate *Certificate `json:"certificate,omitempty"`
}

// Certificate is a certificate credential in PEM.
type Certificate struct {
	CertificatePEM string `json:"certificate_pem"`
	PrivateKeyPEM  string `json:"private_key_pem"` // PKCS #8
}

// Pending is an event the receiver has not acknowledged yet, as the Outbox
// keeps it. Sealed is the payload, sealed with the event id as additional
// data; the rest says nothing secret.
type Pending struct {
	ID       string    `json:"id"` // the webhook-id
	Type     string    `json:"type"`
	KeyID    string    `json:"key_id"`
	Sealed   []byte    `json:"sealed"`
	Attempts int       `json:"attempts"` // made so far
	Budget   int       `json:"budget"`   // attempts allowed in all
	Since    time.Time `json:"since"`    // when it was recorded
}

// Outbox keeps pending events. An event is due at a time; whoever attempts
// it moves that time past the attempt (a lease), so that of several
// replicas one attempts it.
type Outbox interface {
	// Add records an event, due at due. An event of that id already there
	// is left as it is; Add reports whether it added this one.
	Add(ctx context.Context, p Pending, due time.Time) (bool, error)
	// Claim returns up to n events due by now and makes them due at until:
	// the caller attempts them meanwhile.
	Claim(ctx context.Context, now, until time.Time, n int) ([]Pending, error)
	// Retry records a failed attempt: the event, if still there, has made
	// attempts and is due again at next.
	Retry(ctx context.Context, id string, attempts int, next time.Time) error
	// Done removes events: delivered, given up or no longer wanted.
	Done(ctx context.Context, ids ...string) error
	// Due reports when an event is due, and whether it is there.
	Due(ctx context.Context, id string) (time.Time, bool, error)
}

// Options configure a Sink.
type Options struct {
	// URL is the receiver's address: https, or http on a loopback host.
	URL string
	// Secret is the signing secret, "whsec_" and base64.
	Secret string
	// Sealer seals payloads kept in the Outbox.
	Sealer *seal.Sealer
	Outbox Outbox
	// Client sends the requests; nil is a client of its own. Redirects
	// are never followed, whatever the client says.
	Client *http.Client
	// AttemptTimeout bounds one attempt (10s).
	AttemptTimeout time.Duration
	// Attempts is how often Deliver tries before it gives up (5); the
	// engineer waits for them.
	Attempts int
	// RetireAttempts is how often a credential.removed event is tried, in
	// the background (16: about a day with the default back-off).
	RetireAttempts int
	// Backoff is the wait after the first failed attempt (1s); it doubles
	// after each, up to MaxBackoff (1h), with jitter.
	Backoff, MaxBackoff time.Duration
	// Poll is how often the background worker looks for due events (5s).
	Poll time.Duration
	Log  *slog.Logger
	Now  func() time.Time
	// Panic counts a recovered panic of the worker; may be nil.
	Panic func()
}

func (o *Options) defaults() {
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = 10 * time.Second
	}
	if o.Attempts == 0 {
		o.Attempts = 5
	}
	if o.RetireAttempts == 0 {
		o.RetireAttempts = 16
	}
	if o.Backoff == 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = time.Hour
	}
	if o.Poll == 0 {
		o.Poll = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Sink is the webhook appreg.Sink. Run its worker with Run.
type Sink struct {
	opt    Options
	target *url.URL
	signer *standardwebhooks.Webhook
	client *http.Client
	kick   chan struct{}
	mu     sync.Mutex // guards rnd
	rnd    *rand.Rand
}

var _ appreg.Sink = (*Sink)(nil)

// ParseSecret checks a signing secret: "whsec_" and the base64 of 24 to 64
// random bytes, as the specification asks.
func ParseSecret(secret string) error {
	raw, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return errors.New(`want "whsec_" followed by base64 (for example: echo whsec_$(openssl rand -base64 32))`)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return errors.New(`the part after "whsec_" is not base64`)
	}
	if len(key) < 24 || len(key) > 64 {
		return fmt.Errorf("the key is %d bytes; the specification wants 24 to 64", len(key))
	}
	return nil
}

// New returns a webhook sink.
func New(opt Options) (*Sink, error) {
	opt.defaults()
	target, err := url.Parse(opt.URL)
	if err != nil || !safeurl.Allowed(target) {
		return nil, errors.New("webhook: the address must be https (http only on a loopback host)")
	}
	if err := ParseSecret(opt.Secret); err != nil {
		return nil, fmt.Errorf("webhook: signing secret: %w", err)
	}
	signer, err := standardwebhooks.NewWebhook(opt.Secret)
	if err != nil {
		return nil, errors.New("webhook: the signing secret does not decode")
	}
	if opt.Sealer == nil || opt.Outbox == nil {
		return nil, errors.New("webhook: a sealer and an outbox are required (events carry credentials and are kept sealed)")
	}
	client := &http.Client{}
	if opt.Client != nil {
		c := *opt.Client
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Sink{opt: opt, target: target, signer: signer, client: client, kick: make(chan struct{}, 1),
		rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}, nil
}

// Name implements appreg.Sink.
func (s *Sink) Name() string { return "webhook" }

// EventID is the webhook-id of an event about a credential: the same for
// every attempt and every restart, different for every event.
func EventID(typ string, c appreg.Credential) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{typ, c.TenantID, c.ClientID, c.KeyID}, "\x00")))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// Deliver implements appreg.Sink: a credential.created or
// credential.rotated event, attempted until the receiver takes it or the
// attempts are spent.
func (s *Sink) Deliver(ctx context.Context, c appreg.Credential) (appreg.Delivered, error) {
	typ := EventCreated
	if c.Replaces != "" {
		typ = EventRotated
	}
	body, err := s.payload(typ, c, true)
	if err != nil {
		return appreg.Delivered{}, err
	}
	id := EventID(typ, c)
	p := Pending{ID: id, Type: typ, KeyID: c.KeyID, Sealed: s.opt.Sealer.Seal(body, []byte(id)), Budget: s.opt.Attempts, Since: s.opt.Now()}
	if _, err := s.opt.Outbox.Add(ctx, p, s.lease(0)); err != nil {
		return appreg.Delivered{}, err
	}
	where := appreg.Delivered{Sink: s.Name(), Where: "delivery " + id + " to " + s.target.Host}
	start := s.opt.Now()
	for attempt := 1; ; attempt++ {
		res := s.attempt(ctx, id, body)
		if res.ok() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := s.opt.Outbox.Done(dctx, id)
			cancel()
			if err != nil {
				s.opt.Log.Warn("webhook event delivered but still recorded: it may be sent again (same webhook-id)", "id", id, "err", err)
			}
			s.opt.Log.Info("webhook event delivered", "id", id, "type", typ, "key_id", c.KeyID, "attempts", attempt)
			return where, nil
		}
		if ctx.Err() != nil {
			// Stopping: the event stays recorded and the worker of the
			// next process continues it.
			return appreg.Delivered{}, appreg.Wrap(appreg.KindUnavailable, ctx.Err(), "The bot stopped while delivering to the webhook.")
		}
		if !res.retry() || attempt >= s.opt.Attempts {
			_ = s.opt.Outbox.Done(context.WithoutCancel(ctx), id)
			return appreg.Delivered{}, s.refusal(res, attempt, s.opt.Now().Sub(start))
		}
		wait := s.backoff(attempt, res.retryAfter)
		s.opt.Log.Info("webhook attempt failed, retrying", "id", id, "attempt", attempt, "outcome", res.String(), "wait", wait)
		if err := s.opt.Outbox.Retry(ctx, id, attempt, s.lease(wait)); err != nil {
			s.opt.Log.Warn("webhook retry not recorded", "id", id, "err", err)
		}
		select {
		case <-ctx.Done():
			return appreg.Delivered{}, appreg.Wrap(appreg.KindUnavailable, ctx.Err(), "The bot stopped while delivering to the webhook.")
		case <-time.After(wait):
		}
	}
}

// Retire implements appreg.Sink: a credential.removed event, recorded and
// sent by the worker. A created or rotated event of that credential still
// waiting is dropped: the receiver must not get a credential that is gone.
// One being attempted right now goes first.
func (s *Sink) Retire(ctx context.Context, c appreg.Credential) error {
	body, err := s.payload(EventRemoved, c, false)
	if err != nil {
		return err
	}
	due := s.opt.Now()
	var stale []string
	for _, typ := range []string{EventCreated, EventRotated} {
		id := EventID(typ, c)
		at, ok, err := s.opt.Outbox.Due(ctx, id)
		if err != nil {
			return err
		}
		if ok {
			stale = append(stale, id)
			if at.After(due) {
				due = at // being attempted: removed goes after it
			}
		}
	}
	id := EventID(EventRemoved, c)
	p := Pending{ID: id, Type: EventRemoved, KeyID: c.KeyID, Sealed: s.opt.Sealer.Seal(body, []byte(id)), Budget: s.opt.RetireAttempts, Since: s.opt.Now()}
	if _, err := s.opt.Outbox.Add(ctx, p, due); err != nil {
		return err
	}
	if len(stale) > 0 {
		if err := s.opt.Outbox.Done(ctx, stale...); err != nil {
			return err
		}
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// Run attempts due events until ctx ends: removals, and deliveries a
// stopped process left behind.
func (s *Sink) Run(ctx context.Context) {
	t := time.NewTicker(s.opt.Poll)
	defer t.Stop()
	for {
		s.guarded(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

func (s *Sink) guarded(ctx context.Context) {
	defer panics.Guard(s.opt.Log, s.opt.Panic, nil, "worker", "webhook")
	s.RunOnce(ctx)
}

// RunOnce attempts the events due now, once each.
func (s *Sink) RunOnce(ctx context.Context) {
	for ctx.Err() == nil {
		due, err := s.opt.Outbox.Claim(ctx, s.opt.Now(), s.lease(0), 16)
		if err != nil {
			s.opt.Log.Warn("webhook outbox unavailable", "err", err)
			return
		}
		if len(due) == 0 {
			return
		}
		for _, p := range due {
			s.continueEvent(ctx, p)
		}
	}
}

func (s *Sink) continueEvent(ctx context.Context, p Pending) {
	body, err := s.opt.Sealer.Open(p.Sealed, []byte(p.ID))
	if err != nil {
		s.opt.Log.Error("webhook event dropped: its payload does not open with BOT_STATE_KEY (was the key changed?)", "id", p.ID, "type", p.Type, "key_id", p.KeyID)
		_ = s.opt.Outbox.Done(ctx, p.ID)
		return
	}
	res := s.attempt(ctx, p.ID, body)
	attempts := p.Attempts + 1
	// What the attempt came to is recorded even when the worker is being
	// stopped: a delivered event must not be sent again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	switch {
	case res.ok():
		_ = s.opt.Outbox.Done(rctx, p.ID)
		s.opt.Log.Info("webhook event delivered", "id", p.ID, "type", p.Type, "key_id", p.KeyID, "attempts", attempts)
	case ctx.Err() != nil:
		_ = s.opt.Outbox.Retry(rctx, p.ID, p.Attempts, s.opt.Now())
	case !res.retry() || attempts >= p.Budget:
		_ = s.opt.Outbox.Done(rctx, p.ID)
		s.opt.Log.Error("webhook event given up", "id", p.ID, "type", p.Type, "key_id", p.KeyID, "attempts", attempts,
			"since", p.Since, "outcome", res.String())
	default:
		wait := s.backoff(attempts, res.retryAfter)
		_ = s.opt.Outbox.Retry(rctx, p.ID, attempts, s.opt.Now().Add(wait))
		s.opt.Log.Info("webhook attempt failed, retrying", "id", p.ID, "type", p.Type, "attempt", attempts, "outcome", res.String(), "wait", wait)
	}
}

// lease is when an event being attempted after wait may be taken over by
// another worker: when that attempt would surely have ended.
func (s *Sink) lease(wait time.Duration) time.Time {
	return s.opt.Now().Add(wait + 2*s.opt.AttemptTimeout)
}

// backoff is the wait after a failed attempt: exponential with jitter
// (±20%), at least what the receiver asked for, at most MaxBackoff.
func (s *Sink) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := s.opt.Backoff << min(attempt-1, 30)
	if d <= 0 || d > s.opt.MaxBackoff {
		d = s.opt.MaxBackoff
	}
	s.mu.Lock()
	j := 0.8 + 0.4*s.rnd.Float64()
	s.mu.Unlock()
	d = time.Duration(float64(d) * j)
	return min(max(d, retryAfter), s.opt.MaxBackoff)
}

// payload encodes an event about a credential. withMaterial puts the
// secret or the certificate and its key in.
func (s *Sink) payload(typ string, c appreg.Credential, withMaterial bool) ([]byte, error) {
	d := Data{Kind: c.Kind, TenantID: c.TenantID, TenantDomain: c.TenantDomain, Registration: c.Registration, ClientID: c.ClientID,
		Service: c.Service, KeyID: c.KeyID, Expires: c.Expires.UTC(), Replaces: c.Replaces}
	if c.Kind == appreg.KindCertificate {
		d.Thumbprint = c.Thumbprint
		if c.Certificate != nil {
			d.Thumbprint = appreg.Thumbprint(c.Certificate)
		}
	}
	if withMaterial {
		switch c.Kind {
		case appreg.KindCertificate:
			if c.Certificate == nil || c.Key.IsZero() {
				return nil, appreg.Wrap(appreg.KindInternal, errors.New("certificate without its key"), "The certificate to deliver is incomplete.")
			}
			der, err := x509.MarshalPKCS8PrivateKey(c.Key.Signer())
			if err != nil {
				return nil, appreg.Wrap(appreg.KindInternal, fmt.Errorf("encode private key: %w", err), "The certificate's key could not be encoded.")
			}
			d.Certificate = &Certificate{
				CertificatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate.Raw})),
				PrivateKeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
			}
		default:
			d.Secret = c.Secret.Reveal()
		}
	}
	body, err := json.Marshal(Payload{Type: typ, Timestamp: s.opt.Now().UTC(), Data: d})
	if err != nil {
		return nil, fmt.Errorf("encode webhook event: %w", err)
	}
	return body, nil
}

// result is what one attempt came to.
type result struct {
	status     int // 0: no answer
	err        error
	retryAfter time.Duration
	location   string // a redirect's host
}

func (r result) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

// retry reports whether another attempt may work: no answer, 408, 429, 5xx.
func (r result) retry() bool {
	return r.status == 0 || r.status == http.StatusRequestTimeout || r.status == http.StatusTooManyRequests || r.status >= 500
}

func (r result) String() string {
	if r.status == 0 {
		return r.err.Error()
	}
	return strconv.Itoa(r.status) + " " + http.StatusText(r.status)
}

// attempt posts an event once, signed now.
func (s *Sink) attempt(ctx context.Context, id string, body []byte) result {
	ctx, cancel := context.WithTimeout(ctx, s.opt.AttemptTimeout)
	defer cancel()
	now := s.opt.Now()
	sig, err := s.signer.Sign(id, now, body)
	if err != nil {
		return result{err: errors.New("signing failed")}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target.String(), bytes.NewReader(body))
	if err != nil {
		return result{err: errors.New("bad request")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "appreg-bot")
	req.Header.Set(standardwebhooks.HeaderWebhookID, id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return result{err: fmt.Errorf("no answer within %s", s.opt.AttemptTimeout)}
		}
		// A *url.Error names the whole address, which may hold a token:
		// keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return result{err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	r := result{status: resp.StatusCode}
	if v := resp.Header.Get("Retry-After"); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
			r.retryAfter = time.Duration(secs) * time.Second
		}
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if loc, err := resp.Location(); err == nil {
			r.location = loc.Host
		}
	}
	return r
}

// refusal is the error of an event the receiver did not take: what it
// answered, for the engineer, and what would fix it.
func (s *Sink) refusal(r result, attempts int, took time.Duration) error {
	host := s.target.Host
	var kind appreg.Kind
	var msg string
	switch {
	case r.status >= 300 && r.status < 400:
		kind = appreg.KindInvalid
		to := ""
		if r.location != "" {
			to = " to " + r.location
		}
		msg = fmt.Sprintf("The webhook at %s answered with a redirect (%d)%s. The bot does not follow redirects: a credential goes only to BOT_WEBHOOK_URL. Set BOT_WEBHOOK_URL to the final address.", host, r.status, to)
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		kind = appreg.KindForbidden
		msg = fmt.Sprintf("The webhook at %s refused the bot (%s). Check that BOT_WEBHOOK_SECRET is the secret the receiver verifies with.", host, r)
	case r.status == http.StatusNotFound || r.status == http.StatusGone:
		kind = appreg.KindInvalid
		msg = fmt.Sprintf("The webhook at %s has no such endpoint (%s). Check BOT_WEBHOOK_URL.", host, r)
	case r.status >= 400 && r.status < 500 && !r.retry():
		kind = appreg.KindInvalid
		msg = fmt.Sprintf("The webhook at %s rejected the event (%s).", host, r)
	default:
		kind = appreg.KindUnavailable
		msg = fmt.Sprintf("The webhook at %s did not take the event after %d attempts over %s (last: %s).", host, attempts, took.Round(time.Second), r)
	}
	cause := r.err
	if cause == nil {
		cause = fmt.Errorf("webhook answered %s", r)
	}
	return appreg.Wrap(kind, cause, msg)
}
