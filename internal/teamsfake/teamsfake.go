// Package teamsfake is a fake of the Microsoft side of a Teams bot for
// tests: the Bot Framework's OpenID metadata and signing keys, the
// Microsoft Entra ID token endpoint the bot gets its connector token from,
// and the Bot Connector REST API the bot sends activities to.
//
// A Server is one httptest TLS server (azidentity only talks to an HTTPS
// authority) speaking the real wire protocols, so the real clients can be
// pointed at it: an Authenticator at MetadataURL, azidentity's
// ClientSecretCredential at AuthorityHost (with DisableInstanceDiscovery and
// Client as transport), and the Connector at ServiceURL.
//
//   - Keys and tokens: the metadata document names the issuer and the key
//     set; every key is a 2048-bit RSA key with a kid, an x5t, a self-signed
//     x5c certificate and the Bot Framework's "endorsements" (the channels
//     the key may sign for). Sign returns the Authorization header Teams
//     would send with an activity; SignOptions break it in the ways a test
//     needs (another key, a key not in the set, expired, wrong audience,
//     issuer or serviceurl, alg none or HS256). AddKey, RotateKey and
//     RemoveKey change the published set.
//   - Entra: GET /{tenant}/v2.0/.well-known/openid-configuration and POST
//     /{tenant}/oauth2/v2.0/token with the client-credentials grant, for
//     the bot's app id and password and the Bot Framework scope only. Every
//     token request is recorded (TokenRequests), so a test can assert that
//     the client cached its token.
//   - Connector: POST {serviceUrl}v3/conversations/{id}/activities (send),
//     POST …/activities/{replyToId} (reply), PUT …/activities/{activityId}
//     (update) and POST {serviceUrl}v3/conversations (create a 1:1 chat).
//     Calls need a bearer token the fake issued and not expired; each is
//     recorded with the token presented (Calls, WaitFor). Users for whom
//     the app is not installed (Uninstall) get 403 on create; FailNext and
//     FailTokens inject failures (429 or 503 with Retry-After, any status)
//     for the next calls.
//
// The package does not import the bot's Teams adapter: it knows the wire,
// not the client. Its methods are safe for concurrent use.
package teamsfake

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/appreg-bot/appreg-bot/internal/fakes/calls"
)

// Defaults of the fake, the values of the real Bot Framework where there is
// one.
const (
	Issuer        = "https://api.botframework.com"          // the iss of channel tokens
	Scope         = "https://api.botframework.com/.default" // the connector's token scope
	DefaultTenant = "botframework.com"                      // the tenant of multi-tenant bots
	ChannelID     = "msteams"                               // the channelId of Teams activities
	region        = "amer"                                  // the path of ServiceURL
)

// The operations of the connector.
const (
	OpSend   = "send"   // POST v3/conversations/{id}/activities
	OpReply  = "reply"  // POST v3/conversations/{id}/activities/{replyToId}
	OpUpdate = "update" // PUT v3/conversations/{id}/activities/{activityId}
	OpCreate = "create" // POST v3/conversations
)

// Options configures a Server.
type Options struct {
	AppID       string // the bot's Microsoft app id: audience of Sign's tokens, client id at the token endpoint; required
	AppPassword string // the client secret the token endpoint accepts; required
	// Tenant is the tenant the token endpoint serves (default
	// "botframework.com"); requests for another get AADSTS90002.
	Tenant string
	// Endorsements of the first signing key (default ["msteams"]).
	Endorsements []string
	// Now is the clock of signed tokens and of issued access tokens
	// (default time.Now).
	Now func() time.Time
	// TokenLifetime is the lifetime of issued access tokens (default 1h).
	TokenLifetime time.Duration
}

// Activity is what the fake decodes of an activity sent to the connector;
// Raw holds the whole body.
type Activity struct {
	Type        string          `json:"type"`
	ID          string          `json:"id"`
	Text        string          `json:"text"`
	TextFormat  string          `json:"textFormat"`
	ReplyToID   string          `json:"replyToId"`
	Attachments []Attachment    `json:"attachments"`
	Entities    json.RawMessage `json:"entities"`
	Value       json.RawMessage `json:"value"`
	ChannelData json.RawMessage `json:"channelData"`
	Raw         json.RawMessage `json:"-"`
}

// Attachment is an attachment of a sent activity.
type Attachment struct {
	ContentType string          `json:"contentType"`
	Content     json.RawMessage `json:"content"`
}

// Account is a channel account in a conversation's parameters.
type Account struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// ConversationParameters is the body of a create-conversation call.
type ConversationParameters struct {
	Bot         Account   `json:"bot"`
	Members     []Account `json:"members"`
	IsGroup     bool      `json:"isGroup"`
	TenantID    string    `json:"tenantId"`
	ChannelData struct {
		Tenant struct {
			ID string `json:"id"`
		} `json:"tenant"`
	} `json:"channelData"`
}

// Call is one recorded connector call.
type Call struct {
	Op             string // OpSend, OpReply, OpUpdate, OpCreate; "" for a path the connector does not serve
	Method         string
	RequestURI     string // as sent, with its escaping
	ServiceURL     string // the service URL the call was made under, with a trailing slash
	ConversationID string // unescaped; for OpCreate the conversation answered
	ActivityID     string // OpReply: the activity replied to; OpUpdate: the activity updated
	Token          string // the bearer token presented, "" if none
	Activity       Activity
	Create         *ConversationParameters // OpCreate
	Status         int                     // the HTTP status answered
	ID             string                  // the id answered: the new activity's, or the created conversation's
	At             time.Time
}

// Message is the current state of an activity the connector accepted.
type Message struct {
	ConversationID string
	ID             string
	ReplyToID      string
	Activity       Activity
	Updates        int
}

// TokenRequest is one recorded request to the token endpoint.
type TokenRequest struct {
	Tenant    string
	GrantType string
	ClientID  string
	Scope     string
	Error     string // the OAuth error answered; "" when a token was issued
	At        time.Time
}

// Failure is an injected answer to a call.
type Failure struct {
	Status int // HTTP status, e.g. 429 or 503; required
	// RetryAfter is sent as the Retry-After header when not empty: seconds
	// ("2") or an HTTP date.
	RetryAfter string
	// Code and Message make the error body (defaults from Status).
	Code, Message string
	// EchoCredentials makes the body repeat what the request carried: the
	// Authorization header (connector) or the client secret (token
	// endpoint), as a misbehaving proxy might. For tests that errors and
	// logs never show them.
	EchoCredentials bool
}

// SignOptions alter the token Sign makes; the zero value makes a valid one.
type SignOptions struct {
	// KeyID signs with that key: any key the fake made, in the set or
	// withdrawn from it (default: the signing key).
	KeyID string
	// ForgeSignature signs with a key that is not the one KeyID names but
	// keeps its kid: the signature does not verify.
	ForgeSignature bool
	// UnlistedKey signs with a fresh key whose kid is in no key set.
	UnlistedKey bool
	// Algorithm "none" sends an unsigned token; "HS256" signs with HMAC
	// keyed with the signing key's public key in PEM (the algorithm
	// confusion attack). Default RS256.
	Algorithm string
	// Audience, Issuer and ServiceURL replace the claims when not empty.
	Audience, Issuer, ServiceURL string
	// OmitServiceURL leaves the serviceurl claim out.
	OmitServiceURL bool
	// IssuedAt, NotBefore and Expires replace the times when not zero
	// (default: now, now, now + 1h).
	IssuedAt, NotBefore, Expires time.Time
}

type signingKey struct {
	kid          string
	priv         *rsa.PrivateKey
	cert         *x509.Certificate
	endorsements []string
}

type issued struct {
	scope   string
	expires time.Time
}

// Server is the fake. Create it with New and Close it when done.
type Server struct {
	opts Options
	srv  *httptest.Server

	calls calls.Log[Call] // every call answered, oldest first; it has its own lock

	mu            sync.Mutex
	keys          []*signingKey          // the published set, in order
	made          map[string]*signingKey // every key made, by kid
	signing       *signingKey
	tokens        map[string]issued
	tokenRequests []TokenRequest
	tokenFailures []Failure
	failures      []Failure
	notInstalled  map[string]bool
	chats         map[string]string   // user id → 1:1 conversation id
	messages      map[string]*Message // conversation id + "\n" + activity id
	seq           int64
	metadataGets  int
	keysGets      int
}

// New starts a fake with one signing key. It panics when AppID or
// AppPassword is missing: a bug in the test.
func New(opts Options) *Server {
	if opts.AppID == "" || opts.AppPassword == "" {
		panic("teamsfake: Options.AppID and Options.AppPassword are required")
	}
	if opts.Tenant == "" {
		opts.Tenant = DefaultTenant
	}
	if len(opts.Endorsements) == 0 {
		opts.Endorsements = []string{ChannelID}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	s := &Server{
		opts:         opts,
		tokens:       map[string]issued{},
		made:         map[string]*signingKey{},
		notInstalled: map[string]bool{},
		chats:        map[string]string{},
		messages:     map[string]*Message{},
		seq:          1700000000000,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/.well-known/openidconfiguration", s.serveMetadata)
	mux.HandleFunc("GET /v1/.well-known/keys", s.serveKeys)
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.serveEntraConfiguration)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.serveToken)
	mux.HandleFunc("POST /{region}/v3/conversations", s.connector(OpCreate))
	mux.HandleFunc("POST /{region}/v3/conversations/{conversation}/activities", s.connector(OpSend))
	mux.HandleFunc("POST /{region}/v3/conversations/{conversation}/activities/{activity}", s.connector(OpReply))
	mux.HandleFunc("PUT /{region}/v3/conversations/{conversation}/activities/{activity}", s.connector(OpUpdate))
	s.srv = httptest.NewTLSServer(mux)
	s.signing = s.addKey(opts.Endorsements)
	return s
}

// URL is the base URL of the fake, without a trailing slash.
func (s *Server) URL() string { return s.srv.URL }

// Client is an HTTP client that trusts the fake's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close shuts the fake down.
func (s *Server) Close() { s.srv.Close() }

// MetadataURL is the URL of the Bot Framework OpenID metadata document.
func (s *Server) MetadataURL() string { return s.URL() + "/v1/.well-known/openidconfiguration" }

// AuthorityHost is the Entra authority host, for azidentity's
// cloud.Configuration.ActiveDirectoryAuthorityHost.
func (s *Server) AuthorityHost() string { return s.URL() + "/" }

// ServiceURL is the serviceUrl of activities from this fake, with the
// trailing slash Teams sends.
func (s *Server) ServiceURL() string { return s.URL() + "/" + region + "/" }

// AppID is the bot's app id the fake was made for.
func (s *Server) AppID() string { return s.opts.AppID }

// BotID is the bot's Teams account id, "28:{app id}".
func (s *Server) BotID() string { return "28:" + s.opts.AppID }

// Fetches returns how many times the metadata document and the key set
// were fetched.
func (s *Server) Fetches() (metadata, keys int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.metadataGets, s.keysGets
}

// SigningKeyID returns the kid of the key Sign uses by default.
func (s *Server) SigningKeyID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signing.kid
}

// AddKey publishes a new key endorsed for the given channels and returns
// its kid. It does not become the default signing key.
func (s *Server) AddKey(endorsements ...string) string {
	return s.addKey(endorsements).kid
}

// RotateKey publishes a new key with the endorsements of the signing key,
// makes it the signing key and withdraws the old one. It returns the new
// kid.
func (s *Server) RotateKey() string {
	s.mu.Lock()
	old := s.signing
	s.mu.Unlock()
	k := s.addKey(old.endorsements)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signing = k
	s.keys = slices.DeleteFunc(s.keys, func(x *signingKey) bool { return x == old })
	return k.kid
}

// RemoveKey withdraws a key from the published set; Sign can still use it
// by KeyID.
func (s *Server) RemoveKey(kid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = slices.DeleteFunc(s.keys, func(x *signingKey) bool { return x.kid == kid })
}

func (s *Server) addKey(endorsements []string) *signingKey {
	k := newKey(endorsements)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, k)
	s.made[k.kid] = k
	return k
}

// newKey makes an RSA key with a self-signed certificate, as the Bot
// Framework's keys come with.
func newKey(endorsements []string) *signingKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "login.botframework.com (teamsfake)"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * 365 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return &signingKey{kid: randomID(), priv: priv, cert: cert, endorsements: slices.Clone(endorsements)}
}

// Sign returns the Authorization header ("Bearer …") the Bot Framework
// sends with activity: a token for the bot's app id whose serviceurl claim
// is the activity's serviceUrl. activity is JSON ([]byte or
// json.RawMessage) or a value to encode; Sign panics when it cannot be
// encoded, a bug in the test.
func (s *Server) Sign(activity any, o SignOptions) string {
	var body []byte
	switch a := activity.(type) {
	case []byte:
		body = a
	case json.RawMessage:
		body = a
	default:
		var err error
		if body, err = json.Marshal(a); err != nil {
			panic(fmt.Sprintf("teamsfake: Sign: %v", err))
		}
	}
	var fields struct {
		ServiceURL string `json:"serviceUrl"`
	}
	_ = json.Unmarshal(body, &fields)

	s.mu.Lock()
	key := s.signing
	if o.KeyID != "" {
		key = s.made[o.KeyID]
	}
	s.mu.Unlock()
	if key == nil {
		panic("teamsfake: Sign: no key " + o.KeyID)
	}
	kid, priv := key.kid, key.priv
	switch {
	case o.UnlistedKey:
		other := newKey(nil)
		kid, priv = other.kid, other.priv
	case o.ForgeSignature:
		priv = newKey(nil).priv
	}

	now := s.opts.Now()
	claims := map[string]any{
		"iss": cmp.Or(o.Issuer, Issuer),
		"aud": cmp.Or(o.Audience, s.opts.AppID),
		"iat": unixOr(o.IssuedAt, now),
		"nbf": unixOr(o.NotBefore, now),
		"exp": unixOr(o.Expires, now.Add(time.Hour)),
	}
	if !o.OmitServiceURL {
		claims["serviceurl"] = cmp.Or(o.ServiceURL, fields.ServiceURL)
	}

	switch o.Algorithm {
	case "", "RS256":
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			panic(err)
		}
		tok, err := jwt.Signed(signer).Claims(claims).Serialize()
		if err != nil {
			panic(err)
		}
		return "Bearer " + tok
	case "none":
		return "Bearer " + compact(map[string]any{"alg": "none", "typ": "JWT", "kid": kid}, claims, nil)
	case "HS256":
		der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		return "Bearer " + compact(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, claims, func(in []byte) []byte {
			mac := hmac.New(sha256.New, secret)
			mac.Write(in)
			return mac.Sum(nil)
		})
	default:
		panic("teamsfake: Sign: unknown algorithm " + o.Algorithm)
	}
}

// Deliver POSTs activity to the bot's endpoint (e.g. its /api/messages)
// with the header Sign makes, as the Bot Framework does. The caller closes
// the response body.
func (s *Server) Deliver(ctx context.Context, client *http.Client, endpoint string, activity any, o SignOptions) (*http.Response, error) {
	body, ok := activity.([]byte)
	if !ok {
		var err error
		if body, err = json.Marshal(activity); err != nil {
			return nil, fmt.Errorf("teamsfake: encode activity: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", s.Sign(body, o))
	if client == nil {
		client = http.DefaultClient
	}
	return client.Do(req)
}

func compact(header, claims map[string]any, sign func([]byte) []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	if sign == nil {
		return in + "."
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(in)))
}

func unixOr(t, def time.Time) int64 {
	if t.IsZero() {
		return def.Unix()
	}
	return t.Unix()
}

// Uninstall makes create-conversation calls for these users (29:… ids)
// fail with 403, as Teams answers when the app is not installed for the
// user in personal scope.
func (s *Server) Uninstall(userIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range userIDs {
		s.notInstalled[id] = true
	}
}

// FailNext answers the next times connector calls with f.
func (s *Server) FailNext(times int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range times {
		s.failures = append(s.failures, f)
	}
}

// RateLimit answers the next times connector calls with 429 Too Many
// Requests and the Retry-After header retryAfter (seconds or an HTTP date).
func (s *Server) RateLimit(times int, retryAfter string) {
	s.FailNext(times, Failure{Status: http.StatusTooManyRequests, RetryAfter: retryAfter})
}

// FailTokens answers the next times token requests with f.
func (s *Server) FailTokens(times int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range times {
		s.tokenFailures = append(s.tokenFailures, f)
	}
}

// TokenRequests returns the recorded token requests, oldest first.
func (s *Server) TokenRequests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokenRequests)
}

// Calls returns the recorded connector calls of op ("" for all), oldest
// first.
func (s *Server) Calls(op string) []Call {
	return s.calls.Matching(ofOp(op, nil))
}

// WaitFor waits until a connector call of op ("" for any) satisfying pred
// (nil for any) has been recorded and returns the first such call, or
// ctx's error when ctx ends first.
func (s *Server) WaitFor(ctx context.Context, op string, pred func(Call) bool) (Call, error) {
	c, err := s.calls.WaitFor(ctx, ofOp(op, pred))
	if err != nil {
		return Call{}, fmt.Errorf("teamsfake: waiting for a %q call: %w", op, err)
	}
	return c, nil
}

// ofOp matches the calls of op ("" for any) that satisfy pred (nil for
// any).
func ofOp(op string, pred func(Call) bool) func(Call) bool {
	return func(c Call) bool {
		return (op == "" || c.Op == op) && (pred == nil || pred(c))
	}
}

// Message returns the current state of an activity the connector accepted
// in a conversation (after any updates).
func (s *Server) Message(conversationID, activityID string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[conversationID+"\n"+activityID]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Conversation returns the 1:1 conversation created with a user, if any.
func (s *Server) Conversation(userID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.chats[userID]
	return id, ok
}

func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.metadataGets++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                Issuer,
		"authorization_endpoint":                "https://invalid.botframework.com",
		"jwks_uri":                              s.URL() + "/v1/.well-known/keys",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
	})
}

func (s *Server) serveKeys(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.keysGets++
	keys := slices.Clone(s.keys)
	s.mu.Unlock()
	out := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		thumb := sha1.Sum(k.cert.Raw)
		jwk := jose.JSONWebKey{
			Key: &k.priv.PublicKey, KeyID: k.kid, Use: "sig",
			Certificates: []*x509.Certificate{k.cert}, CertificateThumbprintSHA1: thumb[:],
		}
		b, err := jwk.MarshalJSON()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		m["endorsements"] = k.endorsements
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (s *Server) serveEntraConfiguration(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if tenant != s.opts.Tenant {
		s.oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant), "")
		return
	}
	base := s.URL() + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                   base + "/v2.0",
		"authorization_endpoint":   base + "/oauth2/v2.0/authorize",
		"token_endpoint":           base + "/oauth2/v2.0/token",
		"jwks_uri":                 base + "/discovery/v2.0/keys",
		"response_types_supported": []string{"code", "id_token", "code id_token", "id_token token"},
		"tenant_region_scope":      "WW",
		"cloud_instance_name":      "microsoftonline.com",
	})
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	req := TokenRequest{
		Tenant: tenant, GrantType: r.PostFormValue("grant_type"), ClientID: r.PostFormValue("client_id"),
		Scope: r.PostFormValue("scope"), At: s.opts.Now(),
	}
	secret := r.PostFormValue("client_secret")
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(status int, code string, aadsts int, description, echo string) {
		req.Error = code
		s.oauthError(w, status, code, aadsts, description, echo)
	}
	defer func() { s.tokenRequests = append(s.tokenRequests, req) }()

	if len(s.tokenFailures) > 0 {
		f := s.tokenFailures[0]
		s.tokenFailures = s.tokenFailures[1:]
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		echo := ""
		if f.EchoCredentials {
			echo = secret
		}
		fail(f.Status, cmp.Or(f.Code, "temporarily_unavailable"), 0, cmp.Or(f.Message, http.StatusText(f.Status)+"."), echo)
		return
	}
	var scopes []string
	for _, f := range strings.Fields(req.Scope) {
		if !slices.Contains([]string{"openid", "profile", "offline_access"}, f) {
			scopes = append(scopes, f)
		}
	}
	switch {
	case tenant != s.opts.Tenant:
		fail(http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant), "")
	case req.GrantType != "client_credentials":
		fail(http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+req.GrantType+"'.", "")
	case req.ClientID != s.opts.AppID:
		fail(http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", req.ClientID, tenant), "")
	case secret != s.opts.AppPassword:
		fail(http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", req.ClientID), "")
	case len(scopes) != 1 || scopes[0] != Scope:
		fail(http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid.", req.Scope), "")
	default:
		expires := s.opts.Now().Add(s.opts.TokenLifetime)
		at := compact(map[string]any{"alg": "none", "typ": "JWT"}, map[string]any{
			"aud": "https://api.botframework.com", "iss": s.URL() + "/" + tenant + "/v2.0", "appid": req.ClientID,
			"exp": expires.Unix(), "uti": randomID(),
		}, nil)
		s.tokens[at] = issued{scope: Scope, expires: expires}
		secs := int(s.opts.TokenLifetime / time.Second)
		writeJSON(w, http.StatusOK, map[string]any{
			"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": at,
		})
	}
}

// oauthError writes an error the way Entra's token service does (aadsts 0:
// no AADSTS code); echo, if not empty, is appended to the description.
func (s *Server) oauthError(w http.ResponseWriter, status int, code string, aadsts int, description, echo string) {
	trace, corr := randomID(), randomID()
	now := s.opts.Now().UTC().Format("2006-01-02 15:04:05Z")
	if echo != "" {
		description += " (request had client_secret=" + echo + ")"
	}
	prefix, codes := "", []int{}
	if aadsts != 0 {
		prefix, codes = fmt.Sprintf("AADSTS%d: ", aadsts), []int{aadsts}
	}
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("%s%s Trace ID: %s Correlation ID: %s Timestamp: %s", prefix, description, trace, corr, now),
		"error_codes":       codes,
		"timestamp":         now,
		"trace_id":          trace,
		"correlation_id":    corr,
	})
}

// connector serves one operation of the Bot Connector API.
func (s *Server) connector(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		call := Call{
			Op: op, Method: r.Method, RequestURI: r.RequestURI,
			ServiceURL:     s.URL() + "/" + r.PathValue("region") + "/",
			ConversationID: r.PathValue("conversation"), ActivityID: r.PathValue("activity"),
			At: s.opts.Now(),
		}
		auth := r.Header.Get("Authorization")
		if scheme, tok, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
			call.Token = tok
		}

		s.mu.Lock()
		defer s.mu.Unlock()
		defer func() {
			s.calls.Record(call)
		}()
		answer := func(status int, v any) {
			call.Status = status
			writeJSON(w, status, v)
		}
		fail := func(status int, code, message string) {
			answer(status, map[string]any{"error": map[string]string{"code": code, "message": message}})
		}

		if t, ok := s.tokens[call.Token]; !ok || t.scope != Scope || !s.opts.Now().Before(t.expires) {
			answer(http.StatusUnauthorized, map[string]string{"message": "Authorization has been denied for this request."})
			return
		}
		if len(s.failures) > 0 {
			f := s.failures[0]
			s.failures = s.failures[1:]
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			msg := cmp.Or(f.Message, http.StatusText(f.Status))
			if f.EchoCredentials {
				msg += " (request had Authorization: " + auth + ")"
			}
			fail(f.Status, cmp.Or(f.Code, strings.ReplaceAll(http.StatusText(f.Status), " ", "")), msg)
			return
		}
		if r.Header.Get("Content-Type") != "" && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			fail(http.StatusUnsupportedMediaType, "BadSyntax", "The request's content type is not supported.")
			return
		}

		if op == OpCreate {
			var p ConversationParameters
			if err := json.Unmarshal(body, &p); err != nil {
				fail(http.StatusBadRequest, "BadSyntax", "Invalid JSON: "+err.Error())
				return
			}
			call.Create = &p
			switch {
			case p.Bot.ID != s.BotID() && p.Bot.ID != s.opts.AppID:
				fail(http.StatusBadRequest, "BadArgument", "The bot id does not match the bot's app id.")
			case len(p.Members) != 1 || p.Members[0].ID == "" || p.IsGroup:
				fail(http.StatusBadRequest, "BadArgument", "A 1:1 conversation needs exactly one member.")
			case p.TenantID == "" || p.ChannelData.Tenant.ID == "":
				fail(http.StatusBadRequest, "BadArgument", "The tenant id must be provided.")
			case s.notInstalled[p.Members[0].ID]:
				fail(http.StatusForbidden, "Forbidden", "The bot is not installed for the user in personal scope.")
			default:
				user := p.Members[0].ID
				id, ok := s.chats[user]
				if !ok {
					id = "a:1" + randomID()
					s.chats[user] = id
				}
				call.ConversationID, call.ID = id, id
				answer(http.StatusCreated, map[string]string{"id": id})
			}
			return
		}

		if err := json.Unmarshal(body, &call.Activity); err != nil {
			fail(http.StatusBadRequest, "BadSyntax", "Invalid JSON: "+err.Error())
			return
		}
		call.Activity.Raw = slices.Clone(body)
		if call.Activity.Type == "" {
			fail(http.StatusBadRequest, "BadArgument", "The activity has no type.")
			return
		}
		switch op {
		case OpSend, OpReply:
			s.seq++
			id := strconv.FormatInt(s.seq, 10)
			s.messages[call.ConversationID+"\n"+id] = &Message{
				ConversationID: call.ConversationID, ID: id, ReplyToID: call.ActivityID, Activity: call.Activity,
			}
			call.ID = id
			answer(http.StatusCreated, map[string]string{"id": id})
		case OpUpdate:
			m, ok := s.messages[call.ConversationID+"\n"+call.ActivityID]
			if !ok {
				fail(http.StatusNotFound, "NotFound", "The activity was not found.")
				return
			}
			m.Activity = call.Activity
			m.Updates++
			call.ID = call.ActivityID
			answer(http.StatusOK, map[string]string{"id": call.ActivityID})
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// randomID returns 26 random base32 characters.
func randomID() string { return rand.Text() }
