package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/entra"
	"github.com/appreg-bot/appreg-bot/internal/fakes"
	"github.com/appreg-bot/appreg-bot/internal/simtenant"
	"github.com/appreg-bot/appreg-bot/internal/slackfake"
)

const (
	signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	praUser       = "security@contoso.onmicrosoft.com"
)

func TestLoadConfig(t *testing.T) {
	base := map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "AZURE_CLIENT_ID": "c", "BOT_OPERATORS": "U1", "REDIS_URL": "redis://127.0.0.1:6379"}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(Config) bool
	}{
		{"console defaults", map[string]string{}, "", func(c Config) bool {
			return c.Console() && c.SimulatedTenant && c.ListenAddr == "127.0.0.1:3000" && c.SecretLifetime == 365*24*time.Hour &&
				len(c.Permissions) == 3 && c.IdleTimeout == 24*time.Hour && c.Location == time.UTC
		}},
		{"slack http", base, "", func(c Config) bool { return !c.Console() && !c.SimulatedTenant }},
		{"slack without signing secret", with(base, "SLACK_SIGNING_SECRET", ""), "SLACK_SIGNING_SECRET", nil},
		{"socket mode", with(with(base, "SLACK_SIGNING_SECRET", ""), "SLACK_APP_TOKEN", "xapp-1"), "", nil},
		{"closed by default", with(base, "BOT_OPERATORS", ""), "BOT_OPERATORS", nil},
		{"everyone said explicitly", with(base, "BOT_OPERATORS", "*"), "", func(c Config) bool { return c.Operators[0] == "*" }},
		{"embedded redis refused with a platform", with(base, "REDIS_URL", ""), "REDIS_URL", nil},
		{"embedded redis accepted when asked", with(with(base, "REDIS_URL", ""), "BOT_EMBEDDED_REDIS", "true"), "", nil},
		{"plain http to a remote API", with(base, "SLACK_API_URL", "http://slack.example/api/"), "SLACK_API_URL", nil},
		{"plain http to loopback", with(base, "SLACK_API_URL", "http://127.0.0.1:9999/api/"), "", nil},
		{"plain http to a remote authority", with(base, "AZURE_AUTHORITY_HOST", "http://login.example/"), "AZURE_AUTHORITY_HOST", nil},
		{"user token", with(base, "SLACK_BOT_TOKEN", "xoxp-1"), "SLACK_BOT_TOKEN", nil},
		{"bad app token", with(base, "SLACK_APP_TOKEN", "xoxb-2"), "SLACK_APP_TOKEN", nil},
		{"slack needs a client id", with(base, "AZURE_CLIENT_ID", ""), "AZURE_CLIENT_ID", nil},
		{"bad redis url", with(base, "REDIS_URL", "http://x"), "REDIS_URL", nil},
		{"rediss", with(base, "REDIS_URL", "rediss://u:p@h:6380/1"), "", nil},
		{"lifetime in days", with(base, "BOT_SECRET_LIFETIME", "180d"), "", func(c Config) bool { return c.SecretLifetime == 180*24*time.Hour }},
		{"lifetime too long", with(base, "BOT_SECRET_LIFETIME", "800d"), "BOT_SECRET_LIFETIME", nil},
		{"bad idle", with(base, "BOT_IDLE_TIMEOUT", "soon"), "BOT_IDLE_TIMEOUT", nil},
		{"bad state key", with(base, "BOT_STATE_KEY", "c2hvcnQ="), "BOT_STATE_KEY", nil},
		{"bad time zone", with(base, "BOT_TIMEZONE", "Mars/Base"), "BOT_TIMEZONE", nil},
		{"bad level", with(base, "BOT_LOG_LEVEL", "loud"), "BOT_LOG_LEVEL", nil},
		{"bad simulated", with(base, "BOT_SIMULATED_TENANT", "perhaps"), "BOT_SIMULATED_TENANT", nil},
		{"bad graph endpoint", with(base, "GRAPH_ENDPOINT", "graph"), "GRAPH_ENDPOINT", nil},
		{"operators", with(base, "BOT_OPERATORS", "U1, S2 ,"), "", func(c Config) bool { return len(c.Operators) == 2 && c.Operators[1] == "S2" }},
		{"default roles", base, "", func(c Config) bool { return len(c.Roles) == 6 && c.ApprovalTTL == 24*time.Hour }},
		{"approval ttl over idle", with(base, "BOT_APPROVAL_TTL", "48h"), "BOT_APPROVAL_TTL", nil},
		{"short admin token", with(base, "BOT_ADMIN_TOKEN", "short"), "BOT_ADMIN_TOKEN", nil},
		{"reminder days", with(base, "BOT_REMINDER_DAYS", "14, 2,0"), "", func(c Config) bool { return len(c.ReminderDays) == 3 && c.ReminderDays[1] == 2 }},
		{"bad reminder days", with(base, "BOT_REMINDER_DAYS", "soon"), "BOT_REMINDER_DAYS", nil},
		{"bad reminder time", with(base, "BOT_REMINDER_TIME", "25:00"), "BOT_REMINDER_TIME", nil},
		{"bad reminder rate", with(base, "BOT_REMINDER_RATE", "0"), "BOT_REMINDER_RATE", nil},
		{"sinks default to chat", base, "", func(c Config) bool { return c.Sinks.Chat() && c.Sinks.Names[0] == "chat" }},
		{"unknown sink", with(base, "BOT_SECRET_SINKS", "notepad"), "BOT_SECRET_SINKS", nil},
		{"chat with another sink", with(webhookEnv(base), "BOT_SECRET_SINKS", "chat,webhook"), "BOT_SECRET_SINKS", nil},
		{"webhook", webhookEnv(base), "", func(c Config) bool {
			return !c.Sinks.Chat() && c.Sinks.Has("webhook") && c.Sinks.WebhookURL == "https://platform.example/hooks/appreg"
		}},
		{"webhook twice and in capitals", with(webhookEnv(base), "BOT_SECRET_SINKS", "Webhook, webhook"), "", func(c Config) bool { return len(c.Sinks.Names) == 1 }},
		{"webhook without url", with(webhookEnv(base), "BOT_WEBHOOK_URL", ""), "BOT_WEBHOOK_URL", nil},
		{"webhook over plain http", with(webhookEnv(base), "BOT_WEBHOOK_URL", "http://platform.example/x"), "BOT_WEBHOOK_URL", nil},
		{"webhook without secret", with(webhookEnv(base), "BOT_WEBHOOK_SECRET", ""), "BOT_WEBHOOK_SECRET", nil},
		{"webhook secret without prefix", with(webhookEnv(base), "BOT_WEBHOOK_SECRET", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "BOT_WEBHOOK_SECRET", nil},
		{"webhook without state key", with(webhookEnv(base), "BOT_STATE_KEY", ""), "BOT_STATE_KEY", nil},
		{"certificates by default", with(webhookEnv(base), "BOT_CREDENTIAL", "certificate"), "", func(c Config) bool { return c.Sinks.Credential == appreg.KindCertificate }},
		{"certificates need a sink", with(base, "BOT_CREDENTIAL", "certificate"), "BOT_CREDENTIAL", nil},
		{"unknown credential", with(base, "BOT_CREDENTIAL", "password"), "BOT_CREDENTIAL", nil},
		{"key vault with managed identity", with(with(base, "BOT_SECRET_SINKS", "keyvault"), "BOT_KEYVAULT_URL", "https://contoso-appreg.vault.azure.net/"), "", func(c Config) bool {
			return c.Sinks.Has("keyvault") && c.Sinks.AzureClientSecret == ""
		}},
		{"key vault and webhook", with(with(webhookEnv(base), "BOT_SECRET_SINKS", "keyvault,webhook"), "BOT_KEYVAULT_URL", "https://v.vault.azure.net"), "", func(c Config) bool {
			return len(c.Sinks.Names) == 2 && c.Sinks.Names[0] == "keyvault"
		}},
		{"key vault without url", with(base, "BOT_SECRET_SINKS", "keyvault"), "BOT_KEYVAULT_URL", nil},
		{"key vault over http", with(with(base, "BOT_SECRET_SINKS", "keyvault"), "BOT_KEYVAULT_URL", "http://v.vault.azure.net/"), "BOT_KEYVAULT_URL", nil},
		{"key vault url with a query", with(with(base, "BOT_SECRET_SINKS", "keyvault"), "BOT_KEYVAULT_URL", "https://v.vault.azure.net/?x=1"), "BOT_KEYVAULT_URL", nil},
		{"key vault secret without ids", with(with(with(base, "BOT_SECRET_SINKS", "keyvault"), "BOT_KEYVAULT_URL", "https://v.vault.azure.net/"), "BOT_AZURE_CLIENT_SECRET", "x"), "BOT_AZURE_CLIENT_SECRET", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr+":") {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil && !tt.check(c) {
				t.Fatalf("config = %+v", c)
			}
		})
	}
}

// webhookEnv adds a valid webhook sink to env.
func webhookEnv(env map[string]string) map[string]string {
	for k, v := range map[string]string{"BOT_SECRET_SINKS": "webhook", "BOT_WEBHOOK_URL": "https://platform.example/hooks/appreg",
		"BOT_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "BOT_STATE_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="} {
		env = with(env, k, v)
	}
	return env
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		if a != k {
			out[a] = b
		}
	}
	return out
}

// env is the test environment: a Slack fake, a Redis and the stand-in
// tenant, shared by the bot replicas a test starts.
type env struct {
	t     *testing.T
	ctx   context.Context
	slack *slackfake.Server
	redis map[string]string // REDIS_URL, REDIS_ADDRS, REDIS_MASTER_NAME
	sim   *simtenant.Server
	logs  *fakes.Buffer
}

func newEnv(t *testing.T) *env { return newEnvOn(t, nil) }

// newEnvOn is newEnv on the Redis of redisVars (REDIS_URL, REDIS_ADDRS,
// REDIS_MASTER_NAME); nil takes testRedis's.
func newEnvOn(t *testing.T, redisVars map[string]string) *env {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, slack: slackfake.New("xoxb-test"), sim: simtenant.New(simtenant.Options{}), logs: &fakes.Buffer{}}
	t.Cleanup(e.slack.Close)
	t.Cleanup(e.sim.Close)
	e.sim.AddTenant(simtenant.Tenant{ID: demoTenantID, DisplayName: "Contoso", Domains: []string{demoDomain}})
	e.sim.AddUser(demoTenantID, simtenant.User{UPN: demoAdmin, DisplayName: "Contoso Admin", Roles: []string{"Application Administrator"}})
	e.sim.AddUser(demoTenantID, simtenant.User{UPN: praUser, DisplayName: "Contoso Security", Roles: []string{"Privileged Role Administrator"}})
	e.redis = redisVars
	if e.redis == nil {
		e.redis = testRedis(t)
	}
	return e
}

// start runs one bot replica in Slack HTTP mode.
func (e *env) start(extra map[string]string, platforms ...platform) *Main {
	return e.startWith(extra, func(m *Main) { m.extraPlatforms = platforms })
}

// startWith runs one bot replica, letting set change its Main first.
func (e *env) startWith(extra map[string]string, set func(*Main)) *Main {
	e.t.Helper()
	cfg := e.config(map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": signingSecret, "SLACK_API_URL": e.slack.URL() + "/",
	}, extra)
	return e.startConfig(cfg, set)
}

// config loads the settings of a test replica: those every test replica
// has, the test Redis, the platform's, then extra.
func (e *env) config(platform, extra map[string]string) Config {
	e.t.Helper()
	vars := map[string]string{
		"BOT_LISTEN_ADDR": "127.0.0.1:0", "BOT_SIMULATED_TENANT": "true", "BOT_VALIDATION_BACKOFF": "20ms",
		"BOT_OPERATORS": "*",
	}
	maps.Copy(vars, platform)
	maps.Copy(vars, e.redis)
	maps.Copy(vars, extra)
	cfg, err := LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg
}

// startConfig runs one bot replica with cfg against the stand-in tenant,
// letting set (when not nil) change its Main first.
func (e *env) startConfig(cfg Config, set func(*Main)) *Main {
	e.t.Helper()
	tenant, err := entra.New(entra.Config{ClientID: e.sim.ClientID(), AuthorityHost: e.sim.URL(), GraphEndpoint: e.sim.URL(), HTTPClient: e.sim.Client()})
	if err != nil {
		e.t.Fatal(err)
	}
	m := &Main{Config: cfg, Tenant: tenant, LogOutput: e.logs, reminderScan: 100 * time.Millisecond}
	if set != nil {
		set(m)
	}
	if err := m.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { m.Close() })
	return m
}

// post sends a request signed as Slack signs it.
func (e *env) post(m *Main, path string, form url.Values, sign bool) (int, string) {
	e.t.Helper()
	body := []byte(form.Encode())
	req, _ := http.NewRequestWithContext(e.ctx, http.MethodPost, "http://"+m.Addr()+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sign {
		for k, v := range slackfake.Sign(signingSecret, time.Now(), body) {
			req.Header[k] = v
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

var triggers int

func (e *env) command(m *Main, user, text string) (int, string) {
	triggers++
	return e.post(m, "/slack/commands", url.Values{"command": {"/appreg"}, "text": {text}, "user_id": {user},
		"user_name": {"engineer"}, "channel_id": {"C1"}, "team_id": {"T1"}, "trigger_id": {fmt.Sprintf("trig-%d", triggers)}}, true)
}

func (e *env) interact(m *Main, payload any) (int, string) {
	p, _ := json.Marshal(payload)
	return e.post(m, "/slack/interactivity", url.Values{"payload": {string(p)}}, true)
}

func (e *env) click(m *Main, user, actionID, value string) {
	e.t.Helper()
	triggers++
	code, body := e.interact(m, map[string]any{
		"type": "block_actions", "user": map[string]string{"id": user}, "trigger_id": fmt.Sprintf("trig-%d", triggers),
		"channel": map[string]string{"id": "C1"}, "container": map[string]string{"message_ts": "1"},
		"actions": []map[string]string{{"action_id": actionID, "block_id": "actions", "value": value, "type": "button"}},
	})
	if code != http.StatusOK {
		e.t.Fatalf("click: %d %s", code, body)
	}
}

func (e *env) submitName(m *Main, user, conv, name string) string {
	e.t.Helper()
	code, body := e.interact(m, map[string]any{
		"type": "view_submission", "user": map[string]string{"id": user}, "trigger_id": "v",
		"view": map[string]any{"callback_id": "appreg.name", "private_metadata": conv,
			"state": map[string]any{"values": map[string]any{"name": map[string]any{"value": map[string]string{"type": "plain_text_input", "value": name}}}}},
	})
	if code != http.StatusOK {
		e.t.Fatalf("submit: %d %s", code, body)
	}
	return body
}

func (e *env) waitCall(method, part string) slackfake.Call {
	e.t.Helper()
	c, err := e.slack.WaitFor(e.ctx, method, func(c slackfake.Call) bool {
		return strings.Contains(c.Text, part) || strings.Contains(c.Shown(), part)
	})
	if err != nil {
		e.t.Fatalf("no %s with %q: %v", method, part, err)
	}
	return c
}

// buttonValue finds the value of a button in a posted message.
func buttonValue(c slackfake.Call, actionID string) string {
	for _, b := range c.Blocks {
		for _, el := range b.Elements {
			if el.ActionID == actionID {
				return el.Value
			}
		}
	}
	return ""
}

func (e *env) approveSignIn() { e.t.Helper(); e.approveAs(demoAdmin) }

// approveAs completes the pending sign-in as the given user.
func (e *env) approveAs(upn string) {
	e.t.Helper()
	for {
		if err := e.sim.Approve("", upn); err == nil {
			return
		}
		select {
		case <-e.ctx.Done():
			e.t.Fatal("no pending sign-in")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestSlackOnboardingEndToEnd plays the engineer in Slack and the customer
// admin in the stand-in tenant, through the real slack-go, MSAL and Graph
// clients, from /appreg new to the report.
func TestSlackOnboardingEndToEnd(t *testing.T) {
	e := newEnv(t)
	m := e.start(nil)

	if code, _ := e.post(m, "/slack/commands", url.Values{"command": {"/appreg"}, "text": {"new contoso.onmicrosoft.com"}, "user_id": {"U1"}}, false); code != http.StatusUnauthorized {
		t.Fatalf("unsigned: %d", code)
	}
	if code, body := e.command(m, "U1", "help"); code != 200 || !strings.Contains(body, "/appreg new \\u003ctenant\\u003e") && !strings.Contains(body, "/appreg new <tenant>") {
		t.Fatalf("help: %d %s", code, body)
	}
	start := time.Now()
	code, body := e.command(m, "U1", "new contoso.onmicrosoft.com sbc1")
	if code != 200 || !strings.Contains(body, "Starting the onboarding") || !strings.Contains(body, `"ephemeral"`) {
		t.Fatalf("new: %d %s", code, body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("ack took %s", d)
	}
	status := e.waitCall("chat.postMessage", "App registration for contoso.onmicrosoft.com")
	if status.Params["thread_ts"] != "" {
		t.Fatal("status message posted in a thread")
	}
	codeMsg := e.waitCall("chat.postEphemeral", "Sign-in code")
	if codeMsg.Params["user"] != "U1" || codeMsg.Params["thread_ts"] != status.Params["ts"] && codeMsg.Params["thread_ts"] == "" {
		t.Fatalf("code message: %+v", codeMsg.Params)
	}
	e.waitCall("chat.update", "Waiting for the customer admin to sign in, until")
	e.approveSignIn()
	signed := e.waitCall("chat.postMessage", "Connected to the tenant")
	conv := buttonValue(e.waitCall("chat.postMessage", "What should the registration"), "appreg.name")
	if conv == "" || signed.Params["thread_ts"] == "" {
		t.Fatalf("conversation %q, thread %q", conv, signed.Params["thread_ts"])
	}
	e.click(m, "U1", "appreg.name", conv)
	defer func() {
		if t.Failed() {
			t.Log(e.logs.String())
		}
	}()
	if _, err := e.slack.WaitFor(e.ctx, "views.open", func(c slackfake.Call) bool { return c.View != nil && c.View.PrivateMetadata == conv }); err != nil {
		t.Fatal(err)
	}
	if body := e.submitName(m, "U1", conv, "bad.name"); !strings.Contains(body, `"response_action":"errors"`) || !strings.Contains(body, "dot") {
		t.Fatalf("bad name: %s", body)
	}
	if body := e.submitName(m, "U1", conv, "DR-Contoso"); strings.Contains(body, "errors") {
		t.Fatalf("good name: %s", body)
	}
	report := e.waitCall("chat.postMessage", "Registration DR-Contoso created")
	if !strings.Contains(report.Text, "Authentication validated") {
		t.Fatalf("report: %s", report.Text)
	}
	secret := e.waitCall("chat.postEphemeral", "Client secret for DR-Contoso")
	if secret.Params["user"] != "U1" {
		t.Fatalf("secret to %q", secret.Params["user"])
	}
	apps := e.sim.Applications(demoTenantID)
	if len(apps) != 1 || len(apps[0].Secrets) != 1 {
		t.Fatalf("tenant applications: %+v", apps)
	}
	calls := e.sim.GraphCalls()
	t.Logf("Graph calls for one onboarding: %d", len(calls))
	if len(calls) > 12 {
		t.Errorf("one onboarding made %d Graph calls, want at most 12: %v", len(calls), calls)
	}
	// The secret text reached the requester once and nobody else.
	text := secretText(t, secret.Text)
	for _, c := range e.slack.Calls("") {
		if strings.Contains(c.Text, text) && c.Method != "chat.postEphemeral" {
			t.Errorf("secret in %s", c.Method)
		}
	}
	if strings.Contains(e.logs.String(), text) {
		t.Error("secret in the log")
	}

	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": `appreg_commands_total{command="new"} 1`} {
		resp, err := http.Get("http://" + m.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, want %q in:\n%.400s", path, resp.StatusCode, want, b)
		}
	}
}

func secretText(t *testing.T, msg string) string {
	t.Helper()
	_, after, ok := strings.Cut(msg, "Secret: ")
	if !ok {
		t.Fatalf("no secret in %q", msg)
	}
	text, _, _ := strings.Cut(after, "\n")
	return text
}

// TestReplicasShareConversations starts the conversation on one replica and
// finishes it on another, which restores the admin's session from Redis.
func TestReplicasShareConversations(t *testing.T) {
	e := newEnv(t)
	key := map[string]string{"BOT_STATE_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
	a, b := e.start(key), e.start(key)
	if code, body := e.command(a, "U1", "new contoso.onmicrosoft.com"); code != 200 {
		t.Fatalf("new: %d %s", code, body)
	}
	e.approveSignIn()
	conv := buttonValue(e.waitCall("chat.postMessage", "What should the registration"), "appreg.name")
	if body := e.submitName(b, "U1", conv, "Voice-B"); strings.Contains(body, "errors") {
		t.Fatalf("submit on b: %s", body)
	}
	e.waitCall("chat.postMessage", "Registration Voice-B created")
	if code, body := e.command(b, "U1", "list"); !strings.Contains(body, "Voice-B") {
		t.Fatalf("list on b: %d %s", code, body)
	}
}

// TestRestartMidConversation stops the only replica while it waits for the
// sign-in; the next one tells the engineer what to do and carries on.
func TestRestartMidConversation(t *testing.T) {
	e := newEnv(t)
	a := e.start(nil)
	e.command(a, "U1", "new contoso.onmicrosoft.com")
	e.waitCall("chat.postEphemeral", "Sign-in code")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := e.start(nil)
	paused := e.waitCall("chat.postMessage", "restarted while waiting for the sign-in")
	defer func() {
		if t.Failed() {
			t.Log(e.logs.String())
		}
	}()
	e.click(b, "U1", "appreg.new_code", buttonValue(paused, "appreg.new_code"))
	// The first code is still pending in the tenant: approve the new one.
	if _, err := e.slack.WaitFor(e.ctx, "chat.postEphemeral", func(c slackfake.Call) bool {
		return strings.Contains(c.Text, "Sign-in code") && len(e.sim.PendingCodes()) == 2
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Approve(e.sim.PendingCodes()[1], demoAdmin); err != nil {
		t.Fatal(err)
	}
	e.waitCall("chat.postMessage", "Connected to the tenant")
}
