package wizard

import (
	"strings"
	"testing"

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
