package wizard

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/fakes"
)

const (
	approver      = "U_APPROVER"
	otherApprover = "U_APPROVER2"
	approvals     = "C_APPROVALS"
)

func approvalConfig(c *Config) {
	c.Approvals = map[string]string{"slack": approvals}
	c.Approvers = []string{approver, "S_APPROVERS"}
}

func (h *harness) clickAs(user, action, conv string) {
	h.t.Helper()
	h.act(appreg.Caller{Platform: "slack", User: appreg.User{ID: user}, Channel: approvals}, action, conv)
}

// requestRole onboards Voice1 and requests Teams Administrator for it; it
// returns the request's conversation id.
func (h *harness) requestRole() string {
	h.t.Helper()
	h.onboard()
	r := h.command(requester, "role add Voice1 teams administrator needed for voice routes")
	if !strings.Contains(r.Text, "Requested: add Teams Administrator for Voice1") {
		h.t.Fatalf("reply = %q", r.Text)
	}
	root := h.wait(func(s fakes.Said) bool {
		return s.Kind == "post" && s.Place.Channel == approvals && s.Place.Thread == ""
	})
	for _, want := range []string{"Role change in", "add Teams Administrator for Voice1", "@U_REQ", "needed for voice routes"} {
		if !strings.Contains(root.Text(), want) {
			h.t.Errorf("request lacks %q: %s", want, root.Text())
		}
	}
	h.waitState(appreg.StateAwaitingApproval)
	return h.conversation().ID
}

func TestRoleChangeThroughApproval(t *testing.T) {
	h := newHarness(t, approvalConfig)
	h.chat.SetGroup("S_APPROVERS", otherApprover)
	conv := h.requestRole()
	app := h.record("Voice1").AppID

	h.clickAs(requester, ActionApprove, conv)
	h.wait(func(s fakes.Said) bool { return s.User == requester && strings.Contains(s.Text(), "cannot decide it") })
	h.clickAs("U_STRANGER", ActionApprove, conv)
	h.wait(func(s fakes.Said) bool {
		return s.User == "U_STRANGER" && strings.Contains(s.Text(), "Only the approvers")
	})
	if c := h.conversation(); c.Role.Approver != nil {
		t.Fatal("a refused click decided")
	}

	// The approver approves; the signer is only an Application Administrator.
	h.clickAs(approver, ActionApprove, conv)
	code := h.wait(func(s fakes.Said) bool {
		return s.Kind == "private" && strings.Contains(s.Text(), "Sign-in code") && s.Place.Channel == approvals
	})
	if code.User != approver {
		t.Fatalf("code shown to %s", code.User)
	}
	h.wait(func(s fakes.Said) bool {
		return s.Kind == "direct" && s.User == requester && strings.Contains(s.Text(), "was approved by @U_APPROVER")
	})
	h.approveNext(2)
	c := h.waitState(appreg.StateExpired)
	if !strings.Contains(c.Reason.String(), "is not a Privileged Role Administrator") || len(h.tenant.RolesOf(app)) != 0 {
		t.Fatalf("reason %q, roles %v", c.Reason.String(), h.tenant.RolesOf(app))
	}
	// A Privileged Role Administrator signs in with a new code.
	h.tenant.Roles = []string{"Privileged Role Administrator"}
	h.clickAs(approver, ActionNewCode, conv)
	h.approveNext(3)
	c = h.waitState(appreg.StateDone)
	if got := h.tenant.RolesOf(app); len(got) != 1 || got[0] != "Teams Administrator" {
		t.Fatalf("roles = %v", got)
	}
	h.wait(func(s fakes.Said) bool {
		return s.Kind == "direct" && s.User == requester && strings.Contains(s.Text(), "Voice1 now holds Teams Administrator")
	})
	h.wait(fakes.Containing("update", "Done: Voice1 now holds Teams Administrator"))

	log, _, err := h.store.AuditLog(h.ctx, "Voice1", 50, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var story []string
	for i := len(log) - 1; i >= 0; i-- {
		if strings.HasPrefix(log[i].Action, "role.") {
			story = append(story, log[i].Action+" "+strings.SplitN(log[i].Outcome, ":", 2)[0])
		}
	}
	want := "role.request ok|role.approve denied|role.approve denied|role.approve ok|role.execute ok"
	if strings.Join(story, "|") != want {
		t.Fatalf("audit story:\n%s\nwant\n%s", strings.Join(story, "|"), want)
	}
	if r := h.command(requester, "audit voice1"); !strings.Contains(r.Text, "role.execute") {
		t.Fatalf("/appreg audit: %s", r.Text)
	}

	// The same role again: reported as already held, not as an error.
	h.command(requester, "role add Voice1 Teams Administrator")
	h.waitState(appreg.StateAwaitingApproval)
	h.clickAs(otherApprover, ActionApprove, h.conversation().ID)
	h.approveNext(4)
	h.waitState(appreg.StateDone)
	h.wait(fakes.Containing("post", "Voice1 already held Teams Administrator; nothing changed."))
}

func TestConcurrentApproversDecideOnce(t *testing.T) {
	h := newHarness(t, approvalConfig)
	h.chat.SetGroup("S_APPROVERS", otherApprover)
	conv := h.requestRole()
	var wg sync.WaitGroup
	for _, u := range []string{approver, otherApprover, approver} {
		wg.Add(1)
		go func() { defer wg.Done(); h.clickAs(u, ActionApprove, conv) }()
	}
	wg.Wait()
	h.wait(func(s fakes.Said) bool {
		return strings.Contains(s.Text(), "already decided") || strings.Contains(s.Text(), "no longer waiting")
	})
	h.wait(func(s fakes.Said) bool {
		return s.Kind == "private" && s.Place.Channel == approvals && strings.Contains(s.Text(), "Sign-in code")
	})
	approved := 0
	for _, s := range h.chat.Said() {
		if s.Kind == "post" && strings.Contains(s.Text(), "Approved by") {
			approved++
		}
	}
	if approved != 1 || h.tenant.Calls("BeginSignIn") != 2 {
		t.Fatalf("%d approvals posted, %d sign-ins", approved, h.tenant.Calls("BeginSignIn"))
	}
}

func TestRejectAndExpire(t *testing.T) {
	h := newHarness(t, approvalConfig)
	conv := h.requestRole()
	h.clickAs(approver, ActionReject, conv)
	form := h.wait(func(s fakes.Said) bool { return s.Kind == "form" && s.Form.ID == FormReject })
	if form.User != approver {
		t.Fatalf("form for %s", form.User)
	}
	submit := func(user, reason string) map[string]string {
		errs, err := h.w.Submit(h.ctx, appreg.Submission{Caller: appreg.Caller{User: appreg.User{ID: user}}, FormID: FormReject,
			Conversation: conv, Values: map[string]string{InputReason: reason}})
		if err != nil {
			t.Fatal(err)
		}
		return errs
	}
	if errs := submit(approver, " "); !strings.Contains(errs[InputReason], "say why") {
		t.Fatalf("empty reason: %v", errs)
	}
	if errs := submit(requester, "no"); !strings.Contains(errs[InputReason], "cannot decide") {
		t.Fatalf("requester rejecting: %v", errs)
	}
	if errs := submit(approver, "use Teams Communications Administrator instead"); len(errs) != 0 {
		t.Fatal(errs)
	}
	c := h.waitState(appreg.StateRejected)
	if !strings.Contains(c.Reason.String(), "use Teams Communications Administrator instead") {
		t.Fatalf("reason = %q", c.Reason.String())
	}
	h.wait(func(s fakes.Said) bool {
		return s.Kind == "direct" && s.User == requester && strings.Contains(s.Text(), "was rejected by @U_APPROVER")
	})
	h.clickAs(approver, ActionApprove, conv)
	h.wait(func(s fakes.Said) bool { return s.User == approver && strings.Contains(s.Text(), "already decided") })

	// A request nobody decides expires.
	h.cfg.ApprovalTTL = time.Millisecond
	h.w = h.newWizard()
	h.command(requester, "role remove admin@contoso.com Application Administrator")
	h.waitState(appreg.StateAwaitingApproval)
	time.Sleep(5 * time.Millisecond)
	h.w.Sweep(h.ctx)
	c = h.waitState(appreg.StateFailed)
	if !strings.Contains(c.Reason.String(), "Expired: nobody decided") {
		t.Fatalf("reason = %q", c.Reason.String())
	}
}

func TestRoleExecutionFailureKeepsApproval(t *testing.T) {
	h := newHarness(t, approvalConfig)
	h.tenant.Roles = []string{"Global Administrator"}
	conv := h.requestRole()
	h.tenant.FailNext("AssignRole", appreg.Errorf(appreg.KindUnavailable, "Microsoft Graph is not answering."))
	h.clickAs(approver, ActionApprove, conv)
	h.approveNext(2)
	h.wait(fakes.Containing("post", "Microsoft Graph is not answering"))
	c := h.conversation()
	if c.State != appreg.StateCreating || c.Role.Decision != "approved" {
		t.Fatalf("after failure: %s %+v", c.State, c.Role)
	}
	h.clickAs(approver, ActionRetry, conv)
	h.waitState(appreg.StateDone)
}

func TestRoleRequestInputs(t *testing.T) {
	h := newHarness(t, approvalConfig)
	tests := []struct{ text, want string }{
		{"role add Nope Teams Administrator", "I know no registration"},
		{"role add Voice1 Chief Coffee Officer", "I don't know the role"},
		{"role grant Voice1 Teams Administrator", "“grant” is neither add nor remove"},
		{"role", "Missing: add or remove"},
		{"role add Voice1", "Missing: the role, one of Teams Administrator, "},
		{"role remove", "Missing: who the role is for"},
		{"role add bob@not_a_domain Teams Administrator", "not a user principal name"},
	}
	for _, tt := range tests {
		if got := h.command(requester, tt.text).Text; !strings.Contains(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.text, got, tt.want)
		}
	}
}

// TestDecisionRetriedAfterAnotherChange: another change of the request
// (its thread being recorded) lands between an approver's reading it and
// deciding; the decision is made on the fresh request, for a rejection as
// for an approval, not refused as decided by someone else.
func TestDecisionRetriedAfterAnotherChange(t *testing.T) {
	for _, decision := range []string{"reject", "approve"} {
		t.Run(decision, func(t *testing.T) {
			h := newHarness(t, approvalConfig)
			conv := h.requestRole()
			touched := false
			h.chat.OnIsOneOf = func() { // the approver check, after the read
				if touched {
					return
				}
				touched = true
				c, err := h.store.Conversation(h.ctx, conv)
				if err != nil {
					t.Error(err)
					return
				}
				if err := h.store.UpdateConversation(h.ctx, c); err != nil {
					t.Error(err)
				}
			}
			if decision == "approve" {
				h.clickAs(approver, ActionApprove, conv)
				h.wait(func(s fakes.Said) bool { return s.Kind == "direct" && strings.Contains(s.Text(), "approved") })
				if c, _ := h.store.Conversation(h.ctx, conv); c.Role.Approver == nil || c.Role.Approver.User.ID != approver {
					t.Fatalf("approver: %+v", c.Role)
				}
			} else {
				errs, err := h.w.Submit(h.ctx, appreg.Submission{Caller: appreg.Caller{User: appreg.User{ID: approver}}, FormID: FormReject,
					Conversation: conv, Values: map[string]string{InputReason: "not needed"}})
				if err != nil || len(errs) != 0 {
					t.Fatalf("reject: %v %v", errs, err)
				}
				h.waitState(appreg.StateRejected)
			}
			if !touched {
				t.Fatal("the other change never happened: the test shows nothing")
			}
		})
	}
}
