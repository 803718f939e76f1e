package wizard

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/fakes"
)

// onboard runs a whole onboarding of Voice1 for sbc1 and returns its
// registration record.
func (h *harness) onboard() appreg.Registration {
	h.t.Helper()
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	if errs := h.submitName("Voice1"); len(errs) != 0 {
		h.t.Fatal(errs)
	}
	h.waitState(appreg.StateDone)
	return h.record("Voice1")
}

func (h *harness) record(name string) appreg.Registration {
	h.t.Helper()
	regs, err := h.store.Registrations(h.ctx, "")
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range regs {
		if r.Name == name {
			return r
		}
	}
	h.t.Fatalf("no registration %s in %+v", name, regs)
	return appreg.Registration{}
}

// approveNext approves the sign-in a command or click just asked for.
func (h *harness) approveNext(n int) {
	h.t.Helper()
	for h.tenant.Calls("BeginSignIn") < n {
		select {
		case <-h.ctx.Done():
			h.t.Fatalf("sign-in %d never began", n)
		case <-time.After(2 * time.Millisecond):
		}
	}
	h.tenant.WaitPending(h.ctx)
	h.tenant.Approve()
}

func TestSecretPerAdditionalService(t *testing.T) {
	h := newHarness(t)
	reg := h.onboard()
	for i, service := range []string{"sbc2", "sbc3"} {
		r := h.command(requester, "secret voice1 "+service)
		if !strings.Contains(r.Text, "Adding a secret for service "+service) {
			t.Fatalf("reply = %q", r.Text)
		}
		h.approveNext(i + 2)
		h.wait(fakes.Containing("post", "New secret for service "+service))
	}
	reg = h.record("Voice1")
	if len(reg.Services) != 3 || len(reg.Secrets) != 3 {
		t.Fatalf("record = %+v", reg)
	}
	keys := map[string]bool{}
	for _, s := range reg.Secrets {
		keys[s.KeyID] = true
		if _, ok := h.rem.Tracked(s.KeyID); !ok {
			t.Errorf("secret %s of %s has no reminders", s.KeyID, s.Service)
		}
	}
	if len(keys) != 3 || len(h.tenant.Secrets(reg.AppID)) != 3 {
		t.Fatalf("distinct secrets: record %v, tenant %v", keys, h.tenant.Secrets(reg.AppID))
	}
	private := 0
	for _, s := range h.chat.Said() {
		if strings.Contains(s.Text(), "DoNotLeak") {
			if s.Kind != "private" || s.User != requester {
				t.Fatalf("secret in %s message", s.Kind)
			}
			private++
		}
	}
	if private != 3 {
		t.Fatalf("%d secrets delivered, want 3", private)
	}
	// A second secret for a service is offered as a rotation.
	r := h.command(requester, "secret Voice1 sbc2")
	if !strings.Contains(r.Text, "already has its own secret") || len(r.Buttons) != 1 || r.Buttons[0].ActionID != appreg.ActionRotate {
		t.Fatalf("second secret: %+v", r)
	}
	h.command(requester, "secret Voice1 sbc1")
	if h.tenant.Calls("BeginSignIn") != 3 {
		t.Fatal("an offered rotation started a sign-in")
	}
	hist, _ := h.store.History(h.ctx, reg.TenantID, reg.AppID)
	if len(hist) != 3 || !strings.Contains(hist[2].What, "sbc3") {
		t.Fatalf("history = %+v", hist)
	}
}

func TestRotation(t *testing.T) {
	h := newHarness(t)
	reg := h.onboard()
	old := reg.SecretFor("sbc1").KeyID
	h.act(h.caller(requester), appreg.ActionRotate, appreg.SecretKey{TenantID: reg.TenantID, AppID: reg.AppID, KeyID: old}.String())
	h.approveNext(2)
	h.waitState(appreg.StateAwaitingConfirm)
	h.wait(fakes.Containing("post", "remove the old secret"))
	if n := len(h.tenant.Secrets(reg.AppID)); n != 2 {
		t.Fatalf("%d secrets during rotation", n)
	}
	h.click(requester, ActionConfirm)
	h.waitState(appreg.StateDone)
	h.wait(fakes.Containing("post", "old secret of service sbc1 was removed"))
	got := h.tenant.Secrets(reg.AppID)
	reg = h.record("Voice1")
	if len(got) != 1 || got[0] == old || reg.SecretFor("sbc1").KeyID != got[0] || len(reg.Secrets) != 1 {
		t.Fatalf("tenant %v, record %+v", got, reg.Secrets)
	}
	if _, ok := h.rem.Tracked(old); ok {
		t.Fatal("old secret still tracked")
	}
	if _, ok := h.rem.Tracked(got[0]); !ok {
		t.Fatal("new secret not tracked")
	}
}

func TestCleanup(t *testing.T) {
	h := newHarness(t)
	h.tenant.Grants = []appreg.Grant{{ID: "g1", Resource: "Microsoft Graph", Scopes: []string{"Application.ReadWrite.All"}}}
	reg := h.onboard()
	h.tenant.AddPermissionDirectly(reg.AppID, appreg.Permission{Resource: "graph", Name: "Mail.Read"})
	h.tenant.FailNext("RemovePermission", appreg.Errorf(appreg.KindUnavailable, "Microsoft Graph is not answering."))

	h.command(requester, "cleanup Voice1")
	h.approveNext(2)
	plan := h.wait(fakes.Containing("post", "Not required once Voice1 exists"))
	for _, want := range []string{"Application.ReadWrite.All", "Mail.Read", "Application Administrator role"} {
		if !strings.Contains(plan.Text(), want) {
			t.Errorf("plan lacks %q: %s", want, plan.Text())
		}
	}
	h.click(requester, ActionConfirm)
	h.wait(fakes.Containing("post", "Microsoft Graph is not answering"))
	if c := h.conversation(); len(c.Cleanup.Done) != 1 || c.Cleanup.Done[0] != "g1" {
		t.Fatalf("partial progress = %+v", c.Cleanup)
	}
	h.click(requester, ActionRetry)
	h.waitState(appreg.StateDone)
	h.wait(fakes.Containing("post", "Cleanup of Voice1 done: 2 removed"))
	if n := h.tenant.Calls("RemoveGrant"); n != 1 {
		t.Fatalf("grant removed %d times", n)
	}
	if st := h.tenant.Consented(reg.AppID); len(st) != 2 {
		t.Fatalf("consented after cleanup = %v", st)
	}
	// Twice is harmless.
	h.command(requester, "cleanup Voice1")
	h.approveNext(3)
	h.wait(fakes.Containing("post", "Nothing to clean up for Voice1"))
}

func TestCheckReportsDriftAndAdopts(t *testing.T) {
	h := newHarness(t)
	reg := h.onboard()
	h.tenant.AddPermissionDirectly(reg.AppID, appreg.Permission{Resource: "graph", Name: "Mail.Read"})
	h.tenant.AddSecretDirectly(reg.AppID, "portal-key", time.Now().Add(90*24*time.Hour))
	h.command(requester, "check Voice1")
	h.approveNext(2)
	rep := h.wait(fakes.Containing("post", "point(s) of drift"))
	for _, want := range []string{
		"Organization.Read.All: consented",
		"Role Teams Administrator: not assigned — fix: /appreg role add Voice1 \"Teams Administrator\"",
		"Mail.Read: not in the profile: not required — fix: /appreg cleanup Voice1",
		"created outside the bot", "adopted",
		"Secret for sbc1: expires",
	} {
		if !strings.Contains(rep.Text(), want) {
			t.Errorf("report lacks %q:\n%s", want, rep.Text())
		}
	}
	if _, ok := h.rem.Tracked("portal-key"); !ok {
		t.Fatal("adopted secret not tracked")
	}
	if r := h.record("Voice1"); len(r.Secrets) != 2 || !r.Secrets[1].Adopted {
		t.Fatalf("record = %+v", r.Secrets)
	}

	// A secret removed in the portal is drift, and leaves the record.
	h.tenant.RemoveSecretDirectly(reg.AppID, reg.SecretFor("sbc1").KeyID)
	h.command(requester, "check Voice1")
	h.approveNext(3)
	rep = h.wait(fakes.Containing("post", "removed in the tenant"))
	if !strings.Contains(rep.Text(), "/appreg secret Voice1 sbc1") {
		t.Fatalf("report: %s", rep.Text())
	}
	if r := h.record("Voice1"); r.SecretFor("sbc1") != nil {
		t.Fatal("removed secret still recorded")
	}
}

func TestRegistrationDeletedBehindTheBotsBack(t *testing.T) {
	h := newHarness(t)
	reg := h.onboard()
	h.tenant.DeleteApplication(reg.AppID)
	h.command(requester, "secret Voice1 sbc2")
	h.approveNext(2)
	c := h.waitState(appreg.StateFailed)
	if !strings.Contains(c.Reason.String(), "deleted outside the bot") {
		t.Fatalf("reason = %q", c.Reason.String())
	}
}

func TestAttachAndList(t *testing.T) {
	h := newHarness(t)
	now := time.Now()
	seed := []appreg.Registration{
		{Tenant: "contoso.com", TenantID: "t1", Name: "Pending1", AppID: "a1"},
		{Tenant: "contoso.com", TenantID: "t1", Name: "Old", AppID: "a2", Services: []string{"s1"},
			Secrets: []appreg.SecretRecord{{KeyID: "k", Service: "s1", Expires: now.Add(-48 * time.Hour)}}},
		{Tenant: "contoso.com", TenantID: "t1", Name: "Soon", AppID: "a3", Services: []string{"s1"},
			Secrets: []appreg.SecretRecord{{KeyID: "k", Service: "s1", Expires: now.Add(10 * 24 * time.Hour)}}},
	}
	for _, r := range seed {
		if err := h.store.SaveRegistration(h.ctx, r, appreg.Change{What: "seeded"}); err != nil {
			t.Fatal(err)
		}
	}
	list := h.command(requester, "list").Text
	for _, want := range []string{"Pending1 · contoso.com · app a1 · pending invitation", "expired", "expiring soon"} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q:\n%s", want, list)
		}
	}
	if r := h.command(requester, "attach pending1 sbc9"); !strings.Contains(r.Text, "Attached service sbc9 to Pending1") || !strings.Contains(r.Text, "/appreg secret Pending1 sbc9") {
		t.Fatalf("attach: %q", r.Text)
	}
	if r := h.command(requester, "attach pending1 sbc9"); !strings.Contains(r.Text, "already attached") {
		t.Fatalf("attach again: %q", r.Text)
	}
	if strings.Contains(h.command(requester, "list").Text, "pending invitation") {
		t.Fatal("still pending after attach")
	}
	for i := range 20 {
		h.store.SaveRegistration(h.ctx, appreg.Registration{Tenant: "fabrikam.com", TenantID: "t2", Name: fmt.Sprintf("R%02d", i), AppID: fmt.Sprintf("b%d", i)}, appreg.Change{})
	}
	first := h.command(requester, "list fabrikam.com")
	if !strings.Contains(first.Text, "page 1 of 2") || len(first.Buttons) != 1 {
		t.Fatalf("page 1: %+v", first)
	}
	h.act(h.caller(requester), first.Buttons[0].ActionID, first.Buttons[0].Value)
	h.wait(fakes.Containing("private", "page 2 of 2"))
}

// TestRotationNeverRemovesWithoutConfirmation: a failure after the new
// secret was delivered, then Retry, asks again rather than remove the old
// secret.
func TestRotationNeverRemovesWithoutConfirmation(t *testing.T) {
	h := newHarness(t)
	reg := h.onboard()
	old := reg.SecretFor("sbc1").KeyID
	h.act(h.caller(requester), appreg.ActionRotate, appreg.SecretKey{TenantID: reg.TenantID, AppID: reg.AppID, KeyID: old}.String())
	h.approveNext(2)
	h.waitState(appreg.StateAwaitingConfirm)
	// A sweep and a stray Retry while waiting for the confirmation.
	h.w.Sweep(h.ctx)
	h.clickAs(requester, ActionRetry, h.conversation().ID)
	time.Sleep(50 * time.Millisecond)
	if got := h.tenant.Secrets(reg.AppID); len(got) != 2 {
		t.Fatalf("secrets = %v: the old one went without a confirmation", got)
	}
	if c := h.conversation(); c.State != appreg.StateAwaitingConfirm || c.Confirmed {
		t.Fatalf("state %s, confirmed %v", c.State, c.Confirmed)
	}
}

func TestCleanupPlanFailureOffersRetry(t *testing.T) {
	h := newHarness(t)
	h.onboard()
	h.tenant.FailNext("SignInAppGrants", appreg.Errorf(appreg.KindUnavailable, "Microsoft Graph is not answering."))
	if r := h.command(requester, "cleanup Voice1"); !strings.Contains(r.Text, "Starting the cleanup of Voice1") {
		t.Fatalf("cleanup: %q", r.Text)
	}
	h.approveNext(2)
	defer func() {
		if t.Failed() {
			for _, s := range h.chat.Said() {
				t.Log(s.Kind, s.Text())
			}
		}
	}()
	failed := h.wait(fakes.Containing("post", "Microsoft Graph is not answering"))
	if len(failed.Message.Buttons) == 0 || failed.Message.Buttons[0].ActionID != ActionRetry {
		t.Fatalf("no Retry: %+v", failed.Message)
	}
	h.w.Sweep(h.ctx) // waits for the click, does not repeat the failure
	time.Sleep(30 * time.Millisecond)
	if n := h.tenant.Calls("SignInAppGrants"); n != 2 { // onboarding report + the failed plan
		t.Fatalf("SignInAppGrants called %d times", n)
	}
	h.click(requester, ActionRetry)
	h.wait(fakes.Containing("post", "Nothing to clean up for Voice1"))
}

func TestSnoozeAndPagesNeedAnOperator(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Operators = []string{requester} })
	for _, action := range []string{appreg.ActionSnooze, ActionListPage, appreg.ActionRotate} {
		h.act(h.caller("U_STRANGER"), action, "t/a/k")
	}
	refusals := 0
	for _, s := range h.chat.Said() {
		if s.User == "U_STRANGER" && strings.Contains(s.Text(), "not one of this bot's operators") {
			refusals++
		}
	}
	if refusals != 3 {
		t.Fatalf("%d refusals, want 3", refusals)
	}
}
