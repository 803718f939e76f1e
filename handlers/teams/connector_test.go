package teams_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/handlers/teams"
	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/fakes"
	"github.com/appreg-bot/appreg-bot/internal/teamsfake"
)

const threadID = "19:a1b2c3d4e5@thread.tacv2;messageid=1772442800000"

// sleeps records the waits of a Connector instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

type connectorEnv struct {
	fake   *teamsfake.Server
	conn   *teams.Connector
	clock  *clock
	sleeps *sleeps
	log    *fakes.Buffer
}

// newConnector starts a fake and a Connector for it that gets its token
// through the real azidentity flow from the fake's Entra endpoint.
func newConnector(t *testing.T, change ...func(*teams.ConnectorConfig)) *connectorEnv {
	t.Helper()
	env := &connectorEnv{clock: newClock(), sleeps: &sleeps{}, log: &fakes.Buffer{}}
	env.fake = newFake(t, env.clock)
	cfg := teams.ConnectorConfig{
		AppID:                    appID,
		AppPassword:              password,
		AuthorityHost:            env.fake.AuthorityHost(),
		DisableInstanceDiscovery: true,
		HTTPClient:               env.fake.Client(),
		Now:                      env.clock.Now,
		Sleep:                    env.sleeps.sleep,
		Logger:                   jsonLogger(env.log),
	}
	for _, f := range change {
		f(&cfg)
	}
	c, err := teams.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.conn = c
	return env
}

func (env *connectorEnv) send(t *testing.T, text string) (string, error) {
	t.Helper()
	return env.conn.Send(timeout(t), env.fake.ServiceURL(), threadID, &teams.Activity{Text: text})
}

// The four calls reach the connector with the conversation id escaped as
// one path segment, the activity as sent, and the bearer token azidentity
// got, which is requested once for all of them.
func TestConnectorCalls(t *testing.T) {
	env := newConnector(t)
	ctx := timeout(t)
	f := env.fake
	escapedThread := "19%3Aa1b2c3d4e5%40thread.tacv2%3Bmessageid%3D1772442800000"

	sent, err := env.conn.Send(ctx, f.ServiceURL(), threadID, &teams.Activity{Text: "Registration created.", TextFormat: "markdown"})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := env.conn.Reply(ctx, f.ServiceURL(), threadID, sent, &teams.Activity{Text: "The secret is on its way."})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.conn.Update(ctx, f.ServiceURL(), threadID, sent, &teams.Activity{Text: "Registration created (updated)."}); err != nil {
		t.Fatal(err)
	}
	chat, err := env.conn.CreateConversation(ctx, f.ServiceURL(), tenantID, userID)
	if err != nil {
		t.Fatal(err)
	}
	again, err := env.conn.CreateConversation(ctx, f.ServiceURL(), tenantID, userID)
	if err != nil || again != chat {
		t.Fatalf("second CreateConversation = %q, %v; want the same chat %q", again, err, chat)
	}
	if _, err := env.conn.Send(ctx, f.ServiceURL(), chat, &teams.Activity{Text: "Reminder"}); err != nil {
		t.Fatal(err)
	}

	calls := f.Calls("")
	type want struct {
		op, method, uri, conversation, activity, text, replyTo string
	}
	wants := []want{
		{teamsfake.OpSend, "POST", "/amer/v3/conversations/" + escapedThread + "/activities", threadID, "", "Registration created.", ""},
		{teamsfake.OpReply, "POST", "/amer/v3/conversations/" + escapedThread + "/activities/" + sent, threadID, sent, "The secret is on its way.", sent},
		{teamsfake.OpUpdate, "PUT", "/amer/v3/conversations/" + escapedThread + "/activities/" + sent, threadID, sent, "Registration created (updated).", ""},
		{teamsfake.OpCreate, "POST", "/amer/v3/conversations", chat, "", "", ""},
		{teamsfake.OpCreate, "POST", "/amer/v3/conversations", chat, "", "", ""},
		{teamsfake.OpSend, "POST", "/amer/v3/conversations/" + strings.ReplaceAll(chat, ":", "%3A") + "/activities", chat, "", "Reminder", ""},
	}
	if len(calls) != len(wants) {
		t.Fatalf("%d calls; want %d: %+v", len(calls), len(wants), calls)
	}
	for i, w := range wants {
		c := calls[i]
		got := want{c.Op, c.Method, c.RequestURI, c.ConversationID, c.ActivityID, c.Activity.Text, c.Activity.ReplyToID}
		if got != w {
			t.Errorf("call %d = %+v; want %+v", i, got, w)
		}
		if c.Status >= 300 || c.Token == "" || c.Token != calls[0].Token {
			t.Errorf("call %d: status %d, token %q (first %q)", i, c.Status, c.Token, calls[0].Token)
		}
		if c.Op != teamsfake.OpCreate && c.Activity.Type != "message" {
			t.Errorf("call %d: type %q", i, c.Activity.Type)
		}
	}
	if calls[0].Activity.TextFormat != "markdown" || calls[0].ID != sent || calls[1].ID != reply {
		t.Errorf("send answered %q (want %q), reply %q (want %q), textFormat %q", calls[0].ID, sent, calls[1].ID, reply, calls[0].Activity.TextFormat)
	}
	if m, ok := f.Message(threadID, sent); !ok || m.Updates != 1 || m.Activity.Text != "Registration created (updated)." {
		t.Errorf("updated message = %+v, %v", m, ok)
	}
	p := calls[3].Create
	if p == nil || p.Bot.ID != "28:"+appID || len(p.Members) != 1 || p.Members[0].ID != userID || p.IsGroup ||
		p.TenantID != tenantID || p.ChannelData.Tenant.ID != tenantID {
		t.Errorf("create parameters = %+v", p)
	}

	reqs := f.TokenRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d token requests for %d calls; want 1 (cached)", len(reqs), len(calls))
	}
	r := reqs[0]
	if r.Tenant != teams.DefaultTenant || r.GrantType != "client_credentials" || r.ClientID != appID ||
		!slices.Contains(strings.Fields(r.Scope), teams.DefaultScope) || r.Error != "" {
		t.Errorf("token request = %+v", r)
	}
}

// The caller's activity is not changed by the calls.
func TestConnectorDoesNotChangeTheActivity(t *testing.T) {
	env := newConnector(t)
	act := &teams.Activity{Text: "hello"}
	if _, err := env.conn.Reply(timeout(t), env.fake.ServiceURL(), threadID, "1", act); err != nil {
		t.Fatal(err)
	}
	if act.Type != "" || act.ReplyToID != "" {
		t.Errorf("activity changed: %+v", act)
	}
}

// retryAfterer is what the reminder queue looks for in an error's chain.
type retryAfterer interface{ RetryAfter() time.Duration }

func TestConnectorRetries(t *testing.T) {
	cases := []struct {
		name       string
		fail       func(env *connectorEnv) // injects failures
		wantErr    appreg.Kind             // "" for success
		wantSleeps []time.Duration
		wantCalls  int
		wantAfter  time.Duration // RetryAfter of the error
	}{
		{name: "429 with Retry-After seconds, waited out, then success",
			fail:       func(env *connectorEnv) { env.fake.RateLimit(2, "2") },
			wantSleeps: []time.Duration{2 * time.Second, 2 * time.Second}, wantCalls: 3},
		{name: "503 with Retry-After as an HTTP date",
			fail: func(env *connectorEnv) {
				env.fake.FailNext(1, teamsfake.Failure{Status: 503, RetryAfter: env.clock.Now().Add(7 * time.Second).Format(http.TimeFormat)})
			},
			wantSleeps: []time.Duration{7 * time.Second}, wantCalls: 2},
		{name: "502 without Retry-After: backoff",
			fail:       func(env *connectorEnv) { env.fake.FailNext(2, teamsfake.Failure{Status: 502}) },
			wantSleeps: []time.Duration{time.Second, 2 * time.Second}, wantCalls: 3},
		{name: "persistent 503: unavailable after 3 retries, with RetryAfter",
			fail:       func(env *connectorEnv) { env.fake.FailNext(10, teamsfake.Failure{Status: 503, RetryAfter: "5"}) },
			wantErr:    appreg.KindUnavailable,
			wantSleeps: []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second}, wantCalls: 4, wantAfter: 5 * time.Second},
		{name: "persistent 500 without Retry-After",
			fail:       func(env *connectorEnv) { env.fake.FailNext(10, teamsfake.Failure{Status: 500}) },
			wantErr:    appreg.KindUnavailable,
			wantSleeps: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, wantCalls: 4, wantAfter: 8 * time.Second},
		{name: "429 asking for more than 30 s: not waited, returned at once",
			fail:    func(env *connectorEnv) { env.fake.RateLimit(1, "120") },
			wantErr: appreg.KindUnavailable, wantCalls: 1, wantAfter: 120 * time.Second},
		{name: "Retry-After 0 is retried at once; RetryAfter is at least 1 s",
			fail:       func(env *connectorEnv) { env.fake.RateLimit(10, "0") },
			wantErr:    appreg.KindUnavailable,
			wantSleeps: []time.Duration{0, 0, 0}, wantCalls: 4, wantAfter: time.Second},
		{name: "501 is not retried",
			fail:    func(env *connectorEnv) { env.fake.FailNext(1, teamsfake.Failure{Status: 501}) },
			wantErr: appreg.KindInternal, wantCalls: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := newConnector(t)
			c.fail(env)
			_, err := env.send(t, "hello")
			if got := appreg.ErrorKind(err); (err == nil) != (c.wantErr == "") || err != nil && got != c.wantErr {
				t.Fatalf("err = %v (kind %s); want kind %q", err, got, c.wantErr)
			}
			if got := env.sleeps.all(); !slices.Equal(got, c.wantSleeps) {
				t.Errorf("waits = %v; want %v", got, c.wantSleeps)
			}
			if n := len(env.fake.Calls("")); n != c.wantCalls {
				t.Errorf("%d calls; want %d", n, c.wantCalls)
			}
			var ra retryAfterer
			if c.wantAfter != 0 {
				var te *teams.ThrottledError
				if !errors.As(err, &ra) || ra.RetryAfter() != c.wantAfter || !errors.As(err, &te) || te.Attempts != c.wantCalls {
					t.Errorf("err = %v; want RetryAfter %s in the chain", err, c.wantAfter)
				}
				if !strings.Contains(appreg.ErrorMessage(err), "Try again in") {
					t.Errorf("message %q does not say when to try again", appreg.ErrorMessage(err))
				}
			} else if err != nil && errors.As(err, &ra) {
				t.Errorf("err = %v has a RetryAfter", err)
			}
		})
	}
}

// With the default sleep the connector really waits for Retry-After.
func TestConnectorWaitsForRetryAfter(t *testing.T) {
	env := newConnector(t, func(c *teams.ConnectorConfig) { c.Sleep = nil })
	env.fake.RateLimit(1, "1")
	start := time.Now()
	if _, err := env.send(t, "hello"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("returned after %s; want at least the 1 s Retry-After", d)
	}
	// A cancelled wait ends the call.
	env.fake.RateLimit(1, "20")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := env.conn.Send(ctx, env.fake.ServiceURL(), threadID, &teams.Activity{Text: "x"}); !errors.Is(err, context.DeadlineExceeded) || appreg.ErrorKind(err) != appreg.KindUnavailable {
		t.Errorf("cancelled wait: %v", err)
	}
}

func TestConnectorStatusKinds(t *testing.T) {
	cases := []struct {
		status int
		kind   appreg.Kind
		says   string
	}{
		{400, appreg.KindInvalid, "as invalid (HTTP 400)"},
		{401, appreg.KindForbidden, "refused the bot's token"},
		{403, appreg.KindForbidden, "does not allow the bot to send a message"},
		{404, appreg.KindNotFound, "could not find the conversation"},
		{413, appreg.KindInvalid, "HTTP 413"},
		{409, appreg.KindInternal, "HTTP 409"},
	}
	for _, c := range cases {
		t.Run(http.StatusText(c.status), func(t *testing.T) {
			env := newConnector(t)
			env.fake.FailNext(1, teamsfake.Failure{Status: c.status})
			_, err := env.send(t, "hello")
			if appreg.ErrorKind(err) != c.kind || !strings.Contains(appreg.ErrorMessage(err), c.says) || errors.Is(err, teams.ErrAppNotInstalled) {
				t.Errorf("err = %v (kind %s); want kind %s saying %q", err, appreg.ErrorKind(err), c.kind, c.says)
			}
		})
	}
	env := newConnector(t)
	err := env.conn.Update(timeout(t), env.fake.ServiceURL(), threadID, "1772442899999", &teams.Activity{Text: "x"})
	if appreg.ErrorKind(err) != appreg.KindNotFound {
		t.Errorf("update of an unknown message: %v", err)
	}
}

// Teams refuses a 1:1 chat with a user who has not installed the app:
// the error is recognisable and tells the user what to do.
func TestCreateConversationAppNotInstalled(t *testing.T) {
	cases := []struct {
		name  string
		setup func(f *teamsfake.Server)
	}{
		{"403", func(f *teamsfake.Server) { f.Uninstall(userID) }},
		{"404", func(f *teamsfake.Server) {
			f.FailNext(1, teamsfake.Failure{Status: 404, Code: "NotFound", Message: "Conversation not found."})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := newConnector(t)
			c.setup(env.fake)
			id, err := env.conn.CreateConversation(timeout(t), env.fake.ServiceURL(), tenantID, userID)
			if id != "" || !errors.Is(err, teams.ErrAppNotInstalled) || appreg.ErrorKind(err) != appreg.KindForbidden {
				t.Fatalf("CreateConversation = %q, %v (kind %s); want ErrAppNotInstalled, forbidden", id, err, appreg.ErrorKind(err))
			}
			if msg := appreg.ErrorMessage(err); !strings.Contains(msg, "not installed") || !strings.Contains(msg, "Apps") {
				t.Errorf("message %q does not say to install the app", msg)
			}
			if !strings.Contains(err.Error(), userID) || !strings.Contains(err.Error(), "HTTP "+c.name) {
				t.Errorf("the log text %q does not name the user and the status", err)
			}
		})
	}
}

func TestConnectorRefusesBadInput(t *testing.T) {
	env := newConnector(t)
	ctx := timeout(t)
	svc := env.fake.ServiceURL()
	cases := []struct {
		name string
		call func() error
	}{
		{"plain http to a remote host", func() error {
			_, err := env.conn.Send(ctx, "http://smba.example.net/amer/", threadID, &teams.Activity{Text: "x"})
			return err
		}},
		{"not a URL", func() error {
			_, err := env.conn.Send(ctx, "smba.trafficmanager.net/amer/", threadID, &teams.Activity{Text: "x"})
			return err
		}},
		{"service URL with a query", func() error {
			_, err := env.conn.Send(ctx, svc+"?x=1", threadID, &teams.Activity{Text: "x"})
			return err
		}},
		{"service URL with a user", func() error {
			_, err := env.conn.Send(ctx, "https://user:pw@smba.example.net/", threadID, &teams.Activity{Text: "x"})
			return err
		}},
		{"no conversation", func() error { _, err := env.conn.Send(ctx, svc, "", &teams.Activity{Text: "x"}); return err }},
		{"no activity", func() error { _, err := env.conn.Send(ctx, svc, threadID, nil); return err }},
		{"reply to nothing", func() error { _, err := env.conn.Reply(ctx, svc, threadID, "", &teams.Activity{}); return err }},
		{"update nothing", func() error { return env.conn.Update(ctx, svc, threadID, "", &teams.Activity{}) }},
		{"chat without tenant", func() error { _, err := env.conn.CreateConversation(ctx, svc, "", userID); return err }},
		{"chat without user", func() error { _, err := env.conn.CreateConversation(ctx, svc, tenantID, ""); return err }},
	}
	for _, c := range cases {
		if err := c.call(); appreg.ErrorKind(err) != appreg.KindInvalid {
			t.Errorf("%s: err = %v; want invalid", c.name, err)
		}
	}
	if n := len(env.fake.Calls("")); n != 0 {
		t.Errorf("%d calls reached the connector", n)
	}
	// http is allowed to a loopback host (a local emulator); nothing
	// listens on port 1, so the call is unavailable rather than invalid.
	if _, err := env.conn.Send(ctx, "http://127.0.0.1:1/", threadID, &teams.Activity{Text: "x"}); appreg.ErrorKind(err) != appreg.KindUnavailable {
		t.Errorf("loopback http: %v", err)
	}
}

// A single-tenant bot asks its own tenant for the token; asking the wrong
// tenant is a credentials error that names the tenant.
func TestConnectorTenant(t *testing.T) {
	clk := newClock()
	f := newFake(t, clk, func(o *teamsfake.Options) { o.Tenant = tenantID })
	connect := func(tenant string) *teams.Connector {
		c, err := teams.NewConnector(teams.ConnectorConfig{
			AppID: appID, AppPassword: password, Tenant: tenant, AuthorityHost: f.AuthorityHost(),
			DisableInstanceDiscovery: true, HTTPClient: f.Client(), Now: clk.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := connect(tenantID).Send(timeout(t), f.ServiceURL(), threadID, &teams.Activity{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	_, err := connect("").Send(timeout(t), f.ServiceURL(), threadID, &teams.Activity{Text: "x"})
	if appreg.ErrorKind(err) != appreg.KindForbidden || !strings.Contains(appreg.ErrorMessage(err), "tenant botframework.com") {
		t.Errorf("wrong tenant: %v", err)
	}
}

func TestNewConnectorConfig(t *testing.T) {
	for name, cfg := range map[string]teams.ConnectorConfig{
		"no app id":           {AppPassword: password},
		"no password":         {AppID: appID},
		"http authority host": {AppID: appID, AppPassword: password, AuthorityHost: "http://login.example/"},
	} {
		_, err := teams.NewConnector(cfg)
		if appreg.ErrorKind(err) != appreg.KindInvalid {
			t.Errorf("%s: err = %v; want invalid", name, err)
		}
		if err != nil && strings.Contains(err.Error(), password) {
			t.Errorf("%s: the error holds the password", name)
		}
	}
}

// No error text and no log line holds the app password or a bearer token,
// even when Entra ID or the connector echo them.
func TestConnectorKeepsSecretsOutOfErrorsAndLogs(t *testing.T) {
	type tc struct {
		name string
		env  func(t *testing.T) *connectorEnv
		kind appreg.Kind
	}
	cases := []tc{
		{"wrong password", func(t *testing.T) *connectorEnv {
			return newConnector(t, func(c *teams.ConnectorConfig) { c.AppPassword = password + "-old" })
		}, appreg.KindForbidden},
		{"token endpoint echoes the secret", func(t *testing.T) *connectorEnv {
			env := newConnector(t)
			env.fake.FailTokens(1, teamsfake.Failure{Status: 400, Code: "invalid_request", EchoCredentials: true})
			return env
		}, appreg.KindForbidden},
		{"connector echoes the token in a 400", func(t *testing.T) *connectorEnv {
			env := newConnector(t)
			env.fake.FailNext(1, teamsfake.Failure{Status: 400, EchoCredentials: true})
			return env
		}, appreg.KindInvalid},
		{"connector echoes the token while unavailable", func(t *testing.T) *connectorEnv {
			env := newConnector(t)
			env.fake.FailNext(4, teamsfake.Failure{Status: 503, RetryAfter: "1", EchoCredentials: true})
			return env
		}, appreg.KindUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := c.env(t)
			_, err := env.send(t, "hello")
			if appreg.ErrorKind(err) != c.kind {
				t.Fatalf("err = %v (kind %s); want %s", err, appreg.ErrorKind(err), c.kind)
			}
			secrets := []string{password, password + "-old"}
			for _, call := range env.fake.Calls("") {
				secrets = append(secrets, call.Token)
			}
			texts := map[string]string{"error": err.Error(), "message": appreg.ErrorMessage(err), "log": env.log.String()}
			for what, text := range texts {
				for _, s := range secrets {
					if s != "" && strings.Contains(text, s) {
						t.Errorf("the %s holds a secret %.12s…: %s", what, s, text)
					}
				}
				if strings.Contains(text, "eyJ") {
					t.Errorf("the %s holds something like a JWT: %s", what, text)
				}
			}
			t.Logf("error: %v", err)
		})
	}
}
