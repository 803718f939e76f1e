package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/handlers/teams"
	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/teamsfake"
	"github.com/appreg-bot/appreg-bot/internal/wizard"
)

const (
	teamsAppID    = "5f0c9a1e-4b8d-4c3e-9a7f-2d6b1e8c0a11"
	teamsPassword = "Xq8~bot.Pa55word-value_0123456789"
	teamsTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	teamsChannel  = "19:general0123@thread.tacv2"
	teamsApprove  = "19:approvals0456@thread.tacv2"
)

// teamsUser is a person in the Teams tenant of the provider.
type teamsUser struct{ ID, AAD, Name string }

var (
	ann = teamsUser{ID: "29:1ann", AAD: "0b7e4f52-8c1d-4a5e-9f3b-6d2c1a0e9b87", Name: "Ann Engineer"}
	bob = teamsUser{ID: "29:1bob", AAD: "5c2d9e61-7a4b-4f3c-8e1d-2b6a9c0f4e53", Name: "Bob Approver"}
	cid = teamsUser{ID: "29:1cid", AAD: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", Name: "Cid Bystander"}
)

// teamsEnv is the test environment of a Teams bot: the Slack-free env
// (Redis, stand-in tenant) plus a fake Bot Framework.
type teamsEnv struct {
	*env
	bf  *teamsfake.Server
	seq atomic.Int64
}

func newTeamsEnv(t *testing.T) *teamsEnv {
	e := &teamsEnv{env: newEnv(t), bf: teamsfake.New(teamsfake.Options{AppID: teamsAppID, AppPassword: teamsPassword})}
	t.Cleanup(e.bf.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.logs.String())
		}
	})
	return e
}

// start runs one replica with Teams only.
func (e *teamsEnv) start(extra map[string]string) *Main {
	e.t.Helper()
	cfg := e.env.config(map[string]string{
		"TEAMS_APP_ID": teamsAppID, "TEAMS_APP_PASSWORD": teamsPassword, "TEAMS_OPENID_METADATA_URL": e.bf.MetadataURL(),
		"AZURE_AUTHORITY_HOST": e.bf.AuthorityHost(), "TEAMS_APPROVALS_CHANNEL": teamsApprove,
	}, extra)
	if cfg.Slack != nil || cfg.Teams == nil {
		e.t.Fatalf("platforms: slack %v, teams %v", cfg.Slack, cfg.Teams)
	}
	cfg.Teams.HTTPClient = e.bf.Client()
	return e.env.startConfig(cfg, nil)
}

// activity is an activity from Teams in a conversation: the channel
// (thread "" for a new post), a personal chat ("a:…") or a group chat.
func (e *teamsEnv) activity(from teamsUser, conv, thread string) *teams.Activity {
	id := fmt.Sprintf("1765%09d", e.seq.Add(1))
	a := &teams.Activity{
		ID: id, Timestamp: time.Now(), ServiceURL: e.bf.ServiceURL(), ChannelID: teams.ChannelIDMSTeams,
		From:         teams.ChannelAccount{ID: from.ID, Name: from.Name, AADObjectID: from.AAD},
		Recipient:    teams.ChannelAccount{ID: e.bf.BotID(), Name: "appreg"},
		Conversation: teams.ConversationAccount{ID: conv, TenantID: teamsTenant},
		ChannelData:  &teams.ChannelData{Tenant: &teams.TenantInfo{ID: teamsTenant}},
	}
	switch {
	case strings.HasSuffix(conv, "@thread.tacv2"):
		a.Conversation.ConversationType = "channel"
		a.Conversation.ID = teams.ThreadConversationID(conv, cmpOr(thread, id))
		a.ChannelData.Team = &teams.TeamInfo{ID: teamsChannel}
		a.ChannelData.Channel = &teams.ChannelInfo{ID: conv}
	case strings.HasPrefix(conv, "a:"):
		a.Conversation.ConversationType = "personal"
	default:
		a.Conversation.ConversationType, a.Conversation.IsGroup = "groupChat", true
	}
	return a
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// say sends text as a message (with the bot's @mention outside personal
// chats) and returns the activity.
func (e *teamsEnv) say(m *Main, from teamsUser, conv, thread, text string) *teams.Activity {
	e.t.Helper()
	a := e.activity(from, conv, thread)
	a.Type = teams.TypeMessage
	a.Text = text
	if a.Kind() != teams.ConversationPersonal {
		a.Text = "<at>appreg</at> " + text
		a.Entities = []teams.Entity{{Type: teams.EntityMention, Mentioned: &teams.ChannelAccount{ID: e.bf.BotID(), Name: "appreg"}, Text: "<at>appreg</at>"}}
	}
	if code, body := e.deliver(m, a, teamsfake.SignOptions{}); code != http.StatusOK {
		e.t.Fatalf("message %q: %d %s", text, code, body)
	}
	return a
}

func (e *teamsEnv) deliver(m *Main, a any, o teamsfake.SignOptions) (int, string) {
	e.t.Helper()
	resp, err := e.bf.Deliver(e.ctx, http.DefaultClient, "http://"+m.Addr()+"/api/messages", a, o)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// invoke clicks a card's Action.Execute (verb, data with the inputs
// merged in) on the message msg and returns the invoke's answer.
func (e *teamsEnv) invoke(m *Main, from teamsUser, msg teamsfake.Call, verb string, data map[string]any) invokeAnswer {
	e.t.Helper()
	conv, root := teams.SplitThread(msg.ConversationID)
	a := e.activity(from, conv, cmpOr(root, msg.ID))
	if !strings.HasSuffix(conv, "@thread.tacv2") {
		a.Conversation.ID = msg.ConversationID
	}
	a.Type, a.Name, a.ReplyToID = teams.TypeInvoke, teams.InvokeAdaptiveCardAction, msg.ID
	a.Value, _ = json.Marshal(map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"})
	code, body := e.deliver(m, a, teamsfake.SignOptions{})
	if code != http.StatusOK {
		e.t.Fatalf("invoke %s: %d %s", verb, code, body)
	}
	var ans invokeAnswer
	if err := json.Unmarshal([]byte(body), &ans); err != nil {
		e.t.Fatalf("invoke answer %q: %v", body, err)
	}
	return ans
}

// click clicks the button with action id verb on msg's card.
func (e *teamsEnv) click(m *Main, from teamsUser, msg teamsfake.Call, verb string) invokeAnswer {
	e.t.Helper()
	for _, b := range cardOf(e.t, msg.Activity).Actions {
		if b.Verb == verb {
			return e.invoke(m, from, msg, verb, b.Data)
		}
	}
	e.t.Fatalf("no %s button on %q", verb, cardOf(e.t, msg.Activity).text())
	return invokeAnswer{}
}

// submit fills the form card of ans with values and submits it.
func (e *teamsEnv) submit(m *Main, from teamsUser, msg teamsfake.Call, form tcard, values map[string]string) invokeAnswer {
	e.t.Helper()
	for _, b := range form.Actions {
		if b.Verb == "teams.submit" {
			data := map[string]any{}
			for k, v := range b.Data {
				data[k] = v
			}
			for k, v := range values {
				data["in:"+k] = v
			}
			return e.invoke(m, from, msg, b.Verb, data)
		}
	}
	e.t.Fatal("no submit button on the form")
	return invokeAnswer{}
}

type invokeAnswer struct {
	StatusCode int             `json:"statusCode"`
	Type       string          `json:"type"`
	Value      json.RawMessage `json:"value"`
}

func (a invokeAnswer) card(t *testing.T) tcard {
	t.Helper()
	if a.Type != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("answer %s %s, want a card", a.Type, a.Value)
	}
	var c tcard
	if err := json.Unmarshal(a.Value, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func (a invokeAnswer) message() string {
	var s string
	_ = json.Unmarshal(a.Value, &s)
	return s
}

// tcard is what the tests read of a card.
type tcard struct {
	Version string         `json:"version"`
	Body    []tnode        `json:"body"`
	Actions []taction      `json:"actions"`
	MSTeams map[string]any `json:"msteams"`
}

type tnode struct {
	Type    string    `json:"type"`
	ID      string    `json:"id"`
	Value   string    `json:"value"`
	Inlines []trun    `json:"inlines"`
	Columns []tcolumn `json:"columns"`
}

type tcolumn struct {
	Items []tnode `json:"items"`
}

type trun struct {
	Text         string   `json:"text"`
	FontType     string   `json:"fontType"`
	SelectAction *taction `json:"selectAction"`
}

type taction struct {
	Type  string         `json:"type"`
	Title string         `json:"title"`
	Verb  string         `json:"verb"`
	URL   string         `json:"url"`
	Data  map[string]any `json:"data"`
}

func cardOf(t *testing.T, a teamsfake.Activity) tcard {
	t.Helper()
	if len(a.Attachments) != 1 {
		t.Fatalf("activity with %d attachments: %s", len(a.Attachments), a.Raw)
	}
	var c tcard
	if err := json.Unmarshal(a.Attachments[0].Content, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// text is the card's text as shown: one line a block, fields as
// "label value".
func (c tcard) text() string {
	var b strings.Builder
	var walk func(ns []tnode)
	walk = func(ns []tnode) {
		for _, n := range ns {
			for _, r := range n.Inlines {
				b.WriteString(r.Text)
			}
			if n.Type == "Input.Text" {
				b.WriteString("[" + n.Value + "]")
			}
			for _, col := range n.Columns {
				walk(col.Items)
				b.WriteString(" ")
			}
			b.WriteString("\n")
		}
	}
	walk(c.Body)
	return b.String()
}

// code returns the card's monospace runs.
func (c tcard) code() []string {
	var out []string
	for _, n := range c.Body {
		for _, r := range n.Inlines {
			if r.FontType == "Monospace" {
				out = append(out, r.Text)
			}
		}
	}
	return out
}

// textOf is the shown text of a recorded call's card ("" without one).
func textOf(c teamsfake.Call) string {
	if len(c.Activity.Attachments) != 1 {
		return ""
	}
	var cd tcard
	if json.Unmarshal(c.Activity.Attachments[0].Content, &cd) != nil {
		return ""
	}
	return cd.text()
}

// waitSent waits for a message sent (or updated) whose card shows part.
func (e *teamsEnv) waitSent(op, part string) teamsfake.Call {
	e.t.Helper()
	c, err := e.bf.WaitFor(e.ctx, op, func(c teamsfake.Call) bool { return c.Status < 300 && strings.Contains(textOf(c), part) })
	if err != nil {
		e.t.Fatalf("no %s showing %q: %v", op, part, err)
	}
	return c
}

// personal returns the personal chat the bot opened with u.
func (e *teamsEnv) personal(u teamsUser) string {
	e.t.Helper()
	conv, ok := e.bf.Conversation(u.ID)
	if !ok {
		e.t.Fatalf("no personal chat with %s", u.Name)
	}
	return conv
}

// onboard runs a whole onboarding from a channel message and returns the
// thread root, the name message, and the app id.
func (e *teamsEnv) onboard(m *Main, who teamsUser, name string) (root string, appID string) {
	e.t.Helper()
	cmd := e.say(m, who, teamsChannel, "", "appreg new contoso.onmicrosoft.com sbc1")
	e.approveSignIn()
	ask := e.waitSent(teamsfake.OpSend, "What should the registration")
	form := e.click(m, who, ask, wizard.ActionEnterName).card(e.t)
	if done := e.submit(m, who, ask, form, map[string]string{wizard.InputName: name}).card(e.t); !strings.Contains(done.text(), name) {
		e.t.Fatalf("after the name: %s", done.text())
	}
	e.waitSent(teamsfake.OpSend, "Registration "+name+" created")
	for _, a := range e.sim.Applications(demoTenantID) {
		if a.DisplayName == name {
			return cmd.ID, a.AppID
		}
	}
	e.t.Fatalf("no application %s", name)
	return "", ""
}

// assertNothingSecretOutside fails when a secret or code appears in a
// call outside the personal chats, or in the log.
func (e *teamsEnv) assertNothingSecretOutside(personal map[string]bool, secrets ...string) {
	e.t.Helper()
	for _, c := range e.bf.Calls("") {
		if personal[c.ConversationID] || c.Op == teamsfake.OpCreate {
			continue
		}
		for _, s := range secrets {
			if s != "" && (strings.Contains(string(c.Activity.Raw), s) || strings.Contains(textOf(c), s)) {
				e.t.Errorf("%q reached %s %s", s, c.Op, c.ConversationID)
			}
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(e.logs.String(), s) {
			e.t.Errorf("%q reached the log", s)
		}
	}
}

// TestTeamsOnboardingEndToEnd plays the engineer in a Teams channel and the
// customer admin in the stand-in tenant, through the real authenticator,
// azidentity and the Bot Connector fake: the command is a channel message,
// the thread is its reply chain with one status message updated in place,
// the code and the secret reach the requester's personal chat only.
func TestTeamsOnboardingEndToEnd(t *testing.T) {
	e := newTeamsEnv(t)
	m := e.start(nil)

	// A channel message to the bot: "@appreg appreg new …".
	cmd := e.say(m, ann, teamsChannel, "", "appreg new contoso.onmicrosoft.com sbc1")
	thread := teams.ThreadConversationID(teamsChannel, cmd.ID)
	reply := e.waitSent(teamsfake.OpSend, "Starting the onboarding")
	status := e.waitSent(teamsfake.OpSend, "App registration for contoso.onmicrosoft.com")
	for _, c := range []teamsfake.Call{reply, status} {
		if c.ConversationID != thread {
			t.Fatalf("%q sent to %s, want the command's reply chain %s", textOf(c), c.ConversationID, thread)
		}
	}
	codeMsg := e.waitSent(teamsfake.OpSend, "Sign-in code")
	personal := e.personal(ann)
	if codeMsg.ConversationID != personal {
		t.Fatalf("code sent to %s, want ann's personal chat %s", codeMsg.ConversationID, personal)
	}
	if create := e.bf.Calls(teamsfake.OpCreate); len(create) != 1 || create[0].Create.Members[0].ID != ann.ID || create[0].Create.TenantID != teamsTenant {
		t.Fatalf("personal chat opened with %+v", create)
	}
	code := cardOf(t, codeMsg.Activity).code()
	if len(code) == 0 || !strings.Contains(strings.Join(e.sim.PendingCodes(), " "), code[0]) {
		t.Fatalf("code %v, pending %v", code, e.sim.PendingCodes())
	}
	e.waitSent(teamsfake.OpUpdate, "Waiting for the customer admin to sign in, until")
	e.approveSignIn()
	e.waitSent(teamsfake.OpSend, "Connected to the tenant")
	ask := e.waitSent(teamsfake.OpSend, "What should the registration")
	if ask.ConversationID != thread {
		t.Fatalf("name question in %s", ask.ConversationID)
	}

	// The name button answers with a form card; a bad name comes back on
	// it with the rule and the value typed; nothing is created meanwhile.
	form := e.click(m, ann, ask, wizard.ActionEnterName).card(t)
	if form.Version < "1.4" || form.MSTeams["width"] != "Full" || !strings.Contains(form.text(), "Registration name") {
		t.Fatalf("form card: %+v\n%s", form, form.text())
	}
	again := e.submit(m, ann, ask, form, map[string]string{wizard.InputName: "bad.name"}).card(t)
	if shown := again.text(); !strings.Contains(shown, "[bad.name]") || !strings.Contains(shown, "dot") {
		t.Fatalf("bad name answered with:\n%s", shown)
	}
	if apps := e.sim.Applications(demoTenantID); len(apps) != 0 {
		t.Fatalf("created before a valid name: %+v", apps)
	}
	// Someone else's submission is refused on the form.
	if other := e.submit(m, cid, ask, again, map[string]string{wizard.InputName: "DR-Cid"}).card(t); !strings.Contains(other.text(), "[DR-Cid]") {
		t.Fatalf("bystander's submission: %s", other.text())
	}
	done := e.submit(m, ann, ask, again, map[string]string{wizard.InputName: "DR-Contoso"}).card(t)
	if !strings.Contains(done.text(), "DR-Contoso") || len(done.Actions) != 0 {
		t.Fatalf("accepted name answered with %s", done.text())
	}
	// The same card submitted again decides nothing.
	if twice := e.submit(m, ann, ask, again, map[string]string{wizard.InputName: "DR-Other"}); twice.Type != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("second submission: %+v", twice)
	}

	report := e.waitSent(teamsfake.OpSend, "Registration DR-Contoso created")
	if report.ConversationID != thread || !strings.Contains(textOf(report), "Authentication validated") {
		t.Fatalf("report in %s: %s", report.ConversationID, textOf(report))
	}
	secret := e.waitSent(teamsfake.OpSend, "Client secret for DR-Contoso")
	if secret.ConversationID != personal {
		t.Fatalf("secret sent to %s", secret.ConversationID)
	}
	secretText := secretText(t, textOf(secret))
	apps := e.sim.Applications(demoTenantID)
	if len(apps) != 1 || len(apps[0].Secrets) != 1 || apps[0].DisplayName != "DR-Contoso" {
		t.Fatalf("tenant applications: %+v", apps)
	}

	// One status message, updated in place in the reply chain.
	final, ok := e.bf.Message(thread, status.ID)
	if !ok || final.Updates < 3 || !strings.Contains(textOfActivity(t, final.Activity), "DR-Contoso") {
		t.Fatalf("status message %+v", final)
	}
	for _, c := range e.bf.Calls(teamsfake.OpUpdate) {
		if c.ConversationID != thread || c.ActivityID != status.ID {
			t.Errorf("update of %s/%s", c.ConversationID, c.ActivityID)
		}
	}
	// Every call carried a token of the bot's from the fake's Entra.
	for _, c := range e.bf.Calls("") {
		if c.Token == "" || c.Status >= 300 {
			t.Errorf("%s %s: status %d, token %t", c.Op, c.ConversationID, c.Status, c.Token != "")
		}
	}
	if n := len(e.bf.TokenRequests()); n != 1 {
		t.Errorf("%d token requests, want 1 (cached)", n)
	}
	e.assertNothingSecretOutside(map[string]bool{personal: true}, secretText, code[0])
	if strings.Contains(e.logs.String(), teamsPassword) {
		t.Error("the app password reached the log")
	}
}

func textOfActivity(t *testing.T, a teamsfake.Activity) string { return cardOf(t, a).text() }

// TestTeamsAfterOnboarding: a secret for a second service (in a personal
// chat this time), then a cleanup confirmed with a card button.
func TestTeamsAfterOnboarding(t *testing.T) {
	e := newTeamsEnv(t)
	m := e.start(nil)
	e.onboard(m, ann, "DR-Contoso")
	personal := e.personal(ann)

	e.say(m, ann, personal, "", "/appreg secret DR-Contoso sbc2")
	e.waitSent(teamsfake.OpSend, "Adding a secret for service sbc2")
	e.approveSignIn()
	e.waitSent(teamsfake.OpSend, "New secret for service sbc2")
	second := e.waitSent(teamsfake.OpSend, "Client secret for DR-Contoso, service sbc2")
	if second.ConversationID != personal {
		t.Fatalf("second secret in %s", second.ConversationID)
	}
	if app := e.sim.Applications(demoTenantID)[0]; len(app.Secrets) != 2 {
		t.Fatalf("secrets: %+v", app.Secrets)
	}

	e.say(m, ann, teamsChannel, "", "appreg cleanup DR-Contoso")
	e.approveSignIn()
	plan := e.waitSent(teamsfake.OpSend, "Not required once DR-Contoso exists")
	if ans := e.click(m, ann, plan, wizard.ActionConfirm); ans.Type != "application/vnd.microsoft.activity.message" {
		t.Fatalf("confirm answered %+v", ans)
	}
	e.waitSent(teamsfake.OpSend, "Cleanup of DR-Contoso done")
	if grants := e.sim.Grants(demoTenantID); len(grants) != 0 {
		t.Fatalf("grants left: %+v", grants)
	}
	e.assertNothingSecretOutside(map[string]bool{personal: true}, secretText(t, textOf(second)))
}

// TestTeamsReminder: a secret close to its expiry is reminded in its reply
// chain and in the requester's personal chat; Snooze and Rotate work from
// the personal chat's card.
func TestTeamsReminder(t *testing.T) {
	e := newTeamsEnv(t)
	e.sim.SetSecretMaxLifetime(demoTenantID, 48*time.Hour, true)
	m := e.start(nil)
	root, _ := e.onboard(m, ann, "DR-Contoso")
	thread := teams.ThreadConversationID(teamsChannel, root)
	isReminder := func(c teamsfake.Call) bool {
		for _, b := range cardOf(t, c.Activity).Actions {
			if b.Verb == "appreg.rotate" {
				return true
			}
		}
		return false
	}
	inThread, err := e.bf.WaitFor(e.ctx, teamsfake.OpSend, func(c teamsfake.Call) bool { return c.ConversationID == thread && isReminder(c) })
	if err != nil {
		t.Fatal(err)
	}
	personal := e.personal(ann)
	dm, err := e.bf.WaitFor(e.ctx, teamsfake.OpSend, func(c teamsfake.Call) bool { return c.ConversationID == personal && isReminder(c) })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DR-Contoso", "sbc1", "contoso.onmicrosoft.com"} {
		if !strings.Contains(textOf(inThread), want) || !strings.Contains(textOf(dm), want) {
			t.Errorf("reminder lacks %q:\n%s\n%s", want, textOf(inThread), textOf(dm))
		}
	}
	if ans := e.click(m, ann, dm, "appreg.snooze"); !strings.Contains(ans.message(), "Snoozed") {
		t.Fatalf("snooze answered %+v", ans)
	}
	e.sim.SetSecretMaxLifetime(demoTenantID, 0, false)
	old := e.sim.Applications(demoTenantID)[0].Secrets[0].KeyID
	e.click(m, ann, dm, "appreg.rotate")
	e.approveSignIn()
	rotated := e.waitSent(teamsfake.OpSend, "remove the old secret")
	e.click(m, ann, rotated, wizard.ActionConfirm)
	e.waitSent(teamsfake.OpSend, "old secret of service sbc1 was removed")
	if secrets := e.sim.Applications(demoTenantID)[0].Secrets; len(secrets) != 1 || secrets[0].KeyID == old {
		t.Fatalf("secrets after rotation: %+v", secrets)
	}
}

// TestTeamsRoleApproval: a request by Ann is posted in the approvals
// channel; Ann may not approve her own, Cid is no approver, Bob (an
// approver by Entra object id) approves and gets the code in his personal
// chat; the role is assigned.
func TestTeamsRoleApproval(t *testing.T) {
	e := newTeamsEnv(t)
	m := e.start(map[string]string{"BOT_APPROVERS": "U2," + strings.ToUpper(bob.AAD)})
	e.onboard(m, ann, "DR-Contoso")

	// The bot must have heard from the approvals channel once.
	e.say(m, bob, teamsApprove, "", "appreg help")
	e.say(m, ann, teamsChannel, "", "appreg role add DR-Contoso Teams Administrator needed for voice routing")
	root := e.waitSent(teamsfake.OpSend, "Role change in contoso.onmicrosoft.com")
	if root.ConversationID != teamsApprove {
		t.Fatalf("request posted in %s", root.ConversationID)
	}
	if ans := e.click(m, ann, root, wizard.ActionApprove); !strings.Contains(ans.message(), "cannot decide it") {
		t.Fatalf("self-approval answered %+v", ans)
	}
	if ans := e.click(m, cid, root, wizard.ActionApprove); !strings.Contains(ans.message(), "Only the approvers") {
		t.Fatalf("bystander answered %+v", ans)
	}
	e.click(m, bob, root, wizard.ActionApprove)
	annChat := e.personal(ann)
	codeMsg, err := e.bf.WaitFor(e.ctx, teamsfake.OpSend, func(c teamsfake.Call) bool {
		return strings.Contains(textOf(c), "Sign-in code") && c.ConversationID != annChat
	})
	if err != nil || codeMsg.ConversationID != e.personal(bob) {
		t.Fatalf("code sent to %s", codeMsg.ConversationID)
	}
	e.approveAs(praUser)
	e.waitSent(teamsfake.OpSend, "DR-Contoso now holds Teams Administrator")
	assigned := false
	for _, a := range e.sim.RoleAssignments(demoTenantID) {
		assigned = assigned || a.Role == "Teams Administrator"
	}
	if !assigned {
		t.Fatal("role not assigned")
	}
	done := e.waitSent(teamsfake.OpSend, "Your role change is done")
	if done.ConversationID != e.personal(ann) {
		t.Fatalf("requester told in %s", done.ConversationID)
	}
	e.assertNothingSecretOutside(map[string]bool{e.personal(ann): true, e.personal(bob): true}, cardOf(t, codeMsg.Activity).code()...)
}

// TestTeamsPersonalChatNotInstalled: the requester has not installed the
// app for themselves, so the bot cannot open their personal chat: the
// thread says what to do, and no code is shown anywhere.
func TestTeamsPersonalChatNotInstalled(t *testing.T) {
	e := newTeamsEnv(t)
	m := e.start(nil)
	e.bf.Uninstall(ann.ID)
	cmd := e.say(m, ann, teamsChannel, "", "appreg new contoso.onmicrosoft.com sbc1")
	paused := e.waitSent(teamsfake.OpSend, "could not show you the sign-in code")
	if paused.ConversationID != teams.ThreadConversationID(teamsChannel, cmd.ID) || !strings.Contains(textOf(paused), "Apps") {
		t.Fatalf("told in %s: %s", paused.ConversationID, textOf(paused))
	}
	for _, c := range e.bf.Calls("") {
		if strings.Contains(textOf(c), "Sign-in code") {
			t.Fatalf("a code was sent: %s", textOf(c))
		}
	}
	e.assertNothingSecretOutside(nil, e.sim.PendingCodes()...)
}

// TestTeamsConnectorThrottling: 429 and 503 with Retry-After are waited
// out; the reply arrives.
func TestTeamsConnectorThrottling(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := newTeamsEnv(t)
			m := e.start(nil)
			e.say(m, ann, teamsChannel, "", "appreg help") // the channel is known
			e.waitSent(teamsfake.OpSend, "I create and look after")
			e.bf.FailNext(2, teamsfake.Failure{Status: status, RetryAfter: "1"})
			start := time.Now()
			e.say(m, ann, teamsChannel, "", "appreg list")
			e.waitSent(teamsfake.OpSend, "registrations")
			if d := time.Since(start); d < 2*time.Second {
				t.Fatalf("answered after %s: Retry-After not honoured", d)
			}
			failed := 0
			for _, c := range e.bf.Calls(teamsfake.OpSend) {
				if c.Status == status {
					failed++
				}
			}
			if failed != 2 {
				t.Fatalf("%d calls answered %d", failed, status)
			}
		})
	}
}

// TestTeamsRestartAndReplica: the conversation starts on one replica,
// which stops while waiting for the sign-in; another takes over from Redis
// (state, conversation references and the sign-in handed over) and notices
// the admin's sign-in with the first code, and the name is submitted to a
// third.
func TestTeamsRestartAndReplica(t *testing.T) {
	e := newTeamsEnv(t)
	key := map[string]string{"BOT_STATE_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
	a := e.start(key)
	cmd := e.say(a, ann, teamsChannel, "", "appreg new contoso.onmicrosoft.com sbc1")
	e.waitSent(teamsfake.OpSend, "Sign-in code")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	_, c := e.start(key), e.start(key)
	if err := e.sim.Approve("", demoAdmin); err != nil {
		t.Fatal(err)
	}
	ask := e.waitSent(teamsfake.OpSend, "What should the registration")
	if ask.ConversationID != teams.ThreadConversationID(teamsChannel, cmd.ID) {
		t.Fatalf("name prompt in %s", ask.ConversationID)
	}
	if n := len(e.sim.PendingCodes()); n != 0 {
		t.Fatalf("%d codes pending: a new code was asked for", n)
	}
	form := e.click(c, ann, ask, wizard.ActionEnterName).card(t)
	e.submit(c, ann, ask, form, map[string]string{wizard.InputName: "DR-Replica"})
	e.waitSent(teamsfake.OpSend, "Registration DR-Replica created")
}

// TestTeamsAuthenticationFailures: each forged, stale or misdirected
// request is 401, and nothing is recorded or sent.
func TestTeamsAuthenticationFailures(t *testing.T) {
	e := newTeamsEnv(t)
	m := e.start(nil)
	other := e.bf.AddKey("webchat")
	tests := []struct {
		name string
		o    teamsfake.SignOptions
	}{
		{"forged signature", teamsfake.SignOptions{ForgeSignature: true}},
		{"unknown key", teamsfake.SignOptions{UnlistedKey: true}},
		{"expired", teamsfake.SignOptions{Expires: time.Now().Add(-10 * time.Minute), IssuedAt: time.Now().Add(-2 * time.Hour), NotBefore: time.Now().Add(-2 * time.Hour)}},
		{"wrong audience", teamsfake.SignOptions{Audience: "00000000-0000-0000-0000-000000000000"}},
		{"wrong issuer", teamsfake.SignOptions{Issuer: "https://evil.example"}},
		{"key not endorsed for msteams", teamsfake.SignOptions{KeyID: other}},
		{"serviceurl of another activity", teamsfake.SignOptions{ServiceURL: "https://smba.evil.example/amer/"}},
		{"alg none", teamsfake.SignOptions{Algorithm: "none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.activity(ann, teamsChannel, "")
			a.Type, a.Text = teams.TypeMessage, "appreg new contoso.onmicrosoft.com"
			if code, body := e.deliver(m, a, tt.o); code != http.StatusUnauthorized {
				t.Fatalf("got %d %s, want 401", code, body)
			}
		})
	}
	// Unsigned.
	req, _ := http.NewRequest(http.MethodPost, "http://"+m.Addr()+"/api/messages", strings.NewReader(`{"type":"message"}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned: %v %v", resp, err)
	}
	time.Sleep(200 * time.Millisecond)
	if calls := e.bf.Calls(""); len(calls) != 0 {
		t.Fatalf("refused requests caused %d connector calls", len(calls))
	}
	if apps := e.sim.PendingCodes(); len(apps) != 0 {
		t.Fatal("a refused request started a sign-in")
	}
	// Nothing recorded: the channel is unknown to the bot.
	if _, err := m.platforms[0].Chat().Post(e.ctx, teamsPlace(teamsChannel), appregMessage("x")); err == nil || !strings.Contains(err.Error(), "not heard from") {
		t.Fatalf("post to a channel only refused requests came from: %v", err)
	}
}

// TestTeamsOtherDeliveries: malformed JSON, unknown activity types,
// conversationUpdate greetings, a hint for other text, a click on a card
// of an ended conversation.
func TestTeamsOtherDeliveries(t *testing.T) {
	e := newTeamsEnv(t)
	m := e.start(nil)
	if code, _ := e.deliver(m, []byte(`{"type":"message",`), teamsfake.SignOptions{}); code != http.StatusBadRequest {
		t.Fatalf("malformed JSON: %d", code)
	}
	for _, typ := range []string{"typing", "messageReaction", "endOfConversation", "somethingNew"} {
		a := e.activity(ann, teamsChannel, "")
		a.Type = typ
		if code, body := e.deliver(m, a, teamsfake.SignOptions{}); code != http.StatusOK || body != "" {
			t.Fatalf("%s: %d %q", typ, code, body)
		}
	}
	// Added to a team: a greeting with the help, a root post in the channel.
	up := e.activity(ann, teamsChannel, "")
	up.Type, up.Conversation.ID = teams.TypeConversationUpdate, teamsChannel
	up.MembersAdded = []teams.ChannelAccount{{ID: e.bf.BotID()}}
	if code, _ := e.deliver(m, up, teamsfake.SignOptions{}); code != http.StatusOK {
		t.Fatalf("conversationUpdate: %d", code)
	}
	greet := e.waitSent(teamsfake.OpSend, "I create and look after")
	if greet.ConversationID != teamsChannel {
		t.Fatalf("greeting in %s", greet.ConversationID)
	}
	personal := "a:1annpersonal"
	e.say(m, ann, personal, "", "hello there")
	if hint := e.waitSent(teamsfake.OpSend, "start with appreg"); hint.ConversationID != personal {
		t.Fatalf("hint in %s", hint.ConversationID)
	}
	// A command in the personal chat is answered there; the cancel of an
	// ended conversation's card gets the engine's answer.
	e.say(m, ann, personal, "", "appreg new contoso.onmicrosoft.com")
	status := e.waitSent(teamsfake.OpSend, "App registration for contoso.onmicrosoft.com")
	if status.ConversationID != personal {
		t.Fatalf("status in %s", status.ConversationID)
	}
	waiting := e.waitSent(teamsfake.OpUpdate, "Waiting for the customer admin to sign in")
	e.say(m, ann, personal, "", "APPREG cancel")
	e.waitSent(teamsfake.OpSend, "Cancelled")
	if ans := e.click(m, ann, waiting, wizard.ActionCancel); ans.StatusCode != 200 || ans.Type != "application/vnd.microsoft.activity.message" {
		t.Fatalf("click on an ended conversation: %+v", ans)
	}
	if ans := e.invoke(m, ann, status, "appreg.no_such_button", map[string]any{"value": "x"}); !strings.Contains(ans.message(), "button") {
		t.Fatalf("unknown button: %+v", ans)
	}
}

func teamsPlace(conv string) appreg.Place {
	return appreg.Place{Platform: teams.Platform, Channel: conv}
}

func appregMessage(s string) appreg.Message { return appreg.Message{Text: appreg.T(s)} }

func TestLoadTeamsConfig(t *testing.T) {
	base := map[string]string{"TEAMS_APP_ID": teamsAppID, "TEAMS_APP_PASSWORD": "p", "AZURE_CLIENT_ID": "c", "BOT_OPERATORS": "*", "REDIS_URL": "redis://127.0.0.1:6379"}
	dev := map[string]string{"TEAMS_APP_ID": teamsAppID, "TEAMS_DEV_UNAUTHENTICATED": "true", "BOT_LISTEN_ADDR": "127.0.0.1:3978", "BOT_SIMULATED_TENANT": "true"}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(Config) bool
	}{
		{"teams", base, "", func(c Config) bool {
			return !c.Console() && c.Slack == nil && c.Teams.TenantID == "botframework.com" &&
				c.Teams.MetadataURL == "https://login.botframework.com/v1/.well-known/openidconfiguration" && !c.Teams.DevUnauthenticated &&
				c.Teams.AuthorityHost == "https://login.microsoftonline.com/" && c.Teams.HTTPClient == nil
		}},
		{"single tenant", with(base, "TEAMS_APP_TENANT_ID", teamsTenant), "", func(c Config) bool { return c.Teams.TenantID == teamsTenant }},
		{"channels", with(with(base, "TEAMS_APPROVALS_CHANNEL", teamsApprove), "TEAMS_REMINDERS_CHANNEL", teamsChannel), "", func(c Config) bool {
			return c.Teams.ApprovalsChannel == teamsApprove && c.Teams.RemindersChannel == teamsChannel
		}},
		{"slack and teams", with(with(base, "SLACK_BOT_TOKEN", "xoxb-1"), "SLACK_SIGNING_SECRET", "s"), "", func(c Config) bool { return c.Slack != nil && c.Teams != nil }},
		{"no password", with(base, "TEAMS_APP_PASSWORD", ""), "TEAMS_APP_PASSWORD", nil},
		{"teams needs a client id", with(base, "AZURE_CLIENT_ID", ""), "AZURE_CLIENT_ID", nil},
		{"teams is closed by default", with(base, "BOT_OPERATORS", ""), "BOT_OPERATORS", nil},
		{"dev mode is open to this machine", dev, "", func(c Config) bool { return c.Operators[0] == "*" && c.EmbeddedRedis }},
		{"bad metadata url", with(base, "TEAMS_OPENID_METADATA_URL", "login"), "TEAMS_OPENID_METADATA_URL", nil},
		{"dev mode on loopback", dev, "", func(c Config) bool { return c.Teams.DevUnauthenticated && c.Teams.AppPassword == "" }},
		{"dev mode on localhost", with(dev, "BOT_LISTEN_ADDR", "localhost:3978"), "", nil},
		{"dev mode on ::1", with(dev, "BOT_LISTEN_ADDR", "[::1]:3978"), "", nil},
		{"dev mode on every address", with(dev, "BOT_LISTEN_ADDR", ":3978"), "TEAMS_DEV_UNAUTHENTICATED", nil},
		{"dev mode by default address", with(dev, "BOT_LISTEN_ADDR", ""), "TEAMS_DEV_UNAUTHENTICATED", nil},
		{"dev mode on a public address", with(dev, "BOT_LISTEN_ADDR", "0.0.0.0:3978"), "TEAMS_DEV_UNAUTHENTICATED", nil},
		{"bad dev flag", with(base, "TEAMS_DEV_UNAUTHENTICATED", "maybe"), "TEAMS_DEV_UNAUTHENTICATED", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr+":") || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil && !tt.check(c) {
				t.Fatalf("config = %+v, teams %+v", c, c.Teams)
			}
		})
	}
}

// TestTeamsDevModeUnauthenticated: in development mode an unsigned
// activity from a loopback serviceUrl is served and answered without a
// token; one naming another serviceUrl is refused.
func TestTeamsDevModeUnauthenticated(t *testing.T) {
	e := newTeamsEnv(t)
	connector := newRecordingConnector(t)
	m := e.start(map[string]string{"TEAMS_DEV_UNAUTHENTICATED": "true", "TEAMS_APP_PASSWORD": ""})
	if !strings.Contains(e.logs.String(), "NOT FOR PRODUCTION") {
		t.Fatal("no warning at start")
	}
	post := func(serviceURL string) int {
		a := e.activity(ann, "a:1devchat", "")
		a.Type, a.Text, a.ServiceURL = teams.TypeMessage, "appreg help", serviceURL
		body, _ := json.Marshal(a)
		resp, err := http.Post("http://"+m.Addr()+"/api/messages", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("https://smba.trafficmanager.net/amer/"); code != http.StatusUnauthorized {
		t.Fatalf("non-loopback serviceUrl: %d", code)
	}
	if code := post(connector.URL + "/_connector"); code != http.StatusOK {
		t.Fatalf("loopback serviceUrl: %d", code)
	}
	got := connector.wait(t)
	if got.path != "/_connector/v3/conversations/a%3A1devchat/activities" || !strings.Contains(got.body, "I create and look after") {
		t.Fatalf("reply %+v", got)
	}
	if len(e.bf.TokenRequests()) != 0 {
		t.Fatal("a token was requested in development mode")
	}
}

type recorded struct{ path, auth, body string }

// recordingConnector is a plain-HTTP loopback stand-in for the
// playground's connector.
type recordingConnector struct {
	URL   string
	calls chan recorded
}

func newRecordingConnector(t *testing.T) *recordingConnector {
	rc := &recordingConnector{calls: make(chan recorded, 10)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.calls <- recorded{path: r.URL.EscapedPath(), auth: r.Header.Get("Authorization"), body: string(b)}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"1"}`))
	}))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

func (rc *recordingConnector) wait(t *testing.T) recorded {
	t.Helper()
	select {
	case c := <-rc.calls:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no call to the connector")
		return recorded{}
	}
}
