package slackbot

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Request limits of the HTTP endpoints.
const (
	maxBodyBytes    = 1 << 20         // Slack's payloads are far smaller
	maxRequestSkew  = 5 * time.Minute // Slack's documented replay window
	signatureHeader = "X-Slack-Signature"
	timestampHeader = "X-Slack-Request-Timestamp"
)

// Handler serves Slack's HTTP-mode deliveries:
//
//	POST /slack/commands       slash commands
//	POST /slack/interactivity  button clicks and modal submissions
//
// Every request must carry a valid Slack signature with a timestamp within 5
// minutes of the handler's clock, or it is answered 401 and goes no further.
// A body over 1 MiB is answered 413, a malformed form or payload 400. A
// delivered request is answered 200 with the same acknowledgement Socket
// Mode would send. Handler is safe for concurrent use.
type Handler struct {
	in     Inbound
	secret []byte
	now    func() time.Time
	mux    *http.ServeMux
}

// NewHandler returns a Handler that delivers to in.Bot and verifies requests
// with Slack's signing secret. now is the clock that judges request
// timestamps; nil means time.Now.
//
// The signature is checked here with crypto/hmac rather than with
// slack.NewSecretsVerifier: the verifier reads time.Now itself, which would
// defeat the injected clock. The check is the same: v0 HMAC-SHA256 of
// "v0:{timestamp}:{body}", compared in constant time.
func NewHandler(in Inbound, signingSecret string, now func() time.Time) (*Handler, error) {
	in, err := in.validate()
	if err != nil {
		return nil, err
	}
	if signingSecret == "" {
		return nil, errors.New("slackbot: the signing secret is required")
	}
	if now == nil {
		now = time.Now
	}
	h := &Handler{in: in, secret: []byte(signingSecret), now: now, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /slack/commands", h.commands)
	h.mux.HandleFunc("POST /slack/interactivity", h.interactivity)
	return h, nil
}

// ServeHTTP routes to the two endpoints; other paths are 404 and other
// methods 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) commands(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !h.verified(w, r) {
		return
	}
	sc, err := slack.SlashCommandParse(r)
	if err == nil && (sc.UserID == "" || sc.Command == "") {
		err = errors.New("no user_id or command")
	}
	if err != nil {
		h.reject(w, r, http.StatusBadRequest, "malformed slash command", err)
		return
	}
	writeAck(w, h.in.command(r.Context(), sc, start))
}

func (h *Handler) interactivity(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !h.verified(w, r) {
		return
	}
	ic, err := slack.InteractionCallbackParse(r)
	if err != nil {
		h.reject(w, r, http.StatusBadRequest, "malformed interaction payload", err)
		return
	}
	writeAck(w, h.in.interaction(r.Context(), ic, start))
}

// verified checks the signature headers (present, fresh) before it reads
// anything of the body, then reads the body (at most maxBodyBytes), checks
// its signature and leaves it readable again. It answers the request
// itself when it returns false.
func (h *Handler) verified(w http.ResponseWriter, r *http.Request) bool {
	stamp, sig, err := h.checkHeaders(r.Header)
	if err != nil {
		h.reject(w, r, http.StatusUnauthorized, "request signature rejected", err)
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.reject(w, r, http.StatusRequestEntityTooLarge, "request body too large", err)
		} else {
			h.reject(w, r, http.StatusBadRequest, "unreadable request body", err)
		}
		return false
	}
	if err := h.checkSignature(stamp, sig, body); err != nil {
		h.reject(w, r, http.StatusUnauthorized, "request signature rejected", err)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// checkHeaders checks that the signature headers are there, well formed,
// and that the timestamp is within maxRequestSkew of h.now.
func (h *Handler) checkHeaders(header http.Header) (stamp string, sig []byte, err error) {
	stamp = header.Get(timestampHeader)
	hexSig, ok := strings.CutPrefix(header.Get(signatureHeader), "v0=")
	if stamp == "" || !ok {
		return "", nil, errors.New("missing signature headers")
	}
	secs, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return "", nil, fmt.Errorf("bad timestamp: %w", err)
	}
	if skew := h.now().Sub(time.Unix(secs, 0)).Abs(); skew > maxRequestSkew {
		return "", nil, fmt.Errorf("timestamp %s off by %s", stamp, skew.Round(time.Second))
	}
	if sig, err = hex.DecodeString(hexSig); err != nil {
		return "", nil, fmt.Errorf("bad signature encoding: %w", err)
	}
	return stamp, sig, nil
}

// checkSignature verifies Slack's v0 signature of body.
func (h *Handler) checkSignature(stamp string, got, body []byte) error {
	mac := hmac.New(sha256.New, h.secret)
	fmt.Fprintf(mac, "v0:%s:", stamp)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return slack.ErrInvalidSignature
	}
	return nil
}

func (h *Handler) reject(w http.ResponseWriter, r *http.Request, status int, why string, err error) {
	h.in.Log.WarnContext(r.Context(), "slack request rejected", "path", r.URL.Path, "status", status,
		"reason", why, "err", err, "remote", r.RemoteAddr)
	http.Error(w, http.StatusText(status), status)
}

// writeAck answers 200 with payload as JSON, or with an empty body when
// payload is nil.
func writeAck(w http.ResponseWriter, payload any) {
	if payload == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(payload)
}
