package wizard

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/fakes"
	"github.com/appreg-bot/appreg-bot/internal/redisstore"
)

const requester = "U_REQ"

// harness plays the requester and the customer admin against one wizard.
type harness struct {
	t      *testing.T
	ctx    context.Context
	mr     *miniredis.Miniredis
	rdb    *redis.Client
	store  *redisstore.Store
	chat   *fakes.Chat
	tenant *fakes.Tenant
	cfg    Config
	w      *Wizard
	logs   *fakes.Buffer
	rem    *fakes.Reminders
	sinks  []appreg.Sink // none: the chat
}

func testConfig() Config {
	return Config{
		Permissions:       []appreg.Permission{{Resource: "graph", Name: "Organization.Read.All"}, {Resource: "graph", Name: "User.Read.All"}},
		NeededRoles:       []string{"Teams Administrator"},
		ValidationBackoff: time.Millisecond, LeaseTTL: 300 * time.Millisecond, RecoveryInterval: time.Hour,
		Operators: []string{Everyone},
	}
}

func newHarness(t *testing.T, tweak ...func(*Config)) *harness {
	t.Helper()
	// Generous: a loaded CI machine runs many packages at once.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	h := &harness{t: t, ctx: ctx, mr: mr, rdb: rdb, store: redisstore.New(rdb, time.Hour, nil),
		chat: fakes.NewChat(), tenant: fakes.NewTenant(), cfg: testConfig(), logs: &fakes.Buffer{}, rem: fakes.NewReminders()}
	for _, f := range tweak {
		f(&h.cfg)
	}
	h.w = h.newWizard()
	return h
}

// newWizard starts a wizard replica on the harness's store, chat and tenant.
func (h *harness) newWizard() *Wizard {
	h.t.Helper()
	w, err := New(h.cfg, Deps{Store: h.store, Chat: h.chat, Tenant: h.tenant, Reminders: h.rem, Sinks: h.sinks,
		Logger: slog.New(slog.NewJSONHandler(h.logs, nil))})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(w.Close)
	return w
}

func (h *harness) caller(user string) appreg.Caller {
	return appreg.Caller{Platform: "slack", User: appreg.User{ID: user}, Channel: "C1"}
}

// replied is a command's reply as the tests read it: its plain text and
// its buttons.
type replied struct {
	Text    string
	Buttons []appreg.Button
}

func (h *harness) command(user, text string) replied {
	r := h.w.Command(h.ctx, appreg.Command{Caller: h.caller(user), Text: text})
	return replied{Text: r.Text.String(), Buttons: r.Buttons}
}

// act clicks as caller and shows the answer as an adapter would.
func (h *harness) act(caller appreg.Caller, action, value string) {
	h.t.Helper()
	a := appreg.Action{Caller: caller, ActionID: action, Value: value}
	ans, err := h.w.Act(h.ctx, a)
	if err != nil {
		h.t.Fatal(err)
	}
	h.chat.Answer(caller.Place(), caller.User.ID, ans)
}

func (h *harness) wait(match func(fakes.Said) bool) fakes.Said {
	h.t.Helper()
	s, err := h.chat.WaitFor(h.ctx, match)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) conversation() *appreg.Conversation {
	h.t.Helper()
	id, err := h.store.ActiveConversation(h.ctx, "C1", requester)
	if err != nil {
		h.t.Fatal(err)
	}
	if id != "" {
		c, err := h.store.Conversation(h.ctx, id)
		if err != nil {
			h.t.Fatal(err)
		}
		return c
	}
	// None active: the newest one.
	keys, _ := h.rdb.Keys(h.ctx, "bot:conv:{*}").Result()
	var newest *appreg.Conversation
	for _, k := range keys {
		if strings.HasSuffix(k, ":session") {
			continue
		}
		c, err := h.store.Conversation(h.ctx, strings.TrimSuffix(strings.TrimPrefix(k, "bot:conv:{"), "}"))
		if err != nil {
			h.t.Fatal(err)
		}
		if newest == nil || c.CreatedAt.After(newest.CreatedAt) {
			newest = c
		}
	}
	if newest == nil {
		h.t.Fatal("no conversation")
	}
	return newest
}

func (h *harness) waitState(want appreg.State) *appreg.Conversation {
	h.t.Helper()
	for {
		c := h.conversation()
		if c.State == want {
			return c
		}
		select {
		case <-h.ctx.Done():
			h.t.Fatalf("state %s never reached; last %s (%s)", want, c.State, c.Reason)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (h *harness) click(user, action string) {
	h.t.Helper()
	h.act(h.caller(user), action, h.conversation().ID)
}

func (h *harness) submitName(name string) map[string]string {
	h.t.Helper()
	errs, err := h.w.Submit(h.ctx, appreg.Submission{Caller: h.caller(requester), FormID: FormName,
		Conversation: h.conversation().ID, Values: map[string]string{InputName: name}})
	if err != nil {
		h.t.Fatal(err)
	}
	return errs
}

// signIn starts an onboarding and has the admin approve the sign-in.
func (h *harness) signIn() {
	h.t.Helper()
	h.command(requester, "new contoso.onmicrosoft.com sbc1")
	if _, err := h.tenant.WaitPending(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	h.tenant.Approve()
}

func TestHappyPath(t *testing.T) {
	h := newHarness(t)
	r := h.command(requester, "new contoso.onmicrosoft.com sbc1")
	if !strings.Contains(r.Text, "Starting the onboarding of contoso.onmicrosoft.com") {
		t.Fatalf("reply = %q", r.Text)
	}
	code := h.wait(fakes.Containing("private", "Sign-in code"))
	if code.User != requester || !strings.Contains(code.Text(), "FAKE") {
		t.Fatalf("device code message = %+v", code)
	}
	h.wait(fakes.Containing("update", "Waiting for the customer admin to sign in, until"))
	h.tenant.Approve()
	signed := h.wait(fakes.Containing("post", "Connected to the tenant"))
	for _, want := range []string{"admin@contoso.onmicrosoft.com", "Contoso", "11111111-2222-3333-4444-555555555555", "contoso.onmicrosoft.com"} {
		if !strings.Contains(signed.Text(), want) {
			t.Errorf("sign-in message lacks %q: %s", want, signed.Text())
		}
	}
	h.waitState(appreg.StateAwaitingName)
	h.click(requester, ActionEnterName)
	form := h.wait(func(s fakes.Said) bool { return s.Kind == "form" })
	if form.Form.ID != FormName || form.User != requester {
		t.Fatalf("form = %+v", form)
	}
	if errs := h.submitName("DR-Contoso"); len(errs) != 0 {
		t.Fatalf("submit: %v", errs)
	}
	c := h.waitState(appreg.StateDone)
	report := h.wait(fakes.Containing("post", "Registration DR-Contoso created"))
	for _, want := range []string{c.Progress.AppID, "Organization.Read.All, User.Read.All", "Authentication validated", "Permissions cleanup", "Teams Administrator", "Expiry reminders", "days)"} {
		if !strings.Contains(report.Text(), want) {
			t.Errorf("report lacks %q:\n%s", want, report.Text())
		}
	}
	secret := h.wait(fakes.Containing("private", "Client secret"))
	if secret.User != requester {
		t.Fatalf("secret went to %q", secret.User)
	}
	assertSecretOnlyPrivate(t, h)
	regs, _ := h.store.Registrations(h.ctx, "")
	if len(regs) != 1 || !regs[0].HasService("sbc1") || regs[0].SecretFor("sbc1") == nil || regs[0].SecretFor("sbc1").KeyID != c.Progress.SecretKeyID {
		t.Fatalf("registry = %+v", regs)
	}
	if got := h.tenant.Consented(c.Progress.AppID); len(got) != 2 {
		t.Fatalf("consented = %v", got)
	}
}

// assertSecretOnlyPrivate checks that no secret text reached a public
// message, a log line or Redis.
func assertSecretOnlyPrivate(t *testing.T, h *harness) {
	t.Helper()
	const marker = "DoNotLeak"
	private := 0
	for _, s := range h.chat.Said() {
		if strings.Contains(s.Text(), marker) {
			if s.Kind != "private" || s.User != requester {
				t.Errorf("secret in a %s message: %s", s.Kind, s.Text())
			}
			private++
		}
	}
	if private != 1 {
		t.Errorf("secret shown privately %d times, want once", private)
	}
	if strings.Contains(h.logs.String(), marker) {
		t.Errorf("secret in the log")
	}
	keys, _ := h.rdb.Keys(h.ctx, "*").Result()
	for _, k := range keys {
		dump := h.mr.Dump()
		if strings.Contains(dump, marker) {
			t.Fatalf("secret in redis (key %s among %v)", k, keys)
		}
	}
}

func TestSignInOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(*fakes.Tenant)
		act       func(*fakes.Tenant)
		state     appreg.State
		reason    string
		newCodeOK bool
	}{
		{"declined", nil, (*fakes.Tenant).Decline, appreg.StateExpired, "declined", true},
		{"expired", nil, (*fakes.Tenant).Expire, appreg.StateExpired, "expired", true},
		{"conditional access", nil, (*fakes.Tenant).Block, appreg.StateFailed, "Conditional Access", false},
		{"wrong tenant", func(t *fakes.Tenant) {
			t.Identity.TenantID, t.Identity.TenantName, t.Identity.DefaultDomain, t.Identity.Domains = "99999999-0000-0000-0000-000000000000", "Fabrikam", "fabrikam.onmicrosoft.com", nil
		}, (*fakes.Tenant).Approve, appreg.StateFailed, "not to contoso.onmicrosoft.com", false},
		{"missing role", func(t *fakes.Tenant) { t.Roles = []string{"User Administrator"} },
			(*fakes.Tenant).Approve, appreg.StateFailed, "does not hold the Application Administrator role", false},
		{"cloud app admin is enough", func(t *fakes.Tenant) { t.Roles = []string{"cloud application administrator"} },
			(*fakes.Tenant).Approve, appreg.StateAwaitingName, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.setup != nil {
				tt.setup(h.tenant)
			}
			h.command(requester, "new contoso.onmicrosoft.com")
			if _, err := h.tenant.WaitPending(h.ctx); err != nil {
				t.Fatal(err)
			}
			tt.act(h.tenant)
			c := h.waitState(tt.state)
			if !strings.Contains(c.Reason.String(), tt.reason) {
				t.Fatalf("reason = %q, want %q", c.Reason.String(), tt.reason)
			}
			if len(h.tenant.Applications()) != 0 {
				t.Fatal("something was created")
			}
			if tt.newCodeOK {
				h.wait(fakes.Containing("post", tt.reason))
				h.click(requester, ActionNewCode)
				h.wait(func(s fakes.Said) bool {
					return s.Kind == "private" && strings.Contains(s.Text(), "FAKE") && !strings.Contains(s.Text(), "FAKE0001")
				})
				h.tenant.Approve()
				h.waitState(appreg.StateAwaitingName)
			}
		})
	}
}

func TestNameRulesAndClashes(t *testing.T) {
	h := newHarness(t)
	h.tenant.AddApplication("Taken")
	if err := h.store.SaveRegistration(h.ctx, appreg.Registration{TenantID: "x", Name: "Used", Services: []string{"sbc1"}, AppID: "a"}, appreg.Change{What: "created"}); err != nil {
		t.Fatal(err)
	}
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	for _, tt := range []struct{ name, want string }{
		{"ab", "too short"},
		{"a.b.c", "dot"},
		{"a b c", "blank"},
		{"a|bc", "may not contain"},
		{"used", "already used by a registration for service \"sbc1\""},
	} {
		errs := h.submitName(tt.name)
		if !strings.Contains(errs[InputName], tt.want) {
			t.Errorf("%q: errors = %v, want %q", tt.name, errs, tt.want)
		}
	}
	if h.conversation().State != appreg.StateAwaitingName {
		t.Fatal("a rejected name moved the conversation")
	}
	if errs := h.submitName("Taken"); len(errs) != 0 {
		t.Fatalf("Taken: %v", errs)
	}
	h.wait(fakes.Containing("post", `named “Taken” already exists in Contoso`))
	h.waitState(appreg.StateAwaitingName)
	if n := len(h.tenant.Applications()); n != 1 {
		t.Fatalf("%d applications", n)
	}
	if errs := h.submitName("Fresh"); len(errs) != 0 {
		t.Fatalf("Fresh: %v", errs)
	}
	h.waitState(appreg.StateDone)
}

func TestDoubleSubmitCreatesOnce(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	var wg sync.WaitGroup
	results := make([]map[string]string, 5)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = h.submitName("Voice1") }()
	}
	wg.Wait()
	accepted := 0
	for _, r := range results {
		if len(r) == 0 {
			accepted++
		}
	}
	if accepted != 1 {
		t.Fatalf("%d submissions accepted: %v", accepted, results)
	}
	h.waitState(appreg.StateDone)
	if n := h.tenant.Calls("CreateApplication"); n != 1 {
		t.Fatalf("CreateApplication called %d times", n)
	}
}

func TestConsentPendingPrivilegedRoleAdministrator(t *testing.T) {
	h := newHarness(t)
	h.tenant.ConsentForbidden = true
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	h.submitName("Voice1")
	c := h.waitState(appreg.StateDone)
	if len(c.Progress.ConsentPending) != 2 || len(c.Progress.Consented) != 0 {
		t.Fatalf("progress = %+v", c.Progress)
	}
	h.wait(fakes.Containing("post", "Pending a Privileged Role Administrator"))
}

func TestGraphFailureThenRetryCreatesNoDuplicate(t *testing.T) {
	h := newHarness(t)
	h.tenant.FailNext("GrantConsent", appreg.Wrap(appreg.KindUnavailable, context.DeadlineExceeded, "Microsoft Graph is not answering."))
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	h.submitName("Voice1")
	h.wait(fakes.Containing("post", "Microsoft Graph is not answering"))
	if c := h.conversation(); c.State != appreg.StateCreating || c.Progress.AppID == "" {
		t.Fatalf("after failure: %s %+v", c.State, c.Progress)
	}
	h.click(requester, ActionRetry)
	h.waitState(appreg.StateDone)
	if n := len(h.tenant.Applications()); n != 1 {
		t.Fatalf("%d applications after retry", n)
	}
}

func TestSecretLifetimeCappedAndSlowReplication(t *testing.T) {
	h := newHarness(t)
	h.tenant.MaxLifetime = 180 * 24 * time.Hour
	h.tenant.ChecksFailing = 2
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	h.submitName("Voice1")
	c := h.waitState(appreg.StateDone)
	if !c.Progress.Validated {
		t.Fatalf("not validated: %s", c.Progress.ValidationNote)
	}
	if !strings.Contains(c.Progress.LifetimeNote, "does not allow a secret lifetime of 365 days") || !strings.Contains(c.Progress.LifetimeNote, "(180 days)") {
		t.Fatalf("lifetime note = %q", c.Progress.LifetimeNote)
	}
	if n := h.tenant.Calls("CheckCredentials"); n != 3 {
		t.Fatalf("credential checks = %d, want 3", n)
	}
}

func TestValidationGivesUpAndSaysWhy(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ValidationAttempts = 2 })
	h.tenant.ChecksFailing = 10
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	h.submitName("Voice1")
	h.waitState(appreg.StateDone)
	r := h.wait(fakes.Containing("post", "Authentication not validated"))
	if !strings.Contains(r.Text(), "Microsoft Graph (AADSTS7000215") {
		t.Fatalf("report: %s", r.Text())
	}
}

func TestCancel(t *testing.T) {
	h := newHarness(t)
	h.command(requester, "new contoso.onmicrosoft.com")
	h.tenant.WaitPending(h.ctx)
	h.waitState(appreg.StateAwaitingSignIn)
	// Someone else clicks Cancel: refused.
	h.click("U_OTHER", ActionCancel)
	h.wait(func(s fakes.Said) bool {
		return s.Kind == "private" && s.User == "U_OTHER" && strings.Contains(s.Text(), "Only @U_REQ")
	})
	r := h.command(requester, "cancel")
	if !strings.Contains(r.Text, "Cancelled") {
		t.Fatalf("reply = %q", r.Text)
	}
	h.waitState(appreg.StateCancelled)
	h.wait(fakes.Containing("post", "Nothing was created"))
	if r := h.command(requester, "cancel"); !strings.Contains(r.Text, "nothing running in this channel") {
		t.Fatalf("second cancel: %q", r.Text)
	}
	// A new onboarding may start now.
	if r := h.command(requester, "new contoso.onmicrosoft.com"); !strings.Contains(r.Text, "Starting") {
		t.Fatalf("new after cancel: %q", r.Text)
	}
}

func TestCommands(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Operators = []string{"U_OP", "S_TEAM"} })
	h.chat.SetGroup("S_TEAM", "U_MEMBER")
	tests := []struct {
		user, text, want string
	}{
		{"U_OP", "", "Usage"},
		{"U_OP", "help", "Usage"},
		{"U_OP", "frobnicate", "I don't know the command frobnicate"},
		{"U_OP", "new", "Missing: the tenant: a verified domain such as contoso.onmicrosoft.com, or a tenant id.\nUsage /appreg new <tenant> [service] [--certificate] — onboard"},
		{"U_OP", "new contoso.com --certificate", "never shown in chat"},
		{"U_OP", "new contoso.com --pfx", "does not know the option “--pfx”"},
		{"U_OP", "secret a b --certificate", "certificates need BOT_SECRET_SINKS"},
		{"U_OP", "new a b c", "/appreg new takes at most 2 arguments; the rest was not understood.\nUsage /appreg new <tenant> [service]"},
		{"U_OP", "new not_a_domain", "is not a tenant"},
		{"U_OP", "new contoso.com bad/service", "not a valid service name"},
		{"U_OP", "list", "no registrations yet"},
		{"U_OP", "list fabrikam.com", "no registrations in fabrikam.com"},
		{"U_OP", "cancel now", "/appreg cancel takes no arguments"},
		{"U_OP", "role add x y", "BOT_APPROVALS_CHANNEL"},
		{"U_OP", "reminders", "not running on this bot"},
		{"U_OP", "secret nope sbc2", "I know no registration “nope”"},
		{"U_OP", "secret a", "Missing: the service the new secret is for.\nUsage /appreg secret <registration> <service>"},
		{"U_OP", "check", "Missing: the registration (its name, as /appreg list shows it).\nUsage /appreg check <registration>"},
		{"U_OP", "attach nope sbc2", "I know no registration"},
		{"U_STRANGER", "help", "not one of this bot's operators"},
		{"U_MEMBER", "help", "Usage"},
		{"U_OP", "NEW 11111111-2222-3333-4444-555555555555", "Starting"},
		{"U_OP", "new contoso.com", "already have something running in this channel: the onboarding of"},
	}
	for _, tt := range tests {
		got := h.command(tt.user, tt.text).Text
		if !strings.Contains(got, tt.want) {
			t.Errorf("%s %q: got %q, want %q", tt.user, tt.text, got, tt.want)
		}
	}
	if !strings.Contains(h.logs.String(), "command refused: not an operator") {
		t.Error("refusal not logged")
	}
}

func TestRetriedDeliveryHandledOnce(t *testing.T) {
	h := newHarness(t)
	cmd := appreg.Command{Caller: h.caller(requester), Text: "new contoso.com", DeliveryID: "trigger-1"}
	first := h.w.Command(h.ctx, cmd)
	second := h.w.Command(h.ctx, cmd)
	if first.Text.IsEmpty() || !second.Text.IsEmpty() {
		t.Fatalf("first %q, second %q", first.Text, second.Text)
	}
	ids, _ := h.rdb.Keys(h.ctx, "bot:conv:{*}").Result()
	if len(ids) != 1 {
		t.Fatalf("%d conversations", len(ids))
	}
}

func TestRedisDownIsToldAndRecovers(t *testing.T) {
	h := newHarness(t)
	h.mr.Close()
	r := h.command(requester, "new contoso.com")
	if !strings.Contains(r.Text, "try again in a moment") {
		t.Fatalf("reply = %q", r.Text)
	}
	if err := h.mr.Restart(); err != nil {
		t.Fatal(err)
	}
	if r := h.command(requester, "new contoso.com"); !strings.Contains(r.Text, "Starting") {
		t.Fatalf("after recovery: %q", r.Text)
	}
}

func TestRestartWhileWaitingForSignIn(t *testing.T) {
	h := newHarness(t)
	h.command(requester, "new contoso.com")
	h.tenant.WaitPending(h.ctx)
	h.waitState(appreg.StateAwaitingSignIn)
	h.w.Close() // the replica dies; its lease runs out
	time.Sleep(h.cfg.LeaseTTL + 50*time.Millisecond)
	h.mr.FastForward(h.cfg.LeaseTTL + 50*time.Millisecond)
	h.w = h.newWizard()
	h.w.Sweep(h.ctx)
	c := h.waitState(appreg.StateExpired)
	if !strings.Contains(c.Reason.String(), "restarted while waiting") {
		t.Fatalf("reason = %q", c.Reason.String())
	}
	h.click(requester, ActionNewCode)
	h.wait(fakes.Containing("private", "FAKE0002"))
	h.tenant.Approve()
	h.waitState(appreg.StateAwaitingName)
}

func TestOtherReplicaContinuesWithStateKey(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	h := newHarness(t, func(c *Config) { c.StateKey = key })
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	// The name arrives at another replica.
	h.w = h.newWizard()
	if errs := h.submitName("Voice1"); len(errs) != 0 {
		t.Fatal(errs)
	}
	h.waitState(appreg.StateDone)
	if n := h.tenant.Calls("BeginSignIn"); n != 1 {
		t.Fatalf("%d sign-ins", n)
	}
	if strings.Contains(h.mr.Dump(), "admin@contoso") && h.mr.Exists("bot:conv:{"+h.conversation().ID+"}:session") {
		t.Fatal("session stored in plain text")
	}
}

func TestOtherReplicaWithoutStateKeyAsksForSignIn(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	h.w = h.newWizard()
	h.submitName("Voice1")
	c := h.waitState(appreg.StateExpired)
	if !strings.Contains(c.Reason.String(), "sign in again") {
		t.Fatalf("reason = %q", c.Reason.String())
	}
	h.click(requester, ActionNewCode)
	h.tenant.WaitPending(h.ctx)
	h.tenant.Approve()
	c = h.waitState(appreg.StateDone)
	if c.Name != "Voice1" || len(h.tenant.Applications()) != 1 {
		t.Fatalf("after re-sign-in: %+v", c)
	}
}

func TestCrashAfterSecretBeforeDeliveryReplacesIt(t *testing.T) {
	h := newHarness(t)
	h.chat.FailNext("private") // the code message goes through below; fail later
	h.chat = fakes.NewChat()
	h.w = h.newWizard()
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	h.chat.FailNext("private", appreg.Errorf(appreg.KindUnavailable, "Slack is down."))
	h.submitName("Voice1")
	h.wait(fakes.Containing("post", "Slack is down"))
	c := h.conversation()
	if c.Progress.SecretKeyID != "" || len(h.tenant.Secrets(c.Progress.AppID)) != 0 {
		t.Fatalf("undelivered secret kept: %+v", c.Progress)
	}
	h.click(requester, ActionRetry)
	c = h.waitState(appreg.StateDone)
	if got := h.tenant.Secrets(c.Progress.AppID); len(got) != 1 || got[0] != c.Progress.SecretKeyID {
		t.Fatalf("secrets = %v, recorded %s", got, c.Progress.SecretKeyID)
	}
	assertSecretOnlyPrivate(t, h)
}

// TestSweepDuringJobStartsNothingTwice: a sweep that runs while a job of
// the same replica holds a conversation must not start a second job.
func TestSweepDuringJobStartsNothingTwice(t *testing.T) {
	h := newHarness(t)
	h.command(requester, "new contoso.com")
	h.tenant.WaitPending(h.ctx)
	h.waitState(appreg.StateAwaitingSignIn)
	h.w.Sweep(h.ctx)
	time.Sleep(50 * time.Millisecond)
	if n := h.tenant.Calls("BeginSignIn"); n != 1 {
		t.Fatalf("%d sign-ins begun", n)
	}
	if c := h.conversation(); c.State != appreg.StateAwaitingSignIn {
		t.Fatalf("state = %s (%s)", c.State, c.Reason)
	}
}

// TestChannelTheBotCannotPostIn: the thread cannot be opened; the requester
// learns why by direct message instead of waiting for nothing.
func TestChannelTheBotCannotPostIn(t *testing.T) {
	h := newHarness(t)
	h.chat.FailNext("post", appreg.Errorf(appreg.KindForbidden, "The bot may not post in that channel."))
	h.command(requester, "new contoso.com")
	c := h.waitState(appreg.StateFailed)
	if !strings.Contains(c.Reason.String(), "cannot post in that channel") {
		t.Fatalf("reason = %q", c.Reason.String())
	}
	h.wait(func(s fakes.Said) bool {
		return s.Kind == "direct" && s.User == requester && strings.Contains(s.Text(), "Invite me")
	})
	if n := h.tenant.Calls("BeginSignIn"); n != 0 {
		t.Fatalf("%d sign-ins begun", n)
	}
}

// TestCancelWhileCreatingIsReportedHonestly: a cancel that lands while the
// application is being created gets a correction in the thread.
func TestCancelWhileCreatingIsReportedHonestly(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	block := make(chan struct{})
	h.tenant.Hook("CreateApplication", func() { <-block })
	h.submitName("Voice1")
	for h.tenant.Calls("CreateApplication") == 0 {
		time.Sleep(time.Millisecond)
	}
	if r := h.command(requester, "cancel"); !strings.Contains(r.Text, "Cancelled") {
		t.Fatalf("cancel: %q", r.Text)
	}
	close(block)
	h.wait(fakes.Containing("post", "Correction: the cancel came while the registration was being created"))
	if c := h.conversation(); c.State != appreg.StateCancelled {
		t.Fatalf("state = %s", c.State)
	}
}

// TestCrashBetweenCreationStepsResumes kills the replica in the middle of
// each creation step in turn; another replica's sweep resumes the creation,
// and the tenant ends with one registration, its consents and one secret
// delivered once.
func TestCrashBetweenCreationStepsResumes(t *testing.T) {
	steps := []string{"FindApplication", "CreateApplication", "EnsureServicePrincipal", "GrantConsent", "AddSecret", "SignInAppGrants"}
	for _, done := range []bool{false, true} {
		for _, step := range steps {
			// done: the tenant did the step, the replica died before it
			// recorded it; otherwise the replica died before the step took
			// effect.
			t.Run(fmt.Sprintf("%s/done=%v", step, done), func(t *testing.T) {
				h := newHarness(t, func(c *Config) { c.StateKey = bytes.Repeat([]byte{9}, 32) })
				h.signIn()
				h.waitState(appreg.StateAwaitingName)
				dying := h.w
				crashed := make(chan struct{})
				h.tenant.Hook(step, func() {
					select {
					case <-crashed:
						return // the new replica's call
					default:
					}
					close(crashed)
					go dying.Close() // the replica dies while the step runs
					time.Sleep(20 * time.Millisecond)
				})
				if !done {
					h.tenant.FailNext(step, context.Canceled)
				}
				h.submitName("Voice1")
				<-crashed
				dying.Close()
				time.Sleep(h.cfg.LeaseTTL + 50*time.Millisecond) // its lease runs out
				h.w = h.newWizard()
				h.w.Sweep(h.ctx)
				c := h.waitState(appreg.StateDone)
				apps := h.tenant.Applications()
				secrets := h.tenant.Secrets(c.Progress.AppID)
				if len(apps) != 1 || len(secrets) != 1 || secrets[0] != c.Progress.SecretKeyID || len(h.tenant.Consented(c.Progress.AppID)) != 2 {
					t.Fatalf("tenant: %d apps, secrets %v (recorded %s), consents %v", len(apps), secrets, c.Progress.SecretKeyID, h.tenant.Consented(c.Progress.AppID))
				}
				assertSecretOnlyPrivate(t, h)
			})
		}
	}
}
