package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/fakes"
	"github.com/appreg-bot/appreg-bot/internal/simtenant"
	"github.com/appreg-bot/appreg-bot/internal/wizard"
)

// testPlatform is a chat platform of the tests' own, plugged in beside
// Slack the way a real one is: its chat is a recording fake, and the test
// plays its users by calling the bot it is started with.
type testPlatform struct {
	chat *fakes.Chat
	mu   sync.Mutex
	bot  appreg.Bot
}

func (p *testPlatform) Name() string             { return "testchat" }
func (p *testPlatform) Chat() appreg.Chat        { return p.chat }
func (p *testPlatform) ApprovalsChannel() string { return "" }
func (p *testPlatform) RemindersChannel() string { return "" }
func (p *testPlatform) Start(_ context.Context, bot appreg.Bot, _ *http.ServeMux, _ *sync.WaitGroup) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bot = bot
	return nil
}

// TestAnotherPlatformBesideSlack runs a whole onboarding through a second
// platform in the same process as Slack: the engine, the store and the
// tenant are shared, and each platform hears only its own conversation.
func TestAnotherPlatformBesideSlack(t *testing.T) {
	e := newEnv(t)
	tp := &testPlatform{chat: fakes.NewChat()}
	m := e.start(nil, tp)
	who := appreg.Caller{Platform: "testchat", User: appreg.User{ID: "tc-ann", Name: "Ann"}, Channel: "tc-room"}
	wait := func(match func(fakes.Said) bool) fakes.Said {
		t.Helper()
		s, err := tp.chat.WaitFor(e.ctx, match)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	r := tp.bot.Command(e.ctx, appreg.Command{Caller: who, Text: "new contoso.onmicrosoft.com sbc7", DeliveryID: "tc-1"})
	if !strings.Contains(r.Text.String(), "Starting the onboarding") {
		t.Fatalf("reply: %q", r.Text.String())
	}
	code := wait(fakes.Containing("private", "Sign-in code"))
	if code.User != "tc-ann" || code.Place.Platform != "testchat" || code.Place.Channel != "tc-room" || code.Place.Thread == "" {
		t.Fatalf("code shown as %+v", code)
	}
	e.approveSignIn()
	ask := wait(fakes.Containing("post", "What should the registration"))
	ans, err := tp.bot.Act(e.ctx, appreg.Action{Caller: who, ActionID: ask.Message.Buttons[0].ActionID, Value: ask.Message.Buttons[0].Value})
	if err != nil || ans.Form == nil || ans.Form.ID != wizard.FormName {
		t.Fatalf("name button: %+v, %v", ans, err)
	}
	errs, err := tp.bot.Submit(e.ctx, appreg.Submission{Caller: who, FormID: ans.Form.ID, Conversation: ans.Form.Conversation,
		Values: map[string]string{wizard.InputName: "TC-Voice"}})
	if err != nil || len(errs) != 0 {
		t.Fatalf("name: %v, %v", errs, err)
	}
	report := wait(fakes.Containing("post", "Registration TC-Voice created"))
	secret := wait(fakes.Containing("private", "Client secret for TC-Voice"))
	if report.Place.Thread != code.Place.Thread || secret.User != "tc-ann" {
		t.Fatalf("report in %+v, secret to %s", report.Place, secret.User)
	}
	if calls := e.slack.Calls(""); len(calls) != 0 {
		t.Fatalf("Slack heard %d calls of another platform's conversation", len(calls))
	}
	// One engine and one store: Slack lists what the other platform made.
	if _, body := e.command(m, "U1", "list"); !strings.Contains(body, "TC-Voice") {
		t.Fatalf("list in Slack: %s", body)
	}
}

// TestValuesFromPeopleAndTenantsReachSlackAsText: a tenant and an admin
// whose names are Slack markup, a role request's reason and a rejection's
// reason with a broadcast and a disguised link reach Slack as the
// characters typed. The only live mentions and links are the ones the bot
// means: people by id, the approvals channel, the sign-in page.
func TestValuesFromPeopleAndTenantsReachSlackAsText(t *testing.T) {
	const hostile = `<!channel> <https://evil.example|Approve here> & *co*`
	e := newEnv(t)
	const evilID = "0b0b0b0b-1111-4222-8333-444444444444"
	e.sim.AddTenant(simtenant.Tenant{ID: evilID, DisplayName: hostile, Domains: []string{"fabrikam.onmicrosoft.com"}})
	e.sim.AddUser(evilID, simtenant.User{UPN: "admin@fabrikam.onmicrosoft.com", DisplayName: hostile, Roles: []string{"Global Administrator"}})
	m := e.start(map[string]string{"BOT_APPROVALS_CHANNEL": "C_APPROVALS", "BOT_APPROVERS": "U2"})
	defer func() {
		if t.Failed() {
			t.Log(e.logs.String())
		}
	}()

	e.command(m, "U1", "new fabrikam.onmicrosoft.com sbc1")
	e.approveAs("admin@fabrikam.onmicrosoft.com")
	conv := buttonValue(e.waitCall("chat.postMessage", "What should the registration"), "appreg.name")
	e.click(m, "U1", "appreg.name", conv)
	e.submitName(m, "U1", conv, "Fab&Co")
	e.waitCall("chat.postMessage", "Registration Fab&Co created")

	// Slack escapes &, < and > in a command's text; a broadcast typed as
	// @channel arrives as markup. Both must stay text.
	if _, body := e.command(m, "U1", "role add Fab&amp;Co Teams Administrator <!channel> &lt;https://evil.example|Approve here&gt; &amp; *co*"); !strings.Contains(body, "Requested") {
		t.Fatalf("request: %s", body)
	}
	root := e.waitCall("chat.postMessage", "Role change in fabrikam.onmicrosoft.com")
	if !strings.Contains(root.Shown(), "Reason given: "+hostile) {
		t.Fatalf("request shows %q", root.Shown())
	}
	e.click(m, "U2", "appreg.reject", buttonValue(root, "appreg.reject"))
	if _, err := e.slack.WaitFor(e.ctx, "views.open", nil); err != nil {
		t.Fatal(err)
	}
	e.interact(m, map[string]any{
		"type": "view_submission", "user": map[string]string{"id": "U2"}, "trigger_id": "v2",
		"view": map[string]any{"callback_id": wizard.FormReject, "private_metadata": buttonValue(root, "appreg.reject"),
			"state": map[string]any{"values": map[string]any{wizard.InputReason: map[string]any{"value": map[string]string{"type": "plain_text_input", "value": hostile}}}}},
	})
	rejected := e.waitCall("chat.postMessage", "Rejected by")
	if !strings.Contains(rejected.Shown(), ": "+hostile) {
		t.Fatalf("rejection shows %q", rejected.Shown())
	}
	e.waitCall("chat.postMessage", "was rejected by") // the requester's DM

	shown := 0
	for _, c := range e.slack.Calls("") {
		for _, l := range c.Live() {
			ok := strings.HasPrefix(l, "user:U") || l == "channel:C_APPROVALS" || strings.HasPrefix(l, "link:"+e.sim.URL()+"/devicelogin")
			if !ok {
				t.Errorf("%s: live markup %q in %q", c.Method, l, c.Shown())
			}
		}
		if strings.Contains(c.Shown(), hostile) {
			shown++
		}
	}
	if shown < 4 { // the tenant and admin names, the reason, the rejection
		t.Errorf("the values were shown as typed in only %d messages", shown)
	}
}
