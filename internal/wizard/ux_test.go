package wizard

import (
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/fakes"
)

// TestPendingRoleRequestDoesNotBlockItsRequester: while a role request
// waits for an approver, its requester starts other work in the same
// channel; withdrawing the request speaks of the role request and leaves
// that work alone.
func TestPendingRoleRequestDoesNotBlockItsRequester(t *testing.T) {
	h := newHarness(t, approvalConfig)
	conv := h.requestRole()
	if r := h.command(requester, "secret Voice1 sbc2"); !strings.Contains(r.Text, "Adding a secret for service sbc2") {
		t.Fatalf("a second request while the role request waits: %q", r.Text)
	}
	secret := h.waitState(appreg.StateAwaitingSignIn)
	if r := h.command(requester, "new fabrikam.com"); !strings.Contains(r.Text, "already have something running in this channel: the new secret for service sbc2 on Voice1") {
		t.Fatalf("the secret request holds the slot, the role request does not: %q", r.Text)
	}

	h.clickAs(requester, ActionCancel, conv)
	h.wait(fakes.Containing("post", "withdrew the role request. No role was changed."))
	if c, _ := h.store.Conversation(h.ctx, conv); c.State != appreg.StateCancelled {
		t.Fatalf("role request %s", c.State)
	}
	if id, _ := h.store.ActiveConversation(h.ctx, "C1", requester); id != secret.ID {
		t.Fatalf("active conversation %q, want the secret request %q", id, secret.ID)
	}
	for _, s := range h.chat.Said() {
		if s.Kind == "post" && strings.Contains(s.Text(), "withdrew") && strings.Contains(s.Text(), "onboarding") {
			t.Errorf("the withdrawal speaks of an onboarding: %s", s.Text())
		}
	}
}

// TestOneTenantWhateverItIsCalled: a registration made with the tenant id
// is found by each verified domain and the id, is named by the primary
// domain, and a command on it may name it by any of them.
func TestOneTenantWhateverItIsCalled(t *testing.T) {
	h := newHarness(t)
	h.command(requester, "new 11111111-2222-3333-4444-555555555555 sbc1")
	h.approveNext(1)
	h.waitState(appreg.StateAwaitingName)
	if errs := h.submitName("Voice1"); len(errs) != 0 {
		t.Fatal(errs)
	}
	h.waitState(appreg.StateDone)
	if r := h.record("Voice1"); r.Tenant != "contoso.onmicrosoft.com" {
		t.Fatalf("registration named by %q, want the primary domain", r.Tenant)
	}
	for _, name := range []string{"contoso.com", "CONTOSO.onmicrosoft.com", "11111111-2222-3333-4444-555555555555"} {
		if got := h.command(requester, "list "+name).Text; !strings.Contains(got, "Voice1 · contoso.onmicrosoft.com") {
			t.Errorf("list %s: %q", name, got)
		}
	}
	if got := h.command(requester, "list fabrikam.com").Text; !strings.Contains(got, "no registrations in fabrikam.com") {
		t.Errorf("list of another tenant: %q", got)
	}
	if got := h.command(requester, "check contoso.com/Voice1").Text; !strings.Contains(got, "Starting the check of Voice1") {
		t.Errorf("check by another domain: %q", got)
	}
}

// TestReportLeadsToTheNextStep: the report names the bot's commands for
// what remains, when and where the reminders come, and counts a 365-day
// secret as 365 days.
func TestReportLeadsToTheNextStep(t *testing.T) {
	h := newHarness(t, approvalConfig, func(c *Config) { c.SecretLifetime = 365 * 24 * time.Hour })
	h.tenant.Grants = []appreg.Grant{{ID: "g1", Resource: "Microsoft Graph", Scopes: []string{"Application.ReadWrite.All"}}}
	reg := h.onboard()
	report := h.wait(fakes.Containing("post", "Registration Voice1 created"))
	exp := reg.SecretFor("sbc1").Expires
	for _, want := range []string{
		"Next steps",
		"/appreg cleanup Voice1 removes the sign-in app's permissions",
		`/appreg role add Voice1 "Teams Administrator"`,
		"/appreg check Voice1 compares the tenant",
		"/appreg secret Voice1 <service> gives another service",
		"Expiry reminders: on " + exp.AddDate(0, 0, -7).Format("2006-01-02") + " and " + exp.AddDate(0, 0, -1).Format("2006-01-02"),
		"in this thread and as a direct message to @U_REQ",
		"Secret expires: " + exp.Format("2006-01-02") + " (365 days)",
	} {
		if !strings.Contains(report.Text(), want) {
			t.Errorf("report lacks %q:\n%s", want, report.Text())
		}
	}
	if len(report.Message.Buttons) != 1 || report.Message.Buttons[0].Label != "Request Teams Administrator" {
		t.Errorf("buttons = %+v", report.Message.Buttons)
	}
	secret := h.wait(fakes.Containing("private", "Client secret"))
	if !strings.Contains(secret.Text(), "(in 365 days)") {
		t.Errorf("secret message: %s", secret.Text())
	}
}

// TestPendingInvitationsAreExplainedAndRecorded: help explains them;
// attach refuses a service the registration already serves, is audited
// and shows in list.
func TestPendingInvitationsAreExplainedAndRecorded(t *testing.T) {
	h := newHarness(t)
	if help := h.command(requester, "help").Text; !strings.Contains(help, "Pending invitations: a registration no Direct Routing service uses yet") ||
		!strings.Contains(help, "/appreg attach <registration> <service> records it here") {
		t.Errorf("help: %s", help)
	}
	h.store.SaveRegistration(h.ctx, appreg.Registration{Tenant: "contoso.com", TenantID: "t1", Name: "Pending1", AppID: "a1"}, appreg.Change{})
	if list := h.command(requester, "list").Text; !strings.Contains(list, "Pending1 · contoso.com · app a1 · pending invitation") {
		t.Errorf("list: %s", list)
	}
	if r := h.command(requester, "attach Pending1 sbc9").Text; !strings.Contains(r, "Attached service sbc9 to Pending1") {
		t.Fatalf("attach: %s", r)
	}
	if r := h.command(requester, "attach Pending1 sbc9").Text; !strings.Contains(r, "Service sbc9 is already attached to Pending1") {
		t.Errorf("attach again: %s", r)
	}
	if list := h.command(requester, "list").Text; !strings.Contains(list, "Pending1 · contoso.com · app a1 · services sbc9") {
		t.Errorf("list after attach: %s", list)
	}
	if audit := h.command(requester, "audit Pending1").Text; !strings.Contains(audit, "service.attach · Pending1 · service sbc9") {
		t.Errorf("audit: %s", audit)
	}
}

// TestSmallTexts: a cancellation is said once; a typo is information in
// the log, not an error; the reminders list says how many there are.
func TestSmallTexts(t *testing.T) {
	h := newHarness(t)
	h.command(requester, "new contoso.onmicrosoft.com")
	h.waitState(appreg.StateAwaitingSignIn)
	h.command(requester, "cancel")
	status := h.wait(func(s fakes.Said) bool { return s.Kind == "update" && strings.Contains(s.Text(), "Cancelled by") })
	if n := strings.Count(status.Text(), "Cancelled"); n != 1 {
		t.Errorf("status says Cancelled %d times: %s", n, status.Text())
	}
	h.command(requester, "secret NoSuchReg sbc1")
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(line, "NoSuchReg") && !strings.Contains(line, `"level":"INFO"`) {
			t.Errorf("a typo logged above INFO: %s", line)
		}
	}
	next := []Upcoming{{Secret: appreg.SecretRef{Registration: "R1", Service: "s"}, What: "7 days before expiry", Due: time.Now()}}
	if got := msgUpcoming(next, 30, time.Now(), time.UTC).Text.String(); !strings.HasPrefix(got, "Next 1 of 30 expiry reminders") {
		t.Errorf("upcoming: %q", got)
	}
	if got := h.command(requester, "role add Voice1 Fancy Admin").Text; strings.Contains(got, `\"`) {
		t.Errorf("role error escapes quotes: %q", got)
	}
}

// TestOldButtonsSayTheConversationEnded: a button of an ended
// conversation, and one whose conversation is no longer kept, say so.
func TestOldButtonsSayTheConversationEnded(t *testing.T) {
	h := newHarness(t)
	h.command(requester, "new contoso.onmicrosoft.com")
	c := h.waitState(appreg.StateAwaitingSignIn)
	h.command(requester, "cancel")
	h.act(h.caller(requester), ActionCancel, c.ID)
	h.wait(fakes.Containing("private", "which has ended (cancelled). Nothing was done."))
	h.act(h.caller(requester), ActionNewCode, "gone-conversation")
	h.wait(fakes.Containing("private", "That conversation has ended and is no longer kept."))
}

// TestRemovedOperatorCannotFinish: the operator check runs on every
// command, click and form submission, so someone taken out of the
// operators' group cannot finish a conversation they started.
func TestRemovedOperatorCannotFinish(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Operators = []string{"S_TEAM"} })
	h.chat.SetGroup("S_TEAM", requester)
	h.signIn()
	c := h.waitState(appreg.StateAwaitingName)
	h.chat.SetGroup("S_TEAM") // removed
	later := time.Now().Add(2 * membershipTTL)
	h.w.now = func() time.Time { return later } // past the membership cache
	if errs := h.submitName("Voice1"); !strings.Contains(errs[InputName], "not one of this bot's operators") {
		t.Fatalf("name from a removed operator: %v", errs)
	}
	h.act(h.caller(requester), ActionCancel, c.ID)
	h.wait(func(s fakes.Said) bool {
		return s.Kind == "private" && strings.Contains(s.Text(), "not one of this bot's operators")
	})
	if got := h.command(requester, "list").Text; !strings.Contains(got, "not one of this bot's operators") {
		t.Fatalf("command from a removed operator: %q", got)
	}
	if cur := h.conversation(); cur.State != appreg.StateAwaitingName {
		t.Fatalf("state %s", cur.State)
	}
}
