package teams

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/safeurl"
)

const (
	// DefaultTenant is the token tenant of a multi-tenant bot; a
	// single-tenant bot uses its own tenant id.
	DefaultTenant = "botframework.com"
	// DefaultScope is the scope of the Bot Connector's token (public
	// cloud).
	DefaultScope = "https://api.botframework.com/.default"

	defaultMaxRetries   = 3
	defaultMaxRetryWait = 30 * time.Second
	connectorTimeout    = 30 * time.Second
	maxResponseBytes    = 1 << 20
	maxRetryAfter       = 24 * time.Hour
)

// ErrAppNotInstalled is in the chain of the error CreateConversation
// returns when Teams refuses a 1:1 chat because the bot's app is not
// installed for the user in personal scope (HTTP 403 or 404). The error is
// of KindForbidden and its message tells the user what to do.
var ErrAppNotInstalled = errors.New("the bot's Teams app is not installed for the user")

// ConnectorConfig configures a Connector.
type ConnectorConfig struct {
	// AppID is the bot's Microsoft app id. Required.
	AppID string
	// AppPassword is the bot's client secret. Required unless Credential
	// is set. It never appears in an error or a log line.
	AppPassword string
	// Credential replaces the client-secret credential (e.g. a managed
	// identity); AppPassword, Tenant, AuthorityHost and
	// DisableInstanceDiscovery are then unused.
	Credential azcore.TokenCredential
	// Tenant is the tenant tokens are requested from (default
	// DefaultTenant; a single-tenant bot's own tenant id).
	Tenant string
	// AuthorityHost is the Entra ID host, e.g.
	// "https://login.microsoftonline.us/". Empty: azidentity's default,
	// which is AZURE_AUTHORITY_HOST when set and the public cloud if not.
	AuthorityHost string
	// DisableInstanceDiscovery skips MSAL's instance discovery (needed for
	// a fake authority, and for private clouds).
	DisableInstanceDiscovery bool
	// Scope is the token scope (default DefaultScope).
	Scope string
	// HTTPClient makes the connector calls and the token requests
	// (default: a client with a 30 s timeout).
	HTTPClient *http.Client
	// MaxRetries is how many times a call answered 429 or 5xx is retried
	// (default 3; negative: never).
	MaxRetries int
	// MaxRetryWait is the longest wait before a retry (default 30 s). A
	// Retry-After longer than this is not waited out: the call fails at
	// once with it.
	MaxRetryWait time.Duration
	// Now is the clock for Retry-After dates (default time.Now).
	Now func() time.Time
	// Sleep waits d or until ctx ends (default: a timer).
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives retries (default: discard).
	Logger *slog.Logger
}

// Connector is the client of the Bot Connector REST API: it sends, replies
// to and updates activities in Teams conversations and opens 1:1 chats. It
// is safe for concurrent use.
//
// It sends only to the serviceUrl its caller passes, which must be that of
// an authenticated activity (https; http only to a loopback host, for a
// local emulator). Each call carries a token of the bot's app from
// azidentity, which caches it and renews it before it expires. A call
// answered 429 or 5xx is retried up to MaxRetries times after the
// Retry-After the answer gives (or 1 s, 2 s, 4 s … when it gives none),
// each wait at most MaxRetryWait; then it fails with KindUnavailable and a
// *ThrottledError in the chain. The Bot Connector takes no idempotency
// key: a POST that Teams carried out but answered 5xx is posted again.
// Transport errors are not retried.
//
// Every error is an *appreg.Error whose message a support engineer can act
// on; no error text or log line holds the app password or a token.
type Connector struct {
	appID, password, tenant, scope string
	cred                           azcore.TokenCredential
	client                         *http.Client
	maxRetries                     int
	maxWait                        time.Duration
	now                            func() time.Time
	sleep                          func(context.Context, time.Duration) error
	log                            *slog.Logger
}

// ThrottledError is in the chain of a KindUnavailable error of a call that
// Teams kept answering 429 or 5xx. RetryAfter says when to try again.
type ThrottledError struct {
	Status   int           // the last HTTP status
	Attempts int           // how many times the call was made
	Wait     time.Duration // the last answer's Retry-After, or the next backoff step
	Detail   string        // the request and Teams' error, for the log
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%s (after %d attempt(s); retry after %s)", e.Detail, e.Attempts, e.RetryAfter())
}

// RetryAfter is how long to wait before trying again: the last Retry-After
// Teams gave (or the backoff step), at least one second.
func (e *ThrottledError) RetryAfter() time.Duration { return max(e.Wait, time.Second) }

// NewConnector returns a Connector for cfg. It makes no request. It fails
// with KindInvalid when AppID is empty, when neither AppPassword nor
// Credential is set, or when azidentity refuses the tenant or the
// authority host (which must be https).
func NewConnector(cfg ConnectorConfig) (*Connector, error) {
	if cfg.AppID == "" {
		return nil, appreg.Errorf(appreg.KindInvalid, "The bot's Microsoft app id is required to send to Teams.")
	}
	if cfg.Tenant == "" {
		cfg.Tenant = DefaultTenant
	}
	if cfg.Scope == "" {
		cfg.Scope = DefaultScope
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: connectorTimeout}
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = defaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.MaxRetryWait <= 0 {
		cfg.MaxRetryWait = defaultMaxRetryWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Connector{
		appID: cfg.AppID, password: cfg.AppPassword, tenant: cfg.Tenant, scope: cfg.Scope,
		cred: cfg.Credential, client: cfg.HTTPClient, maxRetries: cfg.MaxRetries, maxWait: cfg.MaxRetryWait,
		now: cfg.Now, sleep: cfg.Sleep, log: cfg.Logger,
	}
	if c.cred == nil {
		if cfg.AppPassword == "" {
			return nil, appreg.Errorf(appreg.KindInvalid, "The bot's app password (client secret) is required to send to Teams.")
		}
		cred, err := azidentity.NewClientSecretCredential(cfg.Tenant, cfg.AppID, cfg.AppPassword, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: policy.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.AuthorityHost},
				Transport: cfg.HTTPClient,
			},
			DisableInstanceDiscovery: cfg.DisableInstanceDiscovery,
		})
		if err != nil {
			return nil, appreg.Wrap(appreg.KindInvalid, errors.New(c.scrub(err.Error())),
				"The bot's Teams credentials are not usable: check the tenant and the authority host (it must be https).")
		}
		c.cred = cred
	}
	return c, nil
}

// Send posts act to a conversation (a 1:1 chat, a group chat, a channel,
// or a channel thread "…;messageid=…") and returns the new activity's id.
// act.Type defaults to "message"; act is not changed.
func (c *Connector) Send(ctx context.Context, serviceURL, conversationID string, act *Activity) (string, error) {
	if err := need(conversationID != "" && act != nil, "send a message: no conversation or no activity"); err != nil {
		return "", err
	}
	a := *act
	a.Type = cmp.Or(a.Type, TypeMessage)
	var out struct {
		ID string `json:"id"`
	}
	err := c.do(ctx, "send a message", http.MethodPost, serviceURL,
		"v3/conversations/"+escapeID(conversationID)+"/activities", &a, &out)
	return out.ID, err
}

// Reply posts act as a reply to the activity replyToID of a conversation
// and returns the new activity's id. act.Type defaults to "message" and
// its replyToId is set; act is not changed.
func (c *Connector) Reply(ctx context.Context, serviceURL, conversationID, replyToID string, act *Activity) (string, error) {
	if err := need(conversationID != "" && replyToID != "" && act != nil, "reply: no conversation, no activity to reply to or no activity"); err != nil {
		return "", err
	}
	a := *act
	a.Type = cmp.Or(a.Type, TypeMessage)
	a.ReplyToID = replyToID
	var out struct {
		ID string `json:"id"`
	}
	err := c.do(ctx, "reply", http.MethodPost, serviceURL,
		"v3/conversations/"+escapeID(conversationID)+"/activities/"+escapeID(replyToID), &a, &out)
	return out.ID, err
}

// Update replaces the activity activityID of a conversation with act (a
// message the bot sent). act.Type defaults to "message" and its id is
// set; act is not changed.
func (c *Connector) Update(ctx context.Context, serviceURL, conversationID, activityID string, act *Activity) error {
	if err := need(conversationID != "" && activityID != "" && act != nil, "update a message: no conversation, no activity id or no activity"); err != nil {
		return err
	}
	a := *act
	a.Type = cmp.Or(a.Type, TypeMessage)
	a.ID = activityID
	return c.do(ctx, "update a message", http.MethodPut, serviceURL,
		"v3/conversations/"+escapeID(conversationID)+"/activities/"+escapeID(activityID), &a, nil)
}

// CreateConversation opens (or finds) the 1:1 chat of the bot with the
// user userID ("29:…") of tenant tenantID and returns its conversation
// id. When the app is not installed for the user Teams answers 403 or 404:
// the error is then of KindForbidden with ErrAppNotInstalled in its chain.
func (c *Connector) CreateConversation(ctx context.Context, serviceURL, tenantID, userID string) (string, error) {
	if err := need(tenantID != "" && userID != "", "open a 1:1 chat: no tenant or no user"); err != nil {
		return "", err
	}
	params := struct {
		Bot         ChannelAccount   `json:"bot"`
		Members     []ChannelAccount `json:"members"`
		IsGroup     bool             `json:"isGroup"`
		TenantID    string           `json:"tenantId"`
		ChannelData ChannelData      `json:"channelData"`
	}{
		Bot:         ChannelAccount{ID: "28:" + c.appID},
		Members:     []ChannelAccount{{ID: userID}},
		TenantID:    tenantID,
		ChannelData: ChannelData{Tenant: &TenantInfo{ID: tenantID}},
	}
	var out struct {
		ID string `json:"id"`
	}
	err := c.do(ctx, "open a 1:1 chat", http.MethodPost, serviceURL, "v3/conversations", &params, &out)
	var se *statusError
	if errors.As(err, &se) && (se.status == http.StatusForbidden || se.status == http.StatusNotFound) {
		return "", &appreg.Error{
			Kind: appreg.KindForbidden,
			Message: "The bot cannot message this person directly because its app is not installed for them in Teams. " +
				"They need to open Teams, find the bot under Apps and select Add (or Open), then try again.",
			Err: fmt.Errorf("%w: user %s in tenant %s: %w", ErrAppNotInstalled, userID, tenantID, se),
		}
	}
	if err == nil && out.ID == "" {
		return "", appreg.Errorf(appreg.KindInternal, "Teams opened a 1:1 chat but answered no conversation id.")
	}
	return out.ID, err
}

// do makes one connector call with retries: it encodes in as the JSON body
// and decodes a 2xx answer into out (when not nil). what names the call
// for a person ("send a message").
func (c *Connector) do(ctx context.Context, what, method, serviceURL, path string, in, out any) error {
	base, err := serviceBase(serviceURL)
	if err != nil {
		return err
	}
	target := base + path
	body, err := json.Marshal(in)
	if err != nil {
		return appreg.Wrap(appreg.KindInternal, err, "The bot could not encode its message for Teams.")
	}
	for attempt := 1; ; attempt++ {
		tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
		if err != nil {
			return c.tokenError(ctx, err)
		}
		req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
		if err != nil {
			return appreg.Wrap(appreg.KindInvalid, errors.New(c.scrub(err.Error(), tok.Token)), "The Teams service URL or conversation id is not valid.")
		}
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("Accept", "application/json")
		resp, err := c.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return appreg.Wrap(appreg.KindUnavailable, ctx.Err(), "The call to Teams was cancelled.")
			}
			return appreg.Wrap(appreg.KindUnavailable, errors.New(c.scrub(err.Error(), tok.Token)),
				fmt.Sprintf("The bot could not reach Teams to %s; try again in a minute.", what))
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		resp.Body.Close()
		status := resp.StatusCode
		c.log.DebugContext(ctx, "teams: connector call", "method", method, "url", target, "status", status, "attempt", attempt)

		if status >= 200 && status < 300 {
			if out != nil && len(bytes.TrimSpace(data)) > 0 {
				if err := json.Unmarshal(data, out); err != nil {
					return appreg.Wrap(appreg.KindInternal, fmt.Errorf("%s %s: HTTP %d: %w", method, target, status, err),
						"Teams answered the bot with something it does not understand.")
				}
			}
			return nil
		}

		detail := c.scrub(fmt.Sprintf("%s %s: HTTP %d%s", method, target, status, errorBody(data)), tok.Token)
		if retryable(status) {
			wait, hinted := c.retryAfter(resp.Header)
			if !hinted {
				wait = min(time.Second<<min(attempt-1, 10), c.maxWait)
			}
			if attempt > c.maxRetries || wait > c.maxWait {
				te := &ThrottledError{Status: status, Attempts: attempt, Wait: wait, Detail: detail}
				return &appreg.Error{
					Kind:    appreg.KindUnavailable,
					Message: fmt.Sprintf("Teams is busy or unavailable (HTTP %d), so the bot could not %s. Try again in %s.", status, what, roundUp(te.RetryAfter())),
					Err:     te,
				}
			}
			c.log.InfoContext(ctx, "teams: connector busy, retrying", "method", method, "url", target, "status", status, "attempt", attempt, "wait", wait)
			if err := c.sleep(ctx, wait); err != nil {
				return appreg.Wrap(appreg.KindUnavailable, err, "The call to Teams was cancelled.")
			}
			continue
		}
		return statusErr(what, status, detail)
	}
}

// statusErr turns a final non-2xx answer into an error of its kind.
func statusErr(what string, status int, detail string) error {
	var kind appreg.Kind
	var msg string
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		kind, msg = appreg.KindInvalid, fmt.Sprintf("Teams refused the bot's request to %s as invalid (HTTP %d); the details are in the bot's log.", what, status)
	case http.StatusUnauthorized:
		kind, msg = appreg.KindForbidden, "Teams refused the bot's token (HTTP 401): check that the bot's app id and password belong to its Azure Bot resource, and that the token tenant fits the bot's type (botframework.com for multi-tenant, the bot's own tenant for single-tenant)."
	case http.StatusForbidden:
		kind, msg = appreg.KindForbidden, fmt.Sprintf("Teams does not allow the bot to %s (HTTP 403): the app may have been removed from that team or chat, or blocked.", what)
	case http.StatusNotFound:
		kind, msg = appreg.KindNotFound, fmt.Sprintf("Teams could not find the conversation or message to %s (HTTP 404): it may have been deleted, or the app removed.", what)
	default:
		kind, msg = appreg.KindInternal, fmt.Sprintf("Teams answered HTTP %d when the bot tried to %s; the details are in the bot's log.", status, what)
	}
	return &appreg.Error{Kind: kind, Message: msg, Err: &statusError{status: status, detail: detail}}
}

// statusError is the detail of a call answered with a final non-2xx
// status: the request and Teams' error, scrubbed.
type statusError struct {
	status int
	detail string
}

func (e *statusError) Error() string { return e.detail }

var aadstsCode = regexp.MustCompile(`AADSTS\d+`)

// tokenError turns a failure to get a token into an error of its kind:
// KindForbidden when Entra ID refused the credentials, KindUnavailable
// otherwise. The chain keeps only scrubbed text.
func (c *Connector) tokenError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return appreg.Wrap(appreg.KindUnavailable, ctx.Err(), "The call to Teams was cancelled.")
	}
	text := oneLine(c.scrub(err.Error()))
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil && afe.RawResponse.StatusCode >= 400 && afe.RawResponse.StatusCode < 500 &&
		afe.RawResponse.StatusCode != http.StatusTooManyRequests && afe.RawResponse.StatusCode != http.StatusRequestTimeout {
		code := ""
		if m := aadstsCode.FindString(text); m != "" {
			code = ", " + m
		}
		return appreg.Wrap(appreg.KindForbidden, errors.New(text), fmt.Sprintf(
			"Microsoft Entra ID refused the bot's credentials (app id %s, tenant %s%s): check the bot's app password, and that the tenant fits the bot's type (botframework.com for multi-tenant, its own tenant for single-tenant).",
			c.appID, c.tenant, code))
	}
	return appreg.Wrap(appreg.KindUnavailable, errors.New(text), "The bot could not get its Teams token from Microsoft Entra ID; try again in a minute.")
}

var (
	bearerText = regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+`)
	jwtText    = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*`)
)

// scrub removes the app password, the given tokens, bearer tokens and
// anything shaped like a JWT from s.
func (c *Connector) scrub(s string, tokens ...string) string {
	for _, secret := range append([]string{c.password}, tokens...) {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	s = bearerText.ReplaceAllString(s, "${1}[redacted]")
	return jwtText.ReplaceAllString(s, "[redacted]")
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date.
func (c *Connector) retryAfter(h http.Header) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return min(time.Duration(min(secs, int64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(c.now()), 0), maxRetryAfter), true
	}
	return 0, false
}

// retryable reports whether Teams may answer differently later.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests ||
		status >= 500 && status != http.StatusNotImplemented && status != http.StatusHTTPVersionNotSupported
}

// errorBody renders the Bot Connector's ErrorResponse
// ({"error":{"code","message"}}) or the start of any other body.
func errorBody(data []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &e) == nil {
		switch {
		case e.Error.Code != "" || e.Error.Message != "":
			return ": " + strings.TrimSpace(e.Error.Code+" "+e.Error.Message)
		case e.Message != "":
			return ": " + e.Message
		}
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return ""
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return ": " + s
}

// serviceBase validates a serviceUrl and returns it with one trailing
// slash: https, or http to a loopback host; no user, query or fragment.
func serviceBase(serviceURL string) (string, error) {
	u, err := url.Parse(serviceURL)
	ok := err == nil && u.User == nil && u.RawQuery == "" && u.Fragment == "" && safeurl.Allowed(u)
	if !ok {
		return "", appreg.Errorf(appreg.KindInvalid, "%s is not a Bot Framework service URL the bot sends to.", quote(serviceURL))
	}
	return strings.TrimRight(serviceURL, "/") + "/", nil
}

// escapeID escapes a conversation or activity id for one path segment the
// way encodeURIComponent does, as the Bot Framework SDKs do: everything but
// letters, digits and -_.!~*'() ("19:…@thread.tacv2;messageid=…" keeps no
// ':', '@', ';' or '=').
func escapeID(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || strings.IndexByte("-_.!~*'()", ch) >= 0 {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

func need(ok bool, what string) error {
	if ok {
		return nil
	}
	return appreg.Errorf(appreg.KindInvalid, "The bot cannot %s.", what)
}

// oneLine folds azidentity's multi-line error report into one line
// without its rules of dashes.
func oneLine(s string) string {
	var words []string
	for _, w := range strings.Fields(s) {
		if strings.Trim(w, "-") != "" {
			words = append(words, w)
		}
	}
	return strings.Join(words, " ")
}

// roundUp renders d in whole seconds, at least 1 s.
func roundUp(d time.Duration) time.Duration {
	return max(time.Second, (d + time.Second - 1).Truncate(time.Second))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
