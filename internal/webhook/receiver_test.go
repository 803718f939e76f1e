package webhook_test

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
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/webhook"
)

// receiver is a webhook receiver written from the Standard Webhooks
// specification alone, not from the bot's code or library: it verifies
// every request as the specification's "Verifying webhooks" section says,
// de-duplicates by webhook-id, and answers what the test script says.
type receiver struct {
	t      *testing.T
	secret string // whsec_...

	mu       sync.Mutex
	answers  []func(w http.ResponseWriter) // one per request; then 204
	attempts []attempt                     // every request, verified or not
	events   map[string]webhook.Payload    // accepted, by webhook-id
	order    []string                      // webhook-ids, in the order accepted
}

type attempt struct {
	id       string
	verified bool
	why      string
}

func newReceiver(t *testing.T, secret string) *receiver {
	return &receiver{t: t, secret: secret, events: map[string]webhook.Payload{}}
}

// script sets the answers to the next requests.
func (r *receiver) script(answers ...func(w http.ResponseWriter)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers = append(r.answers, answers...)
}

func status(code int) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.WriteHeader(code) }
}

// verify checks a request per the specification: the three headers, a
// timestamp within five minutes, and a "v1," signature among the
// space-delimited ones that is the base64 HMAC-SHA256, keyed with the
// base64-decoded part of the secret after "whsec_", of
// "{id}.{timestamp}.{body}".
func (r *receiver) verify(h http.Header, body []byte) (string, string) {
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

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id, why := r.verify(req.Header, body)
	r.mu.Lock()
	r.attempts = append(r.attempts, attempt{id: id, verified: why == "", why: why})
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
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	if _, dup := r.events[id]; !dup {
		r.events[id] = p
		r.order = append(r.order, id)
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) accepted() []webhook.Payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]webhook.Payload, len(r.order))
	for i, id := range r.order {
		out[i] = r.events[id]
	}
	return out
}

func (r *receiver) acceptedIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

func (r *receiver) tries() []attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]attempt(nil), r.attempts...)
}
