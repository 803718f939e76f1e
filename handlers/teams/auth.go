package teams

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

const (
	// DefaultMetadataURL is the Bot Framework's OpenID metadata document
	// for tokens sent to bots by channels (public cloud).
	DefaultMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	// MaxActivityBytes is the largest activity AuthenticateRequest reads.
	MaxActivityBytes = 1 << 20

	keyMaxAge        = 24 * time.Hour   // keys older than this are fetched again before use
	keyMinRefreshGap = time.Minute      // at most one fetch a minute, whatever asks for it
	clockSkew        = 5 * time.Minute  // allowed on exp, nbf and iat, as the SDKs do
	maxDocumentBytes = 1 << 20          // metadata and key set documents
	defaultTimeout   = 10 * time.Second // of the default HTTP client
)

// ErrUnauthenticated is in the chain of every error with which Authenticate
// refuses a request's credentials; the handler answers 401. The error's
// text says why, for the log; it never holds the token.
var ErrUnauthenticated = errors.New("unauthenticated")

// AuthConfig configures an Authenticator.
type AuthConfig struct {
	// AppID is the bot's Microsoft app id, the audience tokens must have.
	// Required.
	AppID string
	// MetadataURL is the OpenID metadata document naming the issuer and
	// the key set (default DefaultMetadataURL).
	MetadataURL string
	// HTTPClient fetches the metadata and the key set (default: a client
	// with a 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock for token lifetimes and key ages (default time.Now).
	Now func() time.Time
	// Logger receives key fetches and their failures (default: discard).
	Logger *slog.Logger
}

// Authenticator checks that inbound requests come from the Bot Framework
// for this bot. It is safe for concurrent use.
//
// Keys come from the metadata document's jwks_uri. They are cached; a set
// older than 24 hours is fetched again before it is used (if that fails,
// requests are refused as unavailable rather than checked against old
// keys), and a token with a key id not in the set causes one fetch at
// once. Fetches, whatever prompts them, happen one at a time and at most
// once a minute; the result of the last attempt stands in between.
type Authenticator struct {
	appID       string
	metadataURL string
	client      *http.Client
	now         func() time.Time
	log         *slog.Logger

	fetching chan struct{} // one slot: one fetch at a time

	mu          sync.Mutex
	keys        *keySet // nil before the first successful fetch
	lastAttempt time.Time
	lastErr     error // of the last attempt, nil when it succeeded
}

// keySet is one fetch of the metadata and key set; it is not changed
// after the fetch.
type keySet struct {
	issuer  string
	keys    map[string]botKey // by kid
	fetched time.Time
}

// botKey is a signing key and the channels it may sign for.
type botKey struct {
	public       *rsa.PublicKey
	endorsements []string
}

// NewAuthenticator returns an Authenticator for cfg. It fetches nothing
// until the first request. It fails with KindInvalid when AppID is empty
// or MetadataURL is not an absolute http(s) URL.
func NewAuthenticator(cfg AuthConfig) (*Authenticator, error) {
	if cfg.AppID == "" {
		return nil, appreg.Errorf(appreg.KindInvalid, "The bot's Microsoft app id is required to authenticate Teams requests.")
	}
	if cfg.MetadataURL == "" {
		cfg.MetadataURL = DefaultMetadataURL
	}
	if !absoluteHTTP(cfg.MetadataURL) {
		return nil, appreg.Errorf(appreg.KindInvalid, "The Bot Framework OpenID metadata URL %q is not an absolute http(s) URL.", cfg.MetadataURL)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: defaultTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{
		appID:       cfg.AppID,
		metadataURL: cfg.MetadataURL,
		client:      cfg.HTTPClient,
		now:         cfg.Now,
		log:         cfg.Logger,
		fetching:    make(chan struct{}, 1),
	}, nil
}

// AuthenticateRequest reads the activity POSTed in r (at most
// MaxActivityBytes) and authenticates it with Authenticate. A request
// without an Authorization header is refused before its body is read. A
// body that is too large or not an activity gives KindInvalid.
func (a *Authenticator) AuthenticateRequest(r *http.Request) (*Activity, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return nil, refused("the request has no Authorization header")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxActivityBytes+1))
	if err != nil {
		return nil, appreg.Wrap(appreg.KindInvalid, err, "The request body could not be read.")
	}
	if len(body) > MaxActivityBytes {
		return nil, appreg.Errorf(appreg.KindInvalid, "The request body is larger than %d bytes.", MaxActivityBytes)
	}
	var act Activity
	if err := json.Unmarshal(body, &act); err != nil {
		return nil, appreg.Wrap(appreg.KindInvalid, err, "The request body is not a Bot Framework activity.")
	}
	if err := a.Authenticate(r.Context(), header, &act); err != nil {
		return nil, err
	}
	return &act, nil
}

// Authenticate checks the Authorization header of a request that carried
// act. It returns nil only when the header is "Bearer {token}" and the
// token
//   - is a JWS signed with RS256 (no other algorithm) by a key of the
//     Bot Framework's current key set,
//   - has iss equal to the metadata's issuer and aud equal to the app id,
//   - has exp, and is within exp, nbf and iat with 5 minutes of skew,
//   - has a serviceurl claim equal to act.ServiceURL,
//
// and the key's endorsements contain act.ChannelID.
//
// A refusal is an *appreg.Error of KindForbidden with ErrUnauthenticated in
// its chain (answer 401); when the keys cannot be fetched the error is of
// KindUnavailable (answer 503, so that the Bot Framework retries). No error
// holds the token.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string, act *Activity) error {
	scheme, raw, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	raw = strings.TrimSpace(raw)
	switch {
	case authorization == "":
		return refused("the request has no Authorization header")
	case !strings.EqualFold(scheme, "Bearer") || raw == "":
		return refused("the Authorization header is not a bearer token")
	case act == nil || act.ServiceURL == "":
		return refused("the activity has no serviceUrl")
	case act.ChannelID == "":
		return refused("the activity has no channelId")
	}

	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return refused("the token is not an RS256-signed JWT: %v", err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return refused("the token names no signing key (kid)")
	}
	kid := tok.Headers[0].KeyID
	set, key, err := a.key(ctx, kid)
	if err != nil {
		return err
	}

	var claims jwt.Claims
	var bot struct {
		ServiceURL string `json:"serviceurl"`
	}
	if err := tok.Claims(key.public, &claims, &bot); err != nil {
		return refused("the token's signature does not verify with key %s: %v", quote(kid), err)
	}
	now := a.now()
	if claims.Expiry == nil {
		return refused("the token has no expiry (exp)")
	}
	err = claims.ValidateWithLeeway(jwt.Expected{Issuer: set.issuer, AnyAudience: jwt.Audience{a.appID}, Time: now}, clockSkew)
	switch {
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return refused("the token's issuer %s is not the Bot Framework's %s", quote(claims.Issuer), quote(set.issuer))
	case errors.Is(err, jwt.ErrInvalidAudience):
		return refused("the token's audience %s is not the bot's app id", quote(strings.Join(claims.Audience, ",")))
	case errors.Is(err, jwt.ErrExpired):
		return refused("the token expired at %s (now %s, %s of skew allowed)", stamp(claims.Expiry), now.UTC().Format(time.RFC3339), clockSkew)
	case errors.Is(err, jwt.ErrNotValidYet):
		return refused("the token is not valid before %s (now %s, %s of skew allowed)", stamp(claims.NotBefore), now.UTC().Format(time.RFC3339), clockSkew)
	case err != nil:
		return refused("the token's claims are not valid: %v", err)
	}
	switch {
	case bot.ServiceURL == "":
		return refused("the token has no serviceurl claim")
	case bot.ServiceURL != act.ServiceURL:
		return refused("the token's serviceurl %s is not the activity's serviceUrl %s", quote(bot.ServiceURL), quote(act.ServiceURL))
	case !slices.Contains(key.endorsements, act.ChannelID):
		return refused("key %s is not endorsed for channel %s (endorsements %s)", quote(kid), quote(act.ChannelID), quote(strings.Join(key.endorsements, ",")))
	}
	return nil
}

// StatusCode is the HTTP status with which /api/messages answers a request
// for which AuthenticateRequest or Authenticate returned err: 200 for nil,
// 401 for a refusal, 400 for KindInvalid, 503 for KindUnavailable (the
// Bot Framework retries), 500 otherwise.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	}
	switch appreg.ErrorKind(err) {
	case appreg.KindInvalid:
		return http.StatusBadRequest
	case appreg.KindUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// key returns the key kid of a current key set, fetching the set when it is
// missing or older than 24 hours, and once more (rate-limited) when kid is
// not in it.
func (a *Authenticator) key(ctx context.Context, kid string) (*keySet, botKey, error) {
	a.mu.Lock()
	set := a.keys
	a.mu.Unlock()
	if set == nil || a.now().Sub(set.fetched) >= keyMaxAge {
		var err error
		if set, err = a.refresh(ctx, set); err != nil {
			return nil, botKey{}, err
		}
		if set == nil || a.now().Sub(set.fetched) >= keyMaxAge {
			return nil, botKey{}, appreg.Wrap(appreg.KindUnavailable, errors.New("no key set fetched in the last 24 hours"), unavailableMessage)
		}
	}
	if k, ok := set.keys[kid]; ok {
		return set, k, nil
	}
	set, err := a.refresh(ctx, set)
	if err != nil {
		return nil, botKey{}, err
	}
	if k, ok := set.keys[kid]; ok {
		return set, k, nil
	}
	return nil, botKey{}, refused("key %s is not in the Bot Framework's key set", quote(kid))
}

const unavailableMessage = "The Bot Framework's signing keys could not be fetched, so Teams requests cannot be authenticated now."

// refresh fetches the metadata and the key set, unless another caller
// replaced seen meanwhile (then it returns that set) or the last attempt is
// less than a minute old (then it returns the cached set, or the last
// attempt's error when that failed). seen is the set the caller found
// wanting, nil if none.
func (a *Authenticator) refresh(ctx context.Context, seen *keySet) (*keySet, error) {
	select {
	case a.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, appreg.Wrap(appreg.KindUnavailable, ctx.Err(), unavailableMessage)
	}
	defer func() { <-a.fetching }()

	a.mu.Lock()
	cur, last, lastErr := a.keys, a.lastAttempt, a.lastErr
	a.mu.Unlock()
	if cur != seen {
		return cur, nil
	}
	now := a.now()
	if !last.IsZero() && now.Sub(last) < keyMinRefreshGap {
		if lastErr != nil {
			return nil, lastErr
		}
		return cur, nil
	}

	set, err := a.fetch(ctx, now)
	if err != nil && ctx.Err() != nil { // the caller gave up: no attempt to count
		return nil, appreg.Wrap(appreg.KindUnavailable, ctx.Err(), unavailableMessage)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastAttempt, a.lastErr = now, err
	if err != nil {
		a.log.WarnContext(ctx, "teams: fetching the Bot Framework signing keys failed", "metadata_url", a.metadataURL, "err", err)
		return nil, err
	}
	a.keys = set
	a.log.InfoContext(ctx, "teams: Bot Framework signing keys fetched", "metadata_url", a.metadataURL,
		"issuer", set.issuer, "keys", len(set.keys))
	return set, nil
}

// fetch reads the metadata document and the key set it names. Keys that
// are not RSA public signing keys with a kid are skipped; a set with none
// left is an error. Errors are of KindUnavailable.
func (a *Authenticator) fetch(ctx context.Context, now time.Time) (*keySet, error) {
	fail := func(err error) (*keySet, error) {
		return nil, appreg.Wrap(appreg.KindUnavailable, err, unavailableMessage)
	}
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := a.getJSON(ctx, a.metadataURL, &meta); err != nil {
		return fail(fmt.Errorf("OpenID metadata: %w", err))
	}
	if meta.Issuer == "" || !absoluteHTTP(meta.JWKSURI) {
		return fail(fmt.Errorf("OpenID metadata %s names no issuer or no absolute jwks_uri", a.metadataURL))
	}
	var jwks struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := a.getJSON(ctx, meta.JWKSURI, &jwks); err != nil {
		return fail(fmt.Errorf("key set: %w", err))
	}
	set := &keySet{issuer: meta.Issuer, keys: map[string]botKey{}, fetched: now}
	for i, raw := range jwks.Keys {
		var ext struct {
			Kid          string   `json:"kid"`
			Use          string   `json:"use"`
			Endorsements []string `json:"endorsements"`
		}
		var jwk jose.JSONWebKey
		err := json.Unmarshal(raw, &ext)
		if err == nil {
			err = jwk.UnmarshalJSON(raw)
		}
		public, isRSA := jwk.Key.(*rsa.PublicKey)
		switch {
		case err != nil:
		case !isRSA:
			err = errors.New("not an RSA public key")
		case ext.Kid == "":
			err = errors.New("no kid")
		case ext.Use != "" && ext.Use != "sig":
			err = fmt.Errorf("use %q", ext.Use)
		}
		if _, dup := set.keys[ext.Kid]; err == nil && dup {
			err = errors.New("a second key with the same kid")
		}
		if err != nil {
			a.log.WarnContext(ctx, "teams: skipping a Bot Framework key", "index", i, "kid", ext.Kid, "err", err)
			continue
		}
		set.keys[ext.Kid] = botKey{public: public, endorsements: ext.Endorsements}
	}
	if len(set.keys) == 0 {
		return fail(fmt.Errorf("key set %s holds no usable RSA signing key", meta.JWKSURI))
	}
	return set, nil
}

// getJSON GETs url and decodes its JSON body (at most 1 MiB) into v.
func (a *Authenticator) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxDocumentBytes {
		return fmt.Errorf("GET %s: larger than %d bytes", url, maxDocumentBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// refused returns a refusal: KindForbidden, ErrUnauthenticated, the reason.
func refused(format string, args ...any) error {
	return &appreg.Error{
		Kind:    appreg.KindForbidden,
		Message: "The request was not sent by the Bot Framework for this bot.",
		Err:     fmt.Errorf("%w: "+format, append([]any{ErrUnauthenticated}, args...)...),
	}
}

// quote quotes a value that may come from an unauthenticated request for
// the log, cut to 100 bytes.
func quote(s string) string {
	if len(s) > 100 {
		cut := 100
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func stamp(d *jwt.NumericDate) string {
	if d == nil {
		return "(none)"
	}
	return d.Time().UTC().Format(time.RFC3339)
}

func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
