package teams_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/handlers/teams"
	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/teamsfake"
)

// flakyTransport fails every request while down is set and counts the
// requests it passes on or fails.
type flakyTransport struct {
	next     http.RoundTripper
	down     atomic.Bool
	requests atomic.Int32
}

func (t *flakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.requests.Add(1)
	if t.down.Load() {
		return nil, errors.New("dial tcp: connection refused (test)")
	}
	return t.next.RoundTrip(r)
}

func newAuth(t *testing.T, f *teamsfake.Server, clk *clock, client *http.Client) *teams.Authenticator {
	t.Helper()
	if client == nil {
		client = f.Client()
	}
	a, err := teams.NewAuthenticator(teams.AuthConfig{AppID: appID, MetadataURL: f.MetadataURL(), HTTPClient: client, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// refusedWith checks that err is a refusal (KindForbidden,
// ErrUnauthenticated, 401) whose text has reason and not the token.
func refusedWith(t *testing.T, err error, reason, header string) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatalf("accepted; want refused with %q", reason)
	case !errors.Is(err, teams.ErrUnauthenticated) || appreg.ErrorKind(err) != appreg.KindForbidden || teams.StatusCode(err) != http.StatusUnauthorized:
		t.Fatalf("err = %v (kind %s, status %d); want a refusal", err, appreg.ErrorKind(err), teams.StatusCode(err))
	case !strings.Contains(err.Error(), reason):
		t.Errorf("err = %v; want the reason %q", err, reason)
	}
	t.Logf("refused: %v", err)
	if tok := strings.TrimPrefix(header, "Bearer "); len(tok) > 20 && strings.Contains(err.Error(), tok) {
		t.Errorf("the error holds the token: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	clk := newClock()
	f := newFake(t, clk)
	skypeOnly := f.AddKey("skype", "webchat")
	now := clk.Now()

	type tc struct {
		name   string
		opts   teamsfake.SignOptions
		header func(h string) string   // changes the header Sign made
		act    func(a *teams.Activity) // changes the activity after signing
		want   string                  // "" accepted; else the reason
	}
	cases := []tc{
		{name: "valid token", want: ""},
		{name: "expired within the 5 minutes of skew", opts: teamsfake.SignOptions{IssuedAt: now.Add(-time.Hour), NotBefore: now.Add(-time.Hour), Expires: now.Add(-4 * time.Minute)}},
		{name: "not yet valid within the skew", opts: teamsfake.SignOptions{IssuedAt: now.Add(4 * time.Minute), NotBefore: now.Add(4 * time.Minute)}},
		{name: "missing header", header: func(string) string { return "" }, want: "no Authorization header"},
		{name: "not a bearer token", header: func(string) string { return "Basic dXNlcjpwYXNz" }, want: "not a bearer token"},
		{name: "empty bearer", header: func(string) string { return "Bearer " }, want: "not a bearer token"},
		{name: "not a JWT", header: func(string) string { return "Bearer not-a-jwt" }, want: "not an RS256-signed JWT"},
		{name: "forged signature", opts: teamsfake.SignOptions{ForgeSignature: true}, want: "signature does not verify"},
		{name: "tampered payload", header: tamper, want: "signature does not verify"},
		{name: "key not in the key set", opts: teamsfake.SignOptions{UnlistedKey: true}, want: "is not in the Bot Framework's key set"},
		{name: "expired", opts: teamsfake.SignOptions{IssuedAt: now.Add(-2 * time.Hour), NotBefore: now.Add(-2 * time.Hour), Expires: now.Add(-6 * time.Minute)}, want: "the token expired at"},
		{name: "not yet valid", opts: teamsfake.SignOptions{IssuedAt: now, NotBefore: now.Add(6 * time.Minute)}, want: "not valid before"},
		{name: "issued in the future", opts: teamsfake.SignOptions{IssuedAt: now.Add(10 * time.Minute)}, want: "claims are not valid"},
		{name: "wrong audience", opts: teamsfake.SignOptions{Audience: "00000000-1111-2222-3333-444444444444"}, want: "audience \"00000000-1111-2222-3333-444444444444\" is not the bot's app id"},
		{name: "wrong issuer", opts: teamsfake.SignOptions{Issuer: "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/"}, want: "issuer \"https://sts.windows.net/"},
		{name: "alg none", opts: teamsfake.SignOptions{Algorithm: "none"}, want: "not an RS256-signed JWT"},
		{name: "alg HS256 keyed with the public key", opts: teamsfake.SignOptions{Algorithm: "HS256"}, want: "not an RS256-signed JWT"},
		{name: "key not endorsed for msteams", opts: teamsfake.SignOptions{KeyID: skypeOnly}, want: "is not endorsed for channel \"msteams\""},
		{name: "key not endorsed for the activity's channel", act: func(a *teams.Activity) { a.ChannelID = "webchat" }, want: "is not endorsed for channel \"webchat\""},
		{name: "serviceurl claim differs", opts: teamsfake.SignOptions{ServiceURL: "https://smba.trafficmanager.net/emea/"}, want: "serviceurl \"https://smba.trafficmanager.net/emea/\" is not the activity's serviceUrl"},
		{name: "activity's serviceUrl changed after signing", act: func(a *teams.Activity) { a.ServiceURL = "https://attacker.example/" }, want: "is not the activity's serviceUrl \"https://attacker.example/\""},
		{name: "no serviceurl claim", opts: teamsfake.SignOptions{OmitServiceURL: true}, want: "no serviceurl claim"},
		{name: "activity without serviceUrl", act: func(a *teams.Activity) { a.ServiceURL = "" }, want: "the activity has no serviceUrl"},
		{name: "activity without channelId", act: func(a *teams.Activity) { a.ChannelID = "" }, want: "the activity has no channelId"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			act := message(f, "help")
			header := f.Sign(act, c.opts)
			if c.header != nil {
				header = c.header(header)
			}
			if c.act != nil {
				c.act(act)
			}
			err := newAuth(t, f, clk, nil).Authenticate(timeout(t), header, act)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			refusedWith(t, err, c.want, header)
		})
	}
}

// tamper changes the payload of a signed token, keeping its signature.
func tamper(header string) string {
	parts := strings.Split(header, ".")
	parts[1] = strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return r
	}, parts[1])
	return strings.Join(parts, ".")
}

// A token signed with a key the cache does not know makes the
// Authenticator fetch the key set again, at most once a minute.
func TestAuthenticateKeyRotation(t *testing.T) {
	clk := newClock()
	f := newFake(t, clk)
	a := newAuth(t, f, clk, nil)
	ctx := timeout(t)
	act := message(f, "help")

	if err := a.Authenticate(ctx, f.Sign(act, teamsfake.SignOptions{}), act); err != nil {
		t.Fatal(err)
	}
	oldKey := f.SigningKeyID()
	newKey := f.RotateKey()

	// Right after a fetch, an unknown kid does not cause another one.
	header := f.Sign(act, teamsfake.SignOptions{})
	refusedWith(t, a.Authenticate(ctx, header, act), "is not in the Bot Framework's key set", header)
	if m, k := f.Fetches(); m != 1 || k != 1 {
		t.Fatalf("fetches = %d metadata, %d keys; want 1, 1 (rate-limited)", m, k)
	}

	clk.Advance(time.Minute)
	if err := a.Authenticate(ctx, f.Sign(act, teamsfake.SignOptions{}), act); err != nil {
		t.Fatalf("rotated key %s: %v", newKey, err)
	}
	if m, k := f.Fetches(); m != 2 || k != 2 {
		t.Fatalf("fetches = %d, %d; want 2, 2", m, k)
	}
	// The withdrawn key is no longer accepted, and asking for it again at
	// once fetches nothing.
	header = f.Sign(act, teamsfake.SignOptions{KeyID: oldKey})
	refusedWith(t, a.Authenticate(ctx, header, act), "is not in the Bot Framework's key set", header)
	if m, _ := f.Fetches(); m != 2 {
		t.Errorf("metadata fetches = %d; want 2", m)
	}
}

// Keys are used for 24 hours, then fetched again before use; when that
// fetch fails, requests are unavailable (503), not checked against old
// keys, and the fetch is tried again at most once a minute.
func TestAuthenticateKeysRefreshedAfter24h(t *testing.T) {
	clk := newClock()
	f := newFake(t, clk)
	transport := &flakyTransport{next: f.Client().Transport}
	a := newAuth(t, f, clk, &http.Client{Transport: transport})
	ctx := timeout(t)
	act := message(f, "help")
	check := func(step string, wantMetadata int) {
		t.Helper()
		if err := a.Authenticate(ctx, f.Sign(act, teamsfake.SignOptions{}), act); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if m, k := f.Fetches(); m != wantMetadata || k != wantMetadata {
			t.Fatalf("%s: fetches = %d, %d; want %d each", step, m, k, wantMetadata)
		}
	}

	check("first request", 1)
	clk.Advance(24*time.Hour - time.Second)
	check("just under 24 h", 1)
	clk.Advance(time.Second)
	check("at 24 h", 2)

	clk.Advance(24 * time.Hour)
	transport.down.Store(true)
	before := transport.requests.Load()
	for i := range 3 {
		err := a.Authenticate(ctx, f.Sign(act, teamsfake.SignOptions{}), act)
		if appreg.ErrorKind(err) != appreg.KindUnavailable || teams.StatusCode(err) != http.StatusServiceUnavailable || errors.Is(err, teams.ErrUnauthenticated) {
			t.Fatalf("request %d with the metadata down: %v (kind %s); want unavailable", i, err, appreg.ErrorKind(err))
		}
	}
	if n := transport.requests.Load() - before; n != 1 {
		t.Errorf("%d fetch attempts within a minute; want 1", n)
	}
	transport.down.Store(false)
	clk.Advance(time.Minute)
	check("a minute later, the metadata up again", 3)
}

// Concurrent first requests share one fetch.
func TestAuthenticateConcurrentFirstFetch(t *testing.T) {
	clk := newClock()
	f := newFake(t, clk)
	a := newAuth(t, f, clk, nil)
	act := message(f, "help")
	header := f.Sign(act, teamsfake.SignOptions{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() { errs <- a.Authenticate(timeout(t), header, act) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if m, k := f.Fetches(); m != 1 || k != 1 {
		t.Errorf("fetches = %d, %d; want 1, 1", m, k)
	}
}

// errReader fails the test when the body is read.
type errReader struct{ t *testing.T }

func (r errReader) Read([]byte) (int, error) {
	r.t.Error("the body of an unauthenticated request was read")
	return 0, io.EOF
}

func TestAuthenticateRequest(t *testing.T) {
	clk := newClock()
	f := newFake(t, clk)
	a := newAuth(t, f, clk, nil)
	act := message(f, "<at>appreg</at> help")
	body, _ := json.Marshal(act)
	header := f.Sign(body, teamsfake.SignOptions{})

	cases := []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"signed activity", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body))
			r.Header.Set("Authorization", header)
			return r
		}, http.StatusOK},
		{"no header: body not read", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/api/messages", errReader{t})
		}, http.StatusUnauthorized},
		{"forged", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body))
			r.Header.Set("Authorization", f.Sign(body, teamsfake.SignOptions{ForgeSignature: true}))
			return r
		}, http.StatusUnauthorized},
		{"not JSON", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/api/messages", strings.NewReader("{"))
			r.Header.Set("Authorization", header)
			return r
		}, http.StatusBadRequest},
		{"too large", func() *http.Request {
			big := bytes.Repeat([]byte(" "), teams.MaxActivityBytes+1)
			r := httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(big))
			r.Header.Set("Authorization", header)
			return r
		}, http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := a.AuthenticateRequest(c.req())
			if s := teams.StatusCode(err); s != c.status {
				t.Fatalf("status %d (%v); want %d", s, err, c.status)
			}
			if err == nil && (got.TextWithoutMention() != "help" || got.From.ID != userID) {
				t.Errorf("activity = %+v", got)
			}
		})
	}
}

func TestNewAuthenticatorConfig(t *testing.T) {
	for _, cfg := range []teams.AuthConfig{
		{},
		{AppID: appID, MetadataURL: "login.botframework.com/v1/.well-known/openidconfiguration"},
		{AppID: appID, MetadataURL: "ftp://login.botframework.com/"},
	} {
		if _, err := teams.NewAuthenticator(cfg); appreg.ErrorKind(err) != appreg.KindInvalid {
			t.Errorf("%+v: err = %v; want invalid", cfg, err)
		}
	}
	if _, err := teams.NewAuthenticator(teams.AuthConfig{AppID: appID}); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
