package teams_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/handlers/teams"
	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/teamsfake"
)

// memRefs is References in memory.
type memRefs struct {
	mu sync.Mutex
	m  map[string]map[string]string
}

func (r *memRefs) SaveReference(_ context.Context, kind, id string, fields map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]map[string]string{}
	}
	cur := r.m[kind+"/"+id]
	if cur == nil {
		cur = map[string]string{}
		r.m[kind+"/"+id] = cur
	}
	for k, v := range fields {
		if v != "" {
			cur[k] = v
		}
	}
	return nil
}

func (r *memRefs) Reference(_ context.Context, kind, id string) (map[string]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for k, v := range r.m[kind+"/"+id] {
		out[k] = v
	}
	return out, nil
}

func (r *memRefs) ForgetField(_ context.Context, kind, id, field string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m[kind+"/"+id], field)
	return nil
}

// scriptedBot answers as a test tells it to and records what it got.
type scriptedBot struct {
	mu       sync.Mutex
	commands []appreg.Command
	actions  []appreg.Action
	subs     []appreg.Submission
	act      func(appreg.Action) (appreg.Answer, error)
	submit   func(appreg.Submission) map[string]string
}

func (b *scriptedBot) Command(_ context.Context, c appreg.Command) appreg.Reply {
	b.mu.Lock()
	b.commands = append(b.commands, c)
	b.mu.Unlock()
	return appreg.Reply{Message: appreg.Message{Text: appreg.T("you said ", appreg.Code(c.Text))}}
}

func (b *scriptedBot) Act(_ context.Context, a appreg.Action) (appreg.Answer, error) {
	b.mu.Lock()
	b.actions = append(b.actions, a)
	b.mu.Unlock()
	return b.act(a)
}

func (b *scriptedBot) Submit(_ context.Context, s appreg.Submission) (map[string]string, error) {
	b.mu.Lock()
	b.subs = append(b.subs, s)
	b.mu.Unlock()
	return b.submit(s), nil
}

// handlerFixture is a Handler on the fake Bot Framework with a scripted bot.
type handlerFixture struct {
	f   *teamsfake.Server
	bot *scriptedBot
	url string
}

func newHandler(t *testing.T, bot *scriptedBot) *handlerFixture {
	t.Helper()
	clk := newClock()
	f := newFake(t, clk)
	refs := &memRefs{}
	conn, err := teams.NewConnector(teams.ConnectorConfig{AppID: appID, AppPassword: password, AuthorityHost: f.AuthorityHost(),
		DisableInstanceDiscovery: true, HTTPClient: f.Client(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := teams.NewAuthenticator(teams.AuthConfig{AppID: appID, MetadataURL: f.MetadataURL(), HTTPClient: f.Client(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	h, err := teams.NewHandler(teams.HandlerConfig{Bot: bot, Chat: teams.NewChat(conn, refs, nil), Refs: refs, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Wait() })
	return &handlerFixture{f: f, bot: bot, url: srv.URL}
}

func (hf *handlerFixture) deliver(t *testing.T, a *teams.Activity) (int, string) {
	t.Helper()
	resp, err := hf.f.Deliver(timeout(t), http.DefaultClient, hf.url, a, teamsfake.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func cardShows(c teamsfake.Call) string {
	if len(c.Activity.Attachments) == 0 {
		return ""
	}
	return string(c.Activity.Attachments[0].Content)
}

// TestCommandsAsMessages: which texts are commands, with the bot's
// mention stripped; the reply goes to the same conversation.
func TestCommandsAsMessages(t *testing.T) {
	tests := []struct {
		text, want string // want "" means a hint
	}{
		{"appreg new contoso.onmicrosoft.com", "new contoso.onmicrosoft.com"},
		{"/appreg help", "help"},
		{"  AppReg   list  ", "list"},
		{"appreg", ""},
		{"<at>appreg</at> appreg cancel", "cancel"},
		{"hello", "-"},
		{"appregnew x", "-"},
		{"", "-"},
	}
	bot := &scriptedBot{}
	hf := newHandler(t, bot)
	for i, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			a := message(hf.f, tt.text)
			a.ID = "msg-" + string(rune('a'+i))
			a.Entities = []teams.Entity{{Type: teams.EntityMention, Mentioned: &teams.ChannelAccount{ID: hf.f.BotID()}, Text: "<at>appreg</at>"}}
			if code, _ := hf.deliver(t, a); code != 200 {
				t.Fatalf("status %d", code)
			}
			bot.mu.Lock()
			var got *appreg.Command
			for _, c := range bot.commands {
				if c.DeliveryID == a.ID {
					got = &c
				}
			}
			bot.mu.Unlock()
			if tt.want == "-" {
				if got != nil {
					t.Fatalf("command %q delivered", got.Text)
				}
				if _, err := hf.f.WaitFor(timeout(t), teamsfake.OpSend, func(c teamsfake.Call) bool {
					return strings.Contains(cardShows(c), "start with")
				}); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got == nil || got.Text != tt.want || got.Caller.User.ID != a.From.AADObjectID || got.Caller.Channel != "a:1personalchat" || got.Caller.Thread != "" {
				t.Fatalf("command %+v", got)
			}
		})
	}
}

// TestActionSubmitAndSlowClicks: an Action.Submit message is a click whose
// form is posted; a click the engine takes long over is answered "working
// on it" and its notice reaches the clicker's personal chat.
func TestActionSubmitAndSlowClicks(t *testing.T) {
	release := make(chan struct{})
	bot := &scriptedBot{
		act: func(a appreg.Action) (appreg.Answer, error) {
			switch a.ActionID {
			case "form":
				return appreg.Answer{Form: &appreg.Form{ID: "f1", Conversation: "c1", Title: "Name it", Inputs: []appreg.FormInput{{ID: "name"}}}}, nil
			case "slow":
				<-release
				return appreg.Notice(appreg.Message{Text: appreg.T("slow notice")}), nil
			}
			return appreg.Answer{}, nil
		},
		submit: func(s appreg.Submission) map[string]string {
			if s.Values["name"] != "ok" {
				return map[string]string{"name": "Not that."}
			}
			return nil
		},
	}
	hf := newHandler(t, bot)

	sub := message(hf.f, "")
	sub.Value = json.RawMessage(`{"verb":"form","value":"c1"}`)
	if code, _ := hf.deliver(t, sub); code != 200 {
		t.Fatalf("Action.Submit: %d", code)
	}
	if _, err := hf.f.WaitFor(timeout(t), teamsfake.OpSend, func(c teamsfake.Call) bool {
		return strings.Contains(cardShows(c), "Name it") && strings.Contains(cardShows(c), `"in:name"`)
	}); err != nil {
		t.Fatal(err)
	}
	form := `{"id":"f1","conversation":"c1","title":"Name it","inputs":[{"id":"name"}]}`
	sub2 := message(hf.f, "")
	sub2.ID = "sub2"
	sub2.Value = json.RawMessage(`{"verb":"teams.submit","form":` + form + `,"in:name":"bad"}`)
	hf.deliver(t, sub2)
	if _, err := hf.f.WaitFor(timeout(t), teamsfake.OpSend, func(c teamsfake.Call) bool {
		return strings.Contains(cardShows(c), "Not that.") && strings.Contains(cardShows(c), `"value":"bad"`)
	}); err != nil {
		t.Fatal(err)
	}
	if len(bot.subs) != 1 || bot.subs[0].FormID != "f1" || bot.subs[0].Conversation != "c1" {
		t.Fatalf("submissions %+v", bot.subs)
	}

	inv := message(hf.f, "")
	inv.ID, inv.Type, inv.Name, inv.ReplyToID = "inv1", teams.TypeInvoke, teams.InvokeAdaptiveCardAction, "card1"
	inv.Value = json.RawMessage(`{"action":{"type":"Action.Execute","verb":"slow","data":{"verb":"slow","value":"x"}}}`)
	start := time.Now()
	code, body := hf.deliver(t, inv)
	if code != 200 || !strings.Contains(body, "Working on it") || !strings.Contains(body, "application/vnd.microsoft.activity.message") {
		t.Fatalf("slow click: %d %s", code, body)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("answered after %s", d)
	}
	close(release)
	if _, err := hf.f.WaitFor(timeout(t), teamsfake.OpSend, func(c teamsfake.Call) bool { return strings.Contains(cardShows(c), "slow notice") }); err != nil {
		t.Fatal(err)
	}
	if a := bot.actions[len(bot.actions)-1]; a.DeliveryID != "inv1" || a.Message.ID != "card1" || a.Value != "x" {
		t.Fatalf("action %+v", a)
	}
}
