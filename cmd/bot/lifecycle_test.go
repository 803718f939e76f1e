package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/simtenant"
	"github.com/appreg-bot/appreg-bot/internal/slackfake"
)

// onboard runs /appreg new through Slack and the stand-in to the report
// and returns the registration's application id.
func (e *env) onboard(m *Main, user, name string) string {
	e.t.Helper()
	if code, body := e.command(m, user, "new contoso.onmicrosoft.com sbc1"); code != 200 {
		e.t.Fatalf("new: %d %s", code, body)
	}
	e.approveSignIn()
	conv := buttonValue(e.waitCall("chat.postMessage", "What should the registration"), "appreg.name")
	e.click(m, user, "appreg.name", conv)
	if body := e.submitName(m, user, conv, name); strings.Contains(body, "errors") {
		e.t.Fatalf("name: %s", body)
	}
	e.waitCall("chat.postMessage", "Registration "+name+" created")
	apps := e.sim.Applications(demoTenantID)
	for _, a := range apps {
		if a.DisplayName == name {
			return a.AppID
		}
	}
	e.t.Fatalf("no application %s in %+v", name, apps)
	return ""
}

func (e *env) waitCount(method, part string, n int) {
	e.t.Helper()
	for {
		count := 0
		for _, c := range e.slack.Calls(method) {
			if strings.Contains(c.Text, part) {
				count++
			}
		}
		if count >= n {
			return
		}
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("%d× %s with %q: only %d", n, method, part, count)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestAfterOnboardingEndToEnd: two more services get their own secrets,
// each delivered once and privately; check reports drift introduced in the
// stand-in tenant and adopts a portal secret; cleanup removes what is not
// required; list shows it all.
func TestAfterOnboardingEndToEnd(t *testing.T) {
	e := newEnv(t)
	m := e.start(nil)
	appID := e.onboard(m, "U1", "DR-Contoso")

	for _, service := range []string{"sbc2", "sbc3"} {
		if code, body := e.command(m, "U1", "secret DR-Contoso "+service); code != 200 || !strings.Contains(body, "Adding a secret for service") {
			t.Fatalf("secret %s: %d %s", service, code, body)
		}
		e.approveSignIn()
		e.waitCall("chat.postMessage", "New secret for service "+service)
	}
	e.waitCount("chat.postEphemeral", "Client secret for DR-Contoso", 3)
	app := e.sim.Applications(demoTenantID)[0]
	if len(app.Secrets) != 3 {
		t.Fatalf("secrets in the tenant: %+v", app.Secrets)
	}
	texts := map[string]bool{}
	for _, c := range e.slack.Calls("chat.postEphemeral") {
		if strings.Contains(c.Text, "Client secret for DR-Contoso") {
			if c.Params["user"] != "U1" {
				t.Fatalf("secret shown to %s", c.Params["user"])
			}
			texts[secretText(t, c.Text)] = true
		}
	}
	if len(texts) != 3 {
		t.Fatalf("%d distinct secret texts delivered", len(texts))
	}
	for text := range texts {
		for _, c := range e.slack.Calls("") {
			if c.Method != "chat.postEphemeral" && strings.Contains(c.Text, text) {
				t.Fatalf("a secret reached %s", c.Method)
			}
		}
		if strings.Contains(e.logs.String(), text) {
			t.Fatal("a secret reached the log")
		}
	}
	if _, body := e.command(m, "U1", "secret DR-Contoso sbc2"); !strings.Contains(body, "already has its own secret") {
		t.Fatalf("second secret for sbc2: %s", body)
	}

	// Drift behind the bot's back.
	if err := e.sim.AddPermission(demoTenantID, appID, simtenant.GraphAppID, "Directory.Read.All"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.AddSecret(demoTenantID, appID, "made in the portal", 90*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	e.command(m, "U1", "check DR-Contoso")
	e.approveSignIn()
	report := e.waitCall("chat.postMessage", "point(s) of drift")
	for _, want := range []string{"Directory.Read.All: not in the profile", "created outside the bot", "Role Teams Administrator: not assigned", "without admin consent"} {
		if !strings.Contains(report.Text, want) {
			t.Errorf("check report lacks %q:\n%s", want, report.Text)
		}
	}

	e.command(m, "U1", "cleanup DR-Contoso")
	e.approveSignIn()
	plan := e.waitCall("chat.postMessage", "Not required once DR-Contoso exists")
	if !strings.Contains(plan.Text, "Directory.Read.All") || !strings.Contains(plan.Text, "delegated permissions of the sign-in app") {
		t.Fatalf("plan: %s", plan.Text)
	}
	e.click(m, "U1", "appreg.confirm", buttonValue(plan, "appreg.confirm"))
	e.waitCall("chat.postMessage", "Cleanup of DR-Contoso done")
	if grants := e.sim.Grants(demoTenantID); len(grants) != 0 {
		t.Fatalf("grants left: %+v", grants)
	}

	_, list := e.command(m, "U1", "list")
	for _, want := range []string{"DR-Contoso", "secret for sbc1", "secret for sbc2", "secret for sbc3", "made in the portal"} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q: %s", want, list)
		}
	}
}

// TestRoleApprovalEndToEnd: a request by one engineer, an unauthorised
// click refused, an approval by another, a Privileged Role Administrator's
// sign-in, the role assigned in the stand-in, and the thread and the audit
// telling the story.
func TestRoleApprovalEndToEnd(t *testing.T) {
	e := newEnv(t)
	const token = "audit-token-0123456789"
	m := e.start(map[string]string{"BOT_APPROVALS_CHANNEL": "C_APPROVALS", "BOT_APPROVERS": "U2", "BOT_ADMIN_TOKEN": token})
	e.onboard(m, "U1", "DR-Contoso")

	if _, body := e.command(m, "U1", "role add DR-Contoso Teams Administrator needed for voice routing"); !strings.Contains(body, "Requested") {
		t.Fatalf("request: %s", body)
	}
	root := e.waitCall("chat.postMessage", "Role change in contoso.onmicrosoft.com")
	if root.Params["channel"] != "C_APPROVALS" {
		t.Fatalf("request posted in %s", root.Params["channel"])
	}
	conv := buttonValue(root, "appreg.approve")
	e.click(m, "U3", "appreg.approve", conv)
	if c := e.waitCall("chat.postEphemeral", "Only the approvers"); c.Params["user"] != "U3" {
		t.Fatalf("refusal to %s", c.Params["user"])
	}
	e.click(m, "U2", "appreg.approve", conv)
	code, err := e.slack.WaitFor(e.ctx, "chat.postEphemeral", func(c slackfake.Call) bool {
		return strings.Contains(c.Text, "Sign-in code") && c.Params["channel"] == "C_APPROVALS"
	})
	if err != nil || code.Params["user"] != "U2" {
		t.Fatalf("code shown to %s: %v", code.Params["user"], err)
	}
	e.approveAs(praUser)
	e.waitCall("chat.postMessage", "DR-Contoso now holds Teams Administrator")
	assigned := false
	for _, a := range e.sim.RoleAssignments(demoTenantID) {
		assigned = assigned || a.Role == "Teams Administrator"
	}
	if !assigned {
		t.Fatalf("role assignments: %+v", e.sim.RoleAssignments(demoTenantID))
	}
	e.waitCall("chat.postMessage", "Your role change is done") // the requester's DM

	req, _ := http.NewRequest(http.MethodGet, "http://"+m.Addr()+"/audit?filter=DR-Contoso", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"action":"role.request"`, `"action":"role.approve","tenant":"contoso.onmicrosoft.com","target":"DR-Contoso","detail":"add Teams Administrator`, `"outcome":"denied: Only the approvers`, `"action":"role.execute"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("audit export lacks %s:\n%s", want, body)
		}
	}
}

// TestExpiryReminderAndRotationEndToEnd: a secret that expires in 2 days
// (a tenant policy caps its lifetime) produces exactly one reminder in its
// thread and one direct message; "Rotate secret" replaces it.
func TestExpiryReminderAndRotationEndToEnd(t *testing.T) {
	e := newEnv(t)
	e.sim.SetSecretMaxLifetime(demoTenantID, 48*time.Hour, true)
	m := e.start(nil)
	appID := e.onboard(m, "U1", "DR-Contoso")
	inThread, err := e.slack.WaitFor(e.ctx, "chat.postMessage", func(c slackfake.Call) bool {
		return c.Params["thread_ts"] != "" && buttonValue(c, "appreg.rotate") != ""
	})
	if err != nil {
		t.Fatal(err)
	}
	dm, err := e.slack.WaitFor(e.ctx, "chat.postMessage", func(c slackfake.Call) bool {
		return c.Params["channel"] == "U1" && buttonValue(c, "appreg.rotate") != ""
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DR-Contoso", "sbc1", "contoso.onmicrosoft.com"} {
		if !strings.Contains(inThread.Text, want) || !strings.Contains(dm.Text, want) {
			t.Errorf("reminder lacks %q:\nthread: %s\ndm: %s", want, inThread.Text, dm.Text)
		}
	}
	time.Sleep(500 * time.Millisecond) // several more scans
	count := 0
	for _, c := range e.slack.Calls("chat.postMessage") {
		if buttonValue(c, "appreg.rotate") != "" {
			count++
		}
	}
	if count != 2 {
		t.Fatalf("%d reminder messages, want 2 (thread + DM)", count)
	}

	e.sim.SetSecretMaxLifetime(demoTenantID, 0, false)
	old := e.sim.Applications(demoTenantID)[0].Secrets[0].KeyID
	e.click(m, "U1", "appreg.rotate", buttonValue(dm, "appreg.rotate"))
	e.approveSignIn()
	rotated := e.waitCall("chat.postMessage", "remove the old secret")
	e.click(m, "U1", "appreg.confirm", buttonValue(rotated, "appreg.confirm"))
	e.waitCall("chat.postMessage", "old secret of service sbc1 was removed")
	secrets := e.sim.Applications(demoTenantID)[0].Secrets
	if len(secrets) != 1 || secrets[0].KeyID == old {
		t.Fatalf("secrets after rotation: %+v (old %s, app %s)", secrets, old, appID)
	}
	// Reminders follow the new secret: a year ahead, the first is 30 days
	// before its expiry.
	_, list := e.command(m, "U1", "reminders")
	if !strings.Contains(list, "DR-Contoso") || !strings.Contains(list, "30 days before expiry") || strings.Contains(list, "(1 days)") {
		t.Fatalf("reminders after rotation: %s", list)
	}
}

// TestApprovalNoticedWithinOnePollInterval measures the time from the
// admin's approval to the bot's "connected" message: MSAL polls the token
// endpoint at the interval Entra gives (5 s here), so it must be at most
// one interval, plus the work of posting.
func TestApprovalNoticedWithinOnePollInterval(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a poll interval")
	}
	e := newEnv(t)
	m := e.start(nil)
	e.command(m, "U1", "new contoso.onmicrosoft.com")
	e.waitCall("chat.postEphemeral", "Sign-in code")
	time.Sleep(1200 * time.Millisecond) // approve somewhere inside a poll interval
	approved := time.Now()
	e.approveSignIn()
	connected := e.waitCall("chat.postMessage", "Connected to the tenant")
	d := connected.At.Sub(approved)
	t.Logf("approval noticed after %s (poll interval 5s)", d.Round(time.Millisecond))
	if d > 5*time.Second+500*time.Millisecond {
		t.Fatalf("approval noticed after %s, more than one poll interval", d)
	}
}
