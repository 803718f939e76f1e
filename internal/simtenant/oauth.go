package simtenant

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

const (
	upperAlnum = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	mixedAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

type deviceCode struct {
	userCode, deviceCode string
	tenant               *tenant
	scope                string
	expires              time.Time
	state                string // pending, approved, declined, blocked, redeemed
	user                 *user
}

// token is an issued access or refresh token.
type token struct {
	refresh  bool
	tenant   *tenant
	user     *user        // nil for an app-only token
	app      *application // the client of an app-only token
	scope    string
	audience string
	expires  time.Time
}

type autoApprove struct {
	upn    string
	delay  time.Duration
	timers []*time.Timer
}

func (a *autoApprove) stop() {
	for _, t := range a.timers {
		t.Stop()
	}
}

// Approve completes a pending device code as the user with that UPN: the
// admin entered the code and signed in. An empty userCode means the latest
// pending code. In a tenant blocked by Conditional Access the sign-in is
// refused instead. It fails for an unknown or no longer pending code and for
// a user who is not in the code's tenant.
func (s *Server) Approve(userCode, upn string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.pendingCode(userCode)
	if err != nil {
		return err
	}
	u := c.tenant.userByUPN(upn)
	if u == nil {
		return fmt.Errorf("simtenant: no user %q in tenant %s", upn, c.tenant.ID)
	}
	c.user, c.state = u, "approved"
	if c.tenant.blocked {
		c.state = "blocked"
	}
	return nil
}

// Decline refuses a pending device code (empty: the latest), as when the
// admin answers "No, cancel" to "Are you trying to sign in?".
func (s *Server) Decline(userCode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.pendingCode(userCode)
	if err != nil {
		return err
	}
	c.state = "declined"
	return nil
}

// SignInScopes returns the scopes each device code was asked for, oldest
// first.
func (s *Server) SignInScopes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.codes))
	for i, c := range s.codes {
		out[i] = c.scope
	}
	return out
}

// ExpireCodes makes every pending device code expire now.
func (s *Server) ExpireCodes() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.codes {
		if c.state == "pending" {
			c.expires = s.opts.Now().Add(-time.Second)
		}
	}
}

// PendingCodes returns the user codes waiting for a sign-in, oldest first.
func (s *Server) PendingCodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.codes {
		if c.state == "pending" && s.opts.Now().Before(c.expires) {
			out = append(out, c.userCode)
		}
	}
	return out
}

// AutoApprove approves every device code issued from now on as upn after
// delay, for the console demo. An empty upn turns it off.
func (s *Server) AutoApprove(upn string, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.auto != nil {
		s.auto.stop()
		s.auto = nil
	}
	if upn != "" {
		s.auto = &autoApprove{upn: upn, delay: delay}
	}
}

func (s *Server) pendingCode(userCode string) (*deviceCode, error) {
	for _, c := range slices.Backward(s.codes) {
		if c.state == "pending" && (userCode == "" || c.userCode == userCode) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w %s", ErrNoPendingCode, userCode)
}

// ErrNoPendingCode is returned by Approve and Decline when no device code
// waits for a sign-in.
var ErrNoPendingCode = errors.New("simtenant: no pending device code")

func (s *Server) serveOpenIDConfiguration(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	t := s.tenantByName(r.PathValue("tenant"))
	s.mu.Unlock()
	if t == nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", r.PathValue("tenant")))
		return
	}
	base := s.URL() + "/" + t.ID
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                        base + "/v2.0",
		"authorization_endpoint":        base + "/oauth2/v2.0/authorize",
		"token_endpoint":                base + "/oauth2/v2.0/token",
		"device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
		"jwks_uri":                      s.URL() + "/" + t.ID + "/discovery/v2.0/keys",
		"response_types_supported":      []string{"code", "id_token", "code id_token", "id_token token"},
		"subject_types_supported":       []string{"pairwise"},
		"scopes_supported":              []string{"openid", "profile", "email", "offline_access"},
		"tenant_region_scope":           "EU",
		"cloud_instance_name":           "microsoftonline.com",
	})
}

func (s *Server) serveDeviceCode(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenantByName(r.PathValue("tenant"))
	switch {
	case t == nil:
		s.oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", r.PathValue("tenant")))
		return
	case r.PostFormValue("client_id") != s.opts.ClientID:
		s.oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", r.PostFormValue("client_id"), t.DisplayName))
		return
	}
	c := &deviceCode{
		userCode:   randomText(9, upperAlnum),
		deviceCode: "DAQABIQEAAAD" + randomText(120, mixedAlnum),
		tenant:     t,
		scope:      r.PostFormValue("scope"),
		expires:    s.opts.Now().Add(s.opts.CodeLifetime),
		state:      "pending",
	}
	s.codes = append(s.codes, c)
	if a := s.auto; a != nil {
		a.timers = append(a.timers, time.AfterFunc(a.delay, func() { _ = s.Approve(c.userCode, a.upn) }))
	}
	verify := s.URL() + "/devicelogin"
	writeJSON(w, http.StatusOK, map[string]any{
		"user_code":        c.userCode,
		"device_code":      c.deviceCode,
		"verification_uri": verify,
		"expires_in":       max(1, int(s.opts.CodeLifetime/time.Second)),
		"interval":         5,
		"message":          fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", verify, c.userCode),
	})
}

func (s *Server) serveDeviceLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.opts.SignInHelp != "" {
		fmt.Fprintln(w, "Simulated Microsoft sign-in page (not for production).")
		fmt.Fprintln(w, s.opts.SignInHelp)
		return
	}
	fmt.Fprintln(w, "simtenant device login: codes are approved by the test or demo (Server.Approve, Server.AutoApprove).")
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenantByName(r.PathValue("tenant"))
	if t == nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", r.PathValue("tenant")))
		return
	}
	grantType := r.PostFormValue("grant_type")
	s.grants[strings.TrimPrefix(grantType, "urn:ietf:params:oauth:grant-type:")]++
	switch grantType {
	case "device_code", "urn:ietf:params:oauth:grant-type:device_code":
		s.redeemDeviceCode(w, r, t)
	case "refresh_token":
		rt := s.tokens[r.PostFormValue("refresh_token")]
		if rt == nil || !rt.refresh || rt.tenant != t || r.PostFormValue("client_id") != s.opts.ClientID {
			s.oauthError(w, http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
			return
		}
		s.issueUserTokens(w, t, rt.user, r.PostFormValue("scope"))
	case "client_credentials":
		s.clientCredentials(w, r, t)
	default:
		s.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+grantType+"'.")
	}
}

func (s *Server) redeemDeviceCode(w http.ResponseWriter, r *http.Request, t *tenant) {
	i := slices.IndexFunc(s.codes, func(c *deviceCode) bool { return c.deviceCode == r.PostFormValue("device_code") })
	if i < 0 || s.codes[i].tenant != t {
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", 70000, "The provided value for the 'device_code' is not valid.")
		return
	}
	c := s.codes[i]
	switch {
	case c.state == "pending" && !s.opts.Now().Before(c.expires):
		s.oauthError(w, http.StatusBadRequest, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.")
	case c.state == "pending":
		s.oauthError(w, http.StatusBadRequest, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
	case c.state == "declined":
		s.oauthError(w, http.StatusBadRequest, "authorization_declined", 70000, "The user declined the sign-in request.")
	case c.state == "blocked":
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", 53003, "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.")
	case c.state == "redeemed":
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	default:
		c.state = "redeemed"
		s.issueUserTokens(w, t, c.user, r.PostFormValue("scope"))
	}
}

// issueUserTokens answers a delegated token request; mu must be held.
func (s *Server) issueUserTokens(w http.ResponseWriter, t *tenant, u *user, scope string) {
	now := s.opts.Now()
	at := s.newToken(&token{tenant: t, user: u, scope: scope, audience: "https://graph.microsoft.com", expires: now.Add(s.opts.TokenLifetime)})
	rt := s.newToken(&token{refresh: true, tenant: t, user: u, scope: scope, expires: now.Add(90 * 24 * time.Hour)})
	idToken := unsignedJWT(map[string]any{
		"aud": s.opts.ClientID, "iss": s.URL() + "/" + t.ID + "/v2.0", "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "name": u.DisplayName, "oid": u.ID, "preferred_username": u.UPN,
		"sub": u.ID, "tid": t.ID, "ver": "2.0",
	})
	clientInfo, _ := json.Marshal(map[string]string{"uid": u.ID, "utid": t.ID})
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"scope":          scope,
		"expires_in":     int(s.opts.TokenLifetime / time.Second),
		"ext_expires_in": int(s.opts.TokenLifetime / time.Second),
		"access_token":   at,
		"refresh_token":  rt,
		"id_token":       idToken,
		"client_info":    base64.RawURLEncoding.EncodeToString(clientInfo),
	})
}

func (s *Server) clientCredentials(w http.ResponseWriter, r *http.Request, t *tenant) {
	clientID, secret, scope := r.PostFormValue("client_id"), r.PostFormValue("client_secret"), r.PostFormValue("scope")
	i := slices.IndexFunc(t.apps, func(a *application) bool { return a.AppID == clientID })
	if i < 0 || t.apps[i].replicate > 0 {
		if i >= 0 {
			t.apps[i].replicate--
		}
		s.oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, t.DisplayName))
		return
	}
	app := t.apps[i]
	if r.PostFormValue("client_assertion") != "" {
		if status, code, desc := s.verifyAssertion(r, t, app, clientID); status != 0 {
			s.oauthError(w, status, "invalid_client", code, desc)
			return
		}
	} else {
		j := slices.IndexFunc(app.secrets, func(sv *secretValue) bool { return sv.text == secret })
		invalid := fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID)
		switch {
		case secret == "" || j < 0:
			s.oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215, invalid)
			return
		case app.secrets[j].replicate > 0:
			app.secrets[j].replicate--
			s.oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215, invalid)
			return
		case !s.opts.Now().Before(app.secrets[j].End):
			s.oauthError(w, http.StatusUnauthorized, "invalid_client", 7000222, fmt.Sprintf("The provided client secret keys for app '%s' are expired.", clientID))
			return
		}
	}
	if t.spByAppID(clientID) == nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_client", 7000229, fmt.Sprintf("The client application %s is missing service principal in the tenant %s.", clientID, t.ID))
		return
	}
	var audience, resource string
	for _, f := range strings.Fields(scope) { // MSAL adds openid, profile and offline_access
		if r, ok := strings.CutSuffix(f, "/.default"); ok {
			resource = r
		}
	}
	switch resource {
	case "https://graph.microsoft.com", GraphAppID:
		audience = "https://graph.microsoft.com"
	case TeamsAdminAPIID:
		audience = TeamsAdminAPIID
	default:
		s.oauthError(w, http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s.", scope, t.DisplayName))
		return
	}
	at := s.newToken(&token{tenant: t, app: app, scope: scope, audience: audience, expires: s.opts.Now().Add(s.opts.TokenLifetime)})
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": int(s.opts.TokenLifetime / time.Second),
		"ext_expires_in": int(s.opts.TokenLifetime / time.Second), "access_token": at,
	})
}

// newToken records tk and returns its value; mu must be held.
func (s *Server) newToken(tk *token) string {
	var v string
	if tk.refresh {
		v = "1.AQ" + randomText(180, mixedAlnum)
	} else {
		claims := map[string]any{"aud": tk.audience, "iss": s.URL() + "/" + tk.tenant.ID + "/v2.0", "tid": tk.tenant.ID,
			"exp": tk.expires.Unix(), "uti": randomText(22, mixedAlnum)}
		if tk.user != nil {
			claims["oid"], claims["upn"], claims["scp"] = tk.user.ID, tk.user.UPN, signInAppScopes
		} else {
			claims["appid"], claims["idtyp"] = tk.app.AppID, "app"
		}
		v = unsignedJWT(claims)
	}
	s.tokens[v] = tk
	return v
}

func unsignedJWT(claims map[string]any) string {
	header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	body, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(body) + "."
}

// oauthError writes an error the way Entra's token service does.
func (s *Server) oauthError(w http.ResponseWriter, status int, code string, aadsts int, description string) {
	trace, corr := newID(), newID()
	now := s.opts.Now().UTC().Format("2006-01-02 15:04:05Z")
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, description, trace, corr, now),
		"error_codes":       []int{aadsts},
		"timestamp":         now,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("%s/error?code=%d", s.URL(), aadsts),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
