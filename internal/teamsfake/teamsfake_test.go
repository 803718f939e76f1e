package teamsfake_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/appreg-bot/appreg-bot/internal/teamsfake"
)

const (
	appID    = "5f0c9a1e-4b8d-4c3e-9a7f-2d6b1e8c0a11"
	password = "Xq8~bot.Pa55word-value_0123456789"
)

var now = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newServer(t *testing.T) *teamsfake.Server {
	t.Helper()
	s := teamsfake.New(teamsfake.Options{AppID: appID, AppPassword: password, Now: func() time.Time { return now }})
	t.Cleanup(s.Close)
	return s
}

// do makes a request to the fake and decodes its JSON answer.
func do(t *testing.T, s *teamsfake.Server, method, path, token, body string, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	var r io.Reader
	if form != nil {
		r = strings.NewReader(form.Encode())
	} else if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// keySet fetches the metadata and the key set as a client would.
func keySet(t *testing.T, s *teamsfake.Server) (issuer string, keys []map[string]any, parsed []jose.JSONWebKey) {
	t.Helper()
	_, meta := do(t, s, "GET", "/v1/.well-known/openidconfiguration", "", "", nil)
	jwksURI, _ := meta["jwks_uri"].(string)
	if !strings.HasPrefix(jwksURI, s.URL()+"/") {
		t.Fatalf("metadata = %v", meta)
	}
	_, set := do(t, s, "GET", strings.TrimPrefix(jwksURI, s.URL()), "", "", nil)
	raw, _ := json.Marshal(set["keys"])
	var raws []json.RawMessage
	_ = json.Unmarshal(raw, &raws)
	for _, r := range raws {
		var m map[string]any
		_ = json.Unmarshal(r, &m)
		keys = append(keys, m)
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil {
			t.Fatalf("key %s: %v", r, err)
		}
		parsed = append(parsed, k)
	}
	return meta["issuer"].(string), keys, parsed
}

func TestKeySetAndSign(t *testing.T) {
	s := newServer(t)
	skype := s.AddKey("skype")
	issuer, keys, parsed := keySet(t, s)
	if issuer != teamsfake.Issuer || len(keys) != 2 {
		t.Fatalf("issuer %q, %d keys", issuer, len(keys))
	}
	for i, k := range keys {
		if k["kty"] != "RSA" || k["use"] != "sig" || k["kid"] == "" || k["x5t"] == nil || k["x5c"] == nil || k["d"] != nil {
			t.Errorf("key %d = %v", i, k)
		}
		if _, ok := parsed[i].Key.(*rsa.PublicKey); !ok {
			t.Errorf("key %d is a %T", i, parsed[i].Key)
		}
	}
	if e := keys[0]["endorsements"]; !slices.Equal(toStrings(e), []string{"msteams"}) || keys[0]["kid"] != s.SigningKeyID() {
		t.Errorf("first key: kid %v, endorsements %v", keys[0]["kid"], e)
	}
	if e := keys[1]["endorsements"]; !slices.Equal(toStrings(e), []string{"skype"}) || keys[1]["kid"] != skype {
		t.Errorf("second key: endorsements %v", e)
	}

	activity := map[string]any{"type": "message", "serviceUrl": s.ServiceURL(), "channelId": "msteams"}
	header := s.Sign(activity, teamsfake.SignOptions{})
	tok, err := jwt.ParseSigned(strings.TrimPrefix(header, "Bearer "), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Headers[0].KeyID != s.SigningKeyID() {
		t.Errorf("kid %q", tok.Headers[0].KeyID)
	}
	var claims jwt.Claims
	var extra struct {
		ServiceURL string `json:"serviceurl"`
	}
	if err := tok.Claims(parsed[0].Key, &claims, &extra); err != nil {
		t.Fatal(err)
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: teamsfake.Issuer, AnyAudience: jwt.Audience{appID}, Time: now}, 0); err != nil {
		t.Error(err)
	}
	if extra.ServiceURL != s.ServiceURL() || !claims.Expiry.Time().Equal(now.Add(time.Hour)) {
		t.Errorf("serviceurl %q, exp %s", extra.ServiceURL, claims.Expiry.Time())
	}

	// Overrides.
	header = s.Sign(activity, teamsfake.SignOptions{ForgeSignature: true})
	tok, _ = jwt.ParseSigned(strings.TrimPrefix(header, "Bearer "), []jose.SignatureAlgorithm{jose.RS256})
	if err := tok.Claims(parsed[0].Key, &claims); err == nil || tok.Headers[0].KeyID != s.SigningKeyID() {
		t.Errorf("forged signature verifies (%v) or changed kid", err)
	}
	for _, alg := range []string{"none", "HS256"} {
		header = s.Sign(activity, teamsfake.SignOptions{Algorithm: alg})
		if _, err := jwt.ParseSigned(strings.TrimPrefix(header, "Bearer "), []jose.SignatureAlgorithm{jose.RS256}); err == nil {
			t.Errorf("alg %s parsed as RS256", alg)
		}
	}

	// Rotation withdraws the old key.
	old := s.SigningKeyID()
	rotated := s.RotateKey()
	_, keys, _ = keySet(t, s)
	var kids []string
	for _, k := range keys {
		kids = append(kids, k["kid"].(string))
	}
	if slices.Contains(kids, old) || !slices.Contains(kids, rotated) || s.SigningKeyID() != rotated {
		t.Errorf("after rotation: kids %v, old %s, new %s", kids, old, rotated)
	}
	if m, k := s.Fetches(); m != 2 || k != 2 {
		t.Errorf("fetches = %d, %d", m, k)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestTokenEndpoint(t *testing.T) {
	s := newServer(t)
	if _, cfg := do(t, s, "GET", "/botframework.com/v2.0/.well-known/openid-configuration", "", "", nil); cfg["issuer"] != s.URL()+"/botframework.com/v2.0" ||
		cfg["token_endpoint"] != s.URL()+"/botframework.com/oauth2/v2.0/token" {
		t.Errorf("openid-configuration = %v", cfg)
	}
	form := func(change func(url.Values)) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {password},
			"scope": {teamsfake.Scope}}
		if change != nil {
			change(f)
		}
		return f
	}
	cases := []struct {
		name   string
		tenant string
		form   url.Values
		status int
		error  string
	}{
		{"token", "botframework.com", form(nil), 200, ""},
		{"wrong secret", "botframework.com", form(func(f url.Values) { f.Set("client_secret", "nope") }), 401, "invalid_client"},
		{"wrong client", "botframework.com", form(func(f url.Values) { f.Set("client_id", "other") }), 400, "unauthorized_client"},
		{"wrong tenant", "contoso.onmicrosoft.com", form(nil), 400, "invalid_tenant"},
		{"wrong scope", "botframework.com", form(func(f url.Values) { f.Set("scope", "https://graph.microsoft.com/.default") }), 400, "invalid_scope"},
		{"wrong grant", "botframework.com", form(func(f url.Values) { f.Set("grant_type", "password") }), 400, "unsupported_grant_type"},
	}
	for _, c := range cases {
		resp, body := do(t, s, "POST", "/"+c.tenant+"/oauth2/v2.0/token", "", "", c.form)
		if resp.StatusCode != c.status || (c.error == "" && (body["access_token"] == "" || body["expires_in"] != 3600.0)) || (c.error != "" && body["error"] != c.error) {
			t.Errorf("%s: %d %v", c.name, resp.StatusCode, body)
		}
	}
	reqs := s.TokenRequests()
	if len(reqs) != len(cases) || reqs[0].Error != "" || reqs[1].Error != "invalid_client" || reqs[0].ClientID != appID {
		t.Errorf("recorded %+v", reqs)
	}
	s.FailTokens(1, teamsfake.Failure{Status: 503, RetryAfter: "3"})
	if resp, body := do(t, s, "POST", "/botframework.com/oauth2/v2.0/token", "", "", form(nil)); resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3" || body["error"] != "temporarily_unavailable" {
		t.Errorf("injected failure: %d %v", resp.StatusCode, body)
	}
}

// token gets an access token for the connector.
func token(t *testing.T, s *teamsfake.Server) string {
	t.Helper()
	_, body := do(t, s, "POST", "/botframework.com/oauth2/v2.0/token", "", "", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {password}, "scope": {teamsfake.Scope + " openid profile offline_access"},
	})
	tok, _ := body["access_token"].(string)
	if tok == "" {
		t.Fatalf("no token: %v", body)
	}
	return tok
}

func TestConnector(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	conv := "19%3Aabc%40thread.tacv2%3Bmessageid%3D1"

	if resp, _ := do(t, s, "POST", "/amer/v3/conversations/"+conv+"/activities", "", `{"type":"message"}`, nil); resp.StatusCode != 401 {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	if resp, _ := do(t, s, "POST", "/amer/v3/conversations/"+conv+"/activities", "forged", `{"type":"message"}`, nil); resp.StatusCode != 401 {
		t.Errorf("unknown token: %d", resp.StatusCode)
	}
	resp, body := do(t, s, "POST", "/amer/v3/conversations/"+conv+"/activities", tok, `{"type":"message","text":"hi"}`, nil)
	id, _ := body["id"].(string)
	if resp.StatusCode != 201 || id == "" {
		t.Fatalf("send: %d %v", resp.StatusCode, body)
	}
	if resp, body := do(t, s, "PUT", "/amer/v3/conversations/"+conv+"/activities/"+id, tok, `{"type":"message","text":"edited"}`, nil); resp.StatusCode != 200 || body["id"] != id {
		t.Errorf("update: %d %v", resp.StatusCode, body)
	}
	if resp, _ := do(t, s, "PUT", "/amer/v3/conversations/"+conv+"/activities/404", tok, `{"type":"message"}`, nil); resp.StatusCode != 404 {
		t.Errorf("update of an unknown activity: %d", resp.StatusCode)
	}
	if m, ok := s.Message("19:abc@thread.tacv2;messageid=1", id); !ok || m.Activity.Text != "edited" || m.Updates != 1 {
		t.Errorf("message = %+v, %v", m, ok)
	}

	create := func(user string) (*http.Response, map[string]any) {
		return do(t, s, "POST", "/amer/v3/conversations", tok, `{"bot":{"id":"28:`+appID+`"},"members":[{"id":"`+user+`"}],"tenantId":"t1","channelData":{"tenant":{"id":"t1"}}}`, nil)
	}
	s.Uninstall("29:nobody")
	if resp, body := create("29:nobody"); resp.StatusCode != 403 || body["error"] == nil {
		t.Errorf("create for a user without the app: %d %v", resp.StatusCode, body)
	}
	resp, body = create("29:ada")
	if resp.StatusCode != 201 || !strings.HasPrefix(body["id"].(string), "a:") {
		t.Errorf("create: %d %v", resp.StatusCode, body)
	}
	if got, ok := s.Conversation("29:ada"); !ok || got != body["id"] {
		t.Errorf("Conversation = %q", got)
	}

	s.RateLimit(1, "2")
	if resp, body := do(t, s, "POST", "/amer/v3/conversations/"+conv+"/activities", tok, `{"type":"message"}`, nil); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || body["error"] == nil {
		t.Errorf("rate limit: %d %v", resp.StatusCode, body)
	}

	calls := s.Calls("")
	var ops []string
	for _, c := range calls {
		ops = append(ops, c.Op+" "+http.StatusText(c.Status))
	}
	want := []string{"send Unauthorized", "send Unauthorized", "send Created", "update OK", "update Not Found", "create Forbidden", "create Created", "send Too Many Requests"}
	if !slices.Equal(ops, want) {
		t.Errorf("calls = %q; want %q", ops, want)
	}
	if c := calls[2]; c.ConversationID != "19:abc@thread.tacv2;messageid=1" || c.Token != tok || c.Activity.Text != "hi" ||
		c.ServiceURL != s.ServiceURL() || !strings.Contains(c.RequestURI, conv) {
		t.Errorf("send call = %+v", c)
	}
}

func TestWaitFor(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	go func() {
		time.Sleep(20 * time.Millisecond)
		do(t, s, "POST", "/amer/v3/conversations/a%3A1x/activities", tok, `{"type":"message","text":"later"}`, nil)
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := s.WaitFor(ctx, teamsfake.OpSend, func(c teamsfake.Call) bool { return c.Activity.Text == "later" })
	if err != nil || c.ConversationID != "a:1x" {
		t.Fatalf("WaitFor = %+v, %v", c, err)
	}
	short, cancel2 := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel2()
	if _, err := s.WaitFor(short, teamsfake.OpUpdate, nil); err == nil {
		t.Error("WaitFor of a call never made returned no error")
	}
}

// Deliver POSTs a signed activity the way the Bot Framework does.
func TestDeliver(t *testing.T) {
	s := newServer(t)
	got := make(chan *http.Request, 1)
	bot := http.NewServeMux()
	bot.HandleFunc("POST /api/messages", func(w http.ResponseWriter, r *http.Request) { got <- r })
	srv := newHTTPServer(t, bot)
	resp, err := s.Deliver(t.Context(), nil, srv+"/api/messages", map[string]any{"type": "message", "serviceUrl": s.ServiceURL()}, teamsfake.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-got
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ey") || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("headers %v", r.Header)
	}
}

func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
