// Package webhooktest is a webhook receiver written from the Standard
// Webhooks specification alone, not from the bot's code or its signing
// library, for the tests of the webhook sink and of the bot.
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Receiver verifies every request as the specification's "Verifying
// webhooks" section says, de-duplicates by webhook-id, and answers what the
// test scripted, else 204. It is an http.Handler.
type Receiver struct {
	secret string // whsec_...

	mu       sync.Mutex
	answers  []func(w http.ResponseWriter) // one per request; then 204
	attempts []Attempt                     // every request, verified or not
	events   map[string]Event              // accepted, by webhook-id
	order    []string                      // webhook-ids, in the order accepted
}

// Attempt is one request the receiver got.
type Attempt struct {
	ID       string // webhook-id
	Verified bool
	Why      string // why not verified
}

// Event is an accepted event's payload, decoded from the JSON without the
// bot's types.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		Kind         string    `json:"kind"`
		TenantID     string    `json:"tenant_id"`
		TenantDomain string    `json:"tenant_domain"`
		Registration string    `json:"registration"`
		ClientID     string    `json:"client_id"`
		Service      string    `json:"service"`
		KeyID        string    `json:"key_id"`
		Expires      time.Time `json:"expires"`
		Replaces     string    `json:"replaces"`
		Thumbprint   string    `json:"thumbprint"`
		Secret       string    `json:"secret"`
		Certificate  *struct {
			CertificatePEM string `json:"certificate_pem"`
			PrivateKeyPEM  string `json:"private_key_pem"`
		} `json:"certificate"`
	} `json:"data"`
	Raw string `json:"-"`
}

// New returns a receiver that verifies with secret ("whsec_...").
func New(secret string) *Receiver {
	return &Receiver{secret: secret, events: map[string]Event{}}
}

// Script sets the answers to the next requests.
func (r *Receiver) Script(answers ...func(w http.ResponseWriter)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers = append(r.answers, answers...)
}

// Status answers with a status code.
func Status(code int) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.WriteHeader(code) }
}

// verify checks a request per the specification: the three headers, a
// timestamp within five minutes, and a "v1," signature among the
// space-delimited ones that is the base64 HMAC-SHA256, keyed with the
// base64-decoded part of the secret after "whsec_", of
// "{id}.{timestamp}.{body}".
func (r *Receiver) verify(h http.Header, body []byte) (string, string) {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return id, "missing header"
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return id, "bad timestamp"
	}
	if d := time.Since(time.Unix(secs, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return id, "timestamp outside tolerance"
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.secret, "whsec_"))
	if err != nil {
		return id, "bad secret"
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return id, ""
		}
	}
	return id, "no matching signature"
}

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id, why := r.verify(req.Header, body)
	r.mu.Lock()
	r.attempts = append(r.attempts, Attempt{ID: id, Verified: why == "", Why: why})
	var answer func(http.ResponseWriter)
	if len(r.answers) > 0 {
		answer, r.answers = r.answers[0], r.answers[1:]
	}
	r.mu.Unlock()
	if why != "" {
		http.Error(w, why, http.StatusUnauthorized)
		return
	}
	if answer != nil {
		answer(w)
		return
	}
	var p Event
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	if _, dup := r.events[id]; !dup {
		p.Raw = string(body)
		r.events[id] = p
		r.order = append(r.order, id)
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Accepted returns the events accepted, once each, in order.
func (r *Receiver) Accepted() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Event, len(r.order))
	for i, id := range r.order {
		out[i] = r.events[id]
	}
	return out
}

// AcceptedIDs returns the webhook-ids of the events accepted.
func (r *Receiver) AcceptedIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

// Attempts returns every request the receiver got.
func (r *Receiver) Attempts() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Attempt(nil), r.attempts...)
}
