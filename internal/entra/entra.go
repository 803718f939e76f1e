// Package entra is the tenant adapter: appreg.Tenant, appreg.SignIn and
// appreg.Session on Microsoft Entra ID and Microsoft Graph. It is the only
// package of the bot that imports MSAL Go, azidentity or msgraph-sdk-go.
//
// Design:
//
//   - Sign-in is MSAL Go's public client and the device-code flow. Each
//     sign-in gets its own client and its own token cache (one admin per
//     cache); Session.Export hands that cache out so that another replica can
//     Restore the session from the refresh token. Entra's refusals are mapped
//     to appreg.SignInError by Entra's own error codes.
//   - Graph calls go through msgraph-sdk-go's request builders on a request
//     adapter built by hand: only the request-builder packages used are
//     imported (not the root package, which doubles the build), the JSON
//     serialisers are registered on the adapter rather than globally, and the
//     middleware runs in a fixed order so that a retried request resends its
//     compressed body. The adapter's credential is the session's MSAL client.
//   - Names are resolved at run time: a permission name becomes an app-role
//     id through the resource's service principal, fetched once per resource
//     and session.
//   - Errors: every Graph error becomes an *appreg.Error whose Message is
//     written for a support engineer and whose Err keeps the detail. No
//     token, refresh token or client secret appears in an error or a log
//     line; the tokens stay inside MSAL's cache and Export's bytes.
//   - CheckCredentials uses azidentity's ClientSecretCredential, as the
//     provider's platform will.
//   - Looking after a registration: Inspect reads it as it is in the tenant
//     (application, service principal, admin consents, directory roles) so
//     that drift made in the portal shows; RemovePermission, RemoveGrant and
//     RemoveRole treat what is already gone as done. Directory roles are
//     resolved by display name from roleManagement/directory/roleDefinitions,
//     read once per session, and changed through roleAssignments, which only
//     a Privileged Role Administrator or a Global Administrator may do.
//
// Build time: the request-builder packages imported are applications,
// applicationswithuniquename, oauth2permissiongrants, organization,
// rolemanagement, serviceprincipals and serviceprincipalswithappid (with
// models and models/odataerrors). Requests whose builder package would be
// large (users, me) are built by hand on the same adapter.
//
// One onboarding (identity, roles, name check, creation, Graph's service
// principal, the app's service principal, three consents, a secret and the
// sign-in app's grants) costs 12 Graph requests; Inspect costs 4 plus one per
// resource API the session has not read yet, a role change 2 or 3.
package entra

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Defaults for the public cloud.
const (
	DefaultAuthorityHost = "https://login.microsoftonline.com/"
	DefaultGraphEndpoint = "https://graph.microsoft.com"
)

// Application ids of the resource APIs the registrations need.
const (
	GraphAppID      = "00000003-0000-0000-c000-000000000000"
	TeamsAdminAPIID = "48ac35b8-9aa8-4d74-927d-1f4a14a0b239"
)

// Config configures the adapter. Every URL is overridable, for national
// clouds and for tests.
type Config struct {
	// ClientID is the multi-tenant public client the admins sign in to.
	ClientID string
	// AuthorityHost is Entra ID's host (default DefaultAuthorityHost).
	AuthorityHost string
	// GraphEndpoint is Microsoft Graph's root, without /v1.0 (default
	// DefaultGraphEndpoint).
	GraphEndpoint string
	// HTTPClient carries every request to Entra ID and Graph (default: a
	// client with a 30-second timeout). Its Transport is the base of the
	// Graph middleware.
	HTTPClient *http.Client
	// Logger gets the adapter's log lines (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Tenant is the tenant port on Entra ID and Graph. It is safe for concurrent
// use and holds no per-admin state: that lives in the sessions.
type Tenant struct {
	cfg       Config
	log       *slog.Logger
	graphHTTP *http.Client
	graphHost string
}

// delegatedPermissions are the Microsoft Graph permissions a purpose asks
// the admin for: the least each flow needs, never .default (everything the
// sign-in app was ever consented).
func delegatedPermissions(purpose appreg.Purpose) []string {
	apps := []string{"User.Read", "Directory.Read.All", "Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All"}
	if purpose == appreg.PurposeRoles {
		return append(apps, "RoleManagement.ReadWrite.Directory")
	}
	return apps
}

// scopes are the delegated permissions of a purpose as scopes of the
// configured Graph endpoint (its App ID URI).
func (t *Tenant) scopes(purpose appreg.Purpose) []string {
	perms := delegatedPermissions(purpose)
	out := make([]string, len(perms))
	for i, p := range perms {
		out[i] = t.cfg.GraphEndpoint + "/" + p
	}
	return out
}

var _ appreg.Tenant = (*Tenant)(nil)

// New validates cfg, fills in its defaults and returns the adapter.
// KindInvalid for a missing client id or a malformed URL.
func New(cfg Config) (*Tenant, error) {
	if cfg.ClientID == "" {
		return nil, appreg.Errorf(appreg.KindInvalid, "entra: the sign-in app's client id is not configured")
	}
	cfg.AuthorityHost = strings.TrimSuffix(cmp.Or(cfg.AuthorityHost, DefaultAuthorityHost), "/") + "/"
	cfg.GraphEndpoint = strings.TrimSuffix(cmp.Or(cfg.GraphEndpoint, DefaultGraphEndpoint), "/")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for _, u := range []string{cfg.AuthorityHost, cfg.GraphEndpoint} {
		if p, err := url.Parse(u); err != nil || p.Scheme != "https" || p.Host == "" {
			return nil, appreg.Errorf(appreg.KindInvalid, "entra: %q is not an https URL", u)
		}
	}
	graph, _ := url.Parse(cfg.GraphEndpoint)
	return &Tenant{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "entra"),
		graphHTTP: newGraphHTTPClient(cfg.HTTPClient.Transport),
		graphHost: graph.Hostname(),
	}, nil
}

// BeginSignIn asks Entra ID for a device code for the tenant (a verified
// domain or a tenant id). KindInvalid for a tenant Entra does not know,
// KindUnavailable when Entra cannot be reached.
func (t *Tenant) BeginSignIn(ctx context.Context, tenant string, purpose appreg.Purpose) (appreg.SignIn, error) {
	if tenant == "" || strings.ContainsAny(tenant, "/?#@ ") {
		return nil, appreg.Errorf(appreg.KindInvalid, "%q is not a tenant: give a verified domain or a tenant id.", tenant)
	}
	tc := &tokenCache{}
	client, err := t.publicClient(tenant, tc)
	if err != nil {
		return nil, err
	}
	scopes := t.scopes(purpose)
	dc, err := client.AcquireTokenByDeviceCode(ctx, scopes)
	if err != nil {
		t.log.WarnContext(ctx, "device code refused", "tenant", tenant, "err", safeErr(err))
		if e := parseEntraError(err); e != nil && (e.Error == "invalid_tenant" || e.has(90002)) {
			return nil, appreg.Wrap(appreg.KindInvalid, safeErr(err), fmt.Sprintf("Microsoft Entra ID does not know the tenant %q. Check the domain or tenant id.", tenant))
		} else if e != nil {
			return nil, appreg.Wrap(appreg.KindInternal, safeErr(err), "Microsoft Entra ID refused to start the sign-in ("+e.detail()+").")
		}
		return nil, entraUnavailable(err)
	}
	t.log.InfoContext(ctx, "device code issued", "tenant", tenant, "purpose", purpose, "expires", dc.Result.ExpiresOn)
	return &signIn{t: t, tenant: tenant, client: client, cache: tc, dc: dc, scopes: scopes}, nil
}

// signIn is a device-code sign-in under way.
type signIn struct {
	t      *Tenant
	tenant string
	client public.Client
	cache  *tokenCache
	dc     public.DeviceCode
	scopes []string
}

func (s *signIn) Code() appreg.DeviceCode {
	return appreg.DeviceCode{
		UserCode:        s.dc.Result.UserCode,
		VerificationURL: s.dc.Result.VerificationURL,
		ExpiresAt:       s.dc.Result.ExpiresOn,
		Interval:        time.Duration(s.dc.Result.Interval) * time.Second,
	}
}

// Wait polls Entra ID until the admin has signed in, then reads the tenant's
// name and default domain. A refused sign-in is an *appreg.SignInError
// (declined, expired, conditional_access, cancelled when ctx ends, refused);
// KindUnavailable when Entra ID or Graph cannot be reached.
func (s *signIn) Wait(ctx context.Context) (appreg.Session, error) {
	res, err := s.dc.AuthenticationResult(ctx)
	if err != nil {
		return nil, s.failure(ctx, err)
	}
	sess, err := s.t.newSession(s.tenant, s.client, s.cache, res.Account, s.scopes)
	if err != nil {
		return nil, err
	}
	id := appreg.Identity{Account: res.IDToken.PreferredUsername, DisplayName: res.IDToken.Name, TenantID: res.IDToken.TenantID}
	if err := sess.readOrganization(ctx, &id); err != nil {
		return nil, err
	}
	sess.identity, sess.log = id, s.t.log.With("tenant", id.TenantID)
	s.t.log.InfoContext(ctx, "admin signed in", "tenant", id.TenantID, "account", id.Account)
	return sess, nil
}

func (s *signIn) failure(ctx context.Context, err error) error {
	log := s.t.log.With("tenant", s.tenant)
	if ctx.Err() != nil {
		log.InfoContext(ctx, "sign-in cancelled")
		return &appreg.SignInError{Failure: appreg.SignInCancelled}
	}
	e := parseEntraError(err)
	var f appreg.SignInFailure
	switch {
	case e == nil && errors.Is(err, context.DeadlineExceeded) && !s.t.cfg.Now().Before(s.dc.Result.ExpiresOn):
		// MSAL stops polling at the code's expiry on its own.
		f, e = appreg.SignInExpired, &entraError{Error: "expired_token"}
	case e == nil:
		log.WarnContext(ctx, "sign-in polling failed", "err", safeErr(err))
		return entraUnavailable(err)
	case e.Error == "authorization_declined":
		f = appreg.SignInDeclined
	case e.Error == "expired_token" || e.has(70020) || e.has(70019):
		f = appreg.SignInExpired
	case e.has(53003) || strings.Contains(e.Description, "Conditional Access"):
		f = appreg.SignInBlocked
	default:
		f = appreg.SignInRefused
	}
	log.InfoContext(ctx, "sign-in failed", "failure", f, "detail", e.detail())
	return &appreg.SignInError{Failure: f, Detail: e.detail()}
}

// Restore rebuilds a session from Session.Export's bytes, using the refresh
// token when the access token has run out. KindNotFound when the bytes are
// unreadable, belong to another tenant, or the refresh token no longer
// works (a new sign-in is needed); KindUnavailable when Entra ID cannot be
// reached.
func (t *Tenant) Restore(ctx context.Context, tenant string, exported []byte) (appreg.Session, error) {
	var x exportedSession
	if err := json.Unmarshal(exported, &x); err != nil || x.Version != 1 || x.HomeAccountID == "" {
		return nil, appreg.Errorf(appreg.KindNotFound, "The saved sign-in cannot be read. The admin needs to sign in again.")
	}
	if tenant != "" && !strings.EqualFold(tenant, x.Tenant) && !x.Identity.Matches(tenant) {
		return nil, appreg.Errorf(appreg.KindNotFound, "The saved sign-in is for another tenant. The admin needs to sign in again.")
	}
	tc := &tokenCache{data: x.Cache}
	client, err := t.publicClient(x.Tenant, tc)
	if err != nil {
		return nil, err
	}
	accounts, err := client.Accounts(ctx)
	if err != nil {
		return nil, appreg.Wrap(appreg.KindNotFound, safeErr(err), "The saved sign-in cannot be read. The admin needs to sign in again.")
	}
	for _, a := range accounts {
		if a.HomeAccountID != x.HomeAccountID {
			continue
		}
		scopes := x.Scopes
		if len(scopes) == 0 { // saved before sessions kept their scopes
			scopes = t.scopes(appreg.PurposeApps)
		}
		sess, err := t.newSession(x.Tenant, client, tc, a, scopes)
		if err != nil {
			return nil, err
		}
		if _, err := sess.credential().GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes, EnableCAE: true}); err != nil {
			return nil, err
		}
		sess.identity, sess.log = x.Identity, t.log.With("tenant", x.Identity.TenantID)
		t.log.InfoContext(ctx, "session restored", "tenant", x.Identity.TenantID, "account", x.Identity.Account)
		return sess, nil
	}
	return nil, appreg.Errorf(appreg.KindNotFound, "The saved sign-in has no account. The admin needs to sign in again.")
}

// CheckCredentials acquires an app-only token with the client secret for
// Microsoft Graph and for the Skype and Teams Tenant Admin API, once each,
// without retrying. A Reason names Entra's error code and never the secret.
func (t *Tenant) CheckCredentials(ctx context.Context, tenantID, clientID string, text appreg.SecretText) []appreg.CredentialCheck {
	secret := text.Reveal()
	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: t.checkOptions(), DisableInstanceDiscovery: true,
	})
	if err != nil { // the ids are malformed
		return failedChecks("the tenant id or the client id is not valid")
	}
	return t.tokenChecks(ctx, tenantID, clientID, cred, secret)
}

// checkOptions are the client options of a credential check: the
// configured authority and transport, and no retries (the caller paces
// its own).
func (t *Tenant) checkOptions() policy.ClientOptions {
	return policy.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: t.cfg.AuthorityHost},
		Transport: t.cfg.HTTPClient,
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

// checkedResources are the resources a credential check gets a token for,
// and their scopes.
var checkedResources = []struct{ name, scope string }{
	{"Microsoft Graph", GraphAppID + "/.default"},
	{"Skype and Teams Tenant Admin API", TeamsAdminAPIID + "/.default"},
}

// failedChecks is a check of every resource failed for one reason.
func failedChecks(reason string) []appreg.CredentialCheck {
	out := make([]appreg.CredentialCheck, len(checkedResources))
	for i, r := range checkedResources {
		out[i] = appreg.CredentialCheck{Resource: r.name, Reason: reason}
	}
	return out
}

// tokenChecks acquires an app-only token with cred for each checked
// resource, once each. A Reason names Entra's error code, with secret
// (when not "") removed.
func (t *Tenant) tokenChecks(ctx context.Context, tenantID, clientID string, cred azcore.TokenCredential, secret string) []appreg.CredentialCheck {
	checks := make([]appreg.CredentialCheck, len(checkedResources))
	for i, r := range checkedResources {
		checks[i].Resource = r.name
		if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{r.scope}}); err != nil {
			checks[i].Reason = credentialReason(err, secret)
			t.log.InfoContext(ctx, "credential check failed", "tenant", tenantID, "app", clientID, "resource", r.name, "reason", checks[i].Reason)
			continue
		}
		checks[i].OK = true
	}
	return checks
}

var aadsts = regexp.MustCompile(`AADSTS(\d+): ([^\r\n]*?\.)(?:\s|$)`)

// credentialReason says why a client-credential token was refused, in
// Entra's words, with the secret removed in case anything echoed it.
func credentialReason(err error, secret string) string {
	reason := "Microsoft Entra ID could not be reached."
	if m := aadsts.FindStringSubmatch(err.Error()); m != nil {
		switch m[1] {
		case "7000215":
			reason = "AADSTS7000215: invalid client secret"
		case "700016":
			reason = "AADSTS700016: the application is not (yet) known in the tenant; a new registration can take a few minutes to replicate"
		case "7000222":
			reason = "AADSTS7000222: the client secret has expired"
		case "700027":
			reason = "AADSTS700027: the certificate is not (yet) registered on the application, or the assertion's signature is invalid"
		case "700024":
			reason = "AADSTS700024: the client assertion is not within its valid time range (check the clock, or the certificate's dates)"
		default:
			reason = "AADSTS" + m[1] + ": " + m[2]
		}
	}
	if secret != "" {
		reason = strings.ReplaceAll(reason, secret, "[secret]")
	}
	return reason
}

// publicClient is an MSAL public client for one tenant with its own cache.
func (t *Tenant) publicClient(tenant string, tc *tokenCache) (public.Client, error) {
	return t.publicClientWith(tenant, tc, t.cfg.HTTPClient)
}

// publicClientWith is publicClient over another HTTP client.
func (t *Tenant) publicClientWith(tenant string, tc *tokenCache, hc *http.Client) (public.Client, error) {
	client, err := public.New(t.cfg.ClientID,
		public.WithAuthority(t.cfg.AuthorityHost+tenant),
		public.WithHTTPClient(hc),
		public.WithInstanceDiscovery(false),
		public.WithCache(tc),
		public.WithClientCapabilities([]string{"cp1"}), // CAE: Graph may send claims challenges
	)
	if err != nil {
		return public.Client{}, appreg.Wrap(appreg.KindInvalid, err, fmt.Sprintf("%q is not a tenant: give a verified domain or a tenant id.", tenant))
	}
	return client, nil
}

// tokenCache is one admin's MSAL token cache, kept in memory and exported
// whole by Session.Export.
type tokenCache struct {
	mu   sync.Mutex
	data []byte
}

func (c *tokenCache) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.data) == 0 {
		return nil
	}
	return u.Unmarshal(c.data)
}

func (c *tokenCache) Export(_ context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data = b
	return nil
}

func (c *tokenCache) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.data...)
}

// exportedSession is what Export writes: MSAL's cache (tokens: the caller
// encrypts it) and what Restore needs to find the account again.
type exportedSession struct {
	Version       int             `json:"v"`
	Tenant        string          `json:"tenant"` // as in the authority: the cache's realm
	HomeAccountID string          `json:"home_account_id"`
	Identity      appreg.Identity `json:"identity"`
	Cache         []byte          `json:"cache"`
	Scopes        []string        `json:"scopes,omitempty"` // what the session was signed in for
}

// msalCredential is the session's MSAL client as an azcore.TokenCredential
// for the Graph request adapter.
type msalCredential struct {
	client  public.Client
	account public.Account
}

// GetToken acquires a token from the cache or with the refresh token.
// KindNotFound when the refresh token no longer works, KindUnavailable when
// Entra ID cannot be reached.
func (c msalCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	o := []public.AcquireSilentOption{public.WithSilentAccount(c.account)}
	if opts.Claims != "" {
		o = append(o, public.WithClaims(opts.Claims))
	}
	r, err := c.client.AcquireTokenSilent(ctx, opts.Scopes, o...)
	if err != nil {
		if parseEntraError(err) == nil && isNetwork(err) {
			return azcore.AccessToken{}, entraUnavailable(err)
		}
		return azcore.AccessToken{}, appreg.Wrap(appreg.KindNotFound, safeErr(err), "The admin's sign-in has expired. The admin needs to sign in again.")
	}
	return azcore.AccessToken{Token: r.AccessToken, ExpiresOn: r.ExpiresOn, RefreshOn: r.Metadata.RefreshOn}, nil
}

// entraError is the body of an error from Entra's token service.
type entraError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
}

func (e *entraError) has(code int) bool {
	for _, c := range e.Codes {
		if c == code {
			return true
		}
	}
	return false
}

// detail is Entra's code and first sentence: "AADSTS53003: Access has been
// blocked by Conditional Access policies." or the OAuth error code.
func (e *entraError) detail() string {
	if m := aadsts.FindStringSubmatch(e.Description); m != nil {
		return "AADSTS" + m[1] + ": " + m[2]
	}
	return e.Error
}

// parseEntraError finds Entra's error body in an MSAL error, or nil. MSAL
// reads the response body while polling, so the body is taken from the
// error text, which ends with it.
func parseEntraError(err error) *entraError {
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Err == nil {
		return nil
	}
	msg := ce.Err.Error()
	i := strings.Index(msg, "{")
	if i < 0 {
		return nil
	}
	var e entraError
	if json.Unmarshal([]byte(msg[i:]), &e) != nil || e.Error == "" {
		return nil
	}
	return &e
}

// safeErr returns err fit for a log line and an error chain: an MSAL error
// that could quote a token response is replaced by a plain one.
func safeErr(err error) error {
	var je msalerrors.InvalidJsonErr
	if errors.As(err, &je) {
		return errors.New("entra: unreadable answer from Microsoft Entra ID")
	}
	if e := parseEntraError(err); e != nil {
		return fmt.Errorf("entra: %s: %s", e.Error, e.detail())
	}
	return err
}

func isNetwork(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded)
}

func entraUnavailable(err error) error {
	return appreg.Wrap(appreg.KindUnavailable, safeErr(err), "Microsoft Entra ID cannot be reached right now. Please try again in a minute.")
}
