package slackbot

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/slackfake"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// fakeBot records what it is given and answers as configured.
type fakeBot struct {
	reply      appreg.Reply
	answer     appreg.Answer
	actErr     error
	panics     bool // Act panics
	formErrs   map[string]string
	submitErr  error
	mu         sync.Mutex
	commands   []appreg.Command
	actions    []appreg.Action
	submission []appreg.Submission
}

func (b *fakeBot) Command(_ context.Context, c appreg.Command) appreg.Reply {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.commands = append(b.commands, c)
	return b.reply
}

func (b *fakeBot) Act(_ context.Context, a appreg.Action) (appreg.Answer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.actions = append(b.actions, a)
	if b.panics {
		panic("bot bug")
	}
	return b.answer, b.actErr
}

func (b *fakeBot) Submit(_ context.Context, s appreg.Submission) (map[string]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.submission = append(b.submission, s)
	return b.formErrs, b.submitErr
}

func (b *fakeBot) calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.commands) + len(b.actions) + len(b.submission)
}

// waitCalls waits until the bot has had n calls: clicks are delivered
// after their acknowledgement.
func (b *fakeBot) waitCalls(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for b.calls() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls, want %d", b.calls(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

var _ appreg.Bot = (*fakeBot)(nil)

// testNow is the handler's clock in these tests.
var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newHandler(t *testing.T, bot appreg.Bot, in Inbound) *Handler {
	t.Helper()
	in.Bot, in.Log = bot, quietLog()
	if in.Chat == nil {
		in.Chat, _ = newChat(t)
	}
	h, err := NewHandler(in, testSecret, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// request builds a Slack delivery signed at ts (zero: unsigned).
func request(path, body string, ts time.Time, secret string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !ts.IsZero() {
		for k, v := range slackfake.Sign(secret, ts, []byte(body)) {
			r.Header[k] = v
		}
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func commandBody(text string) string {
	return url.Values{
		"team_id": {"T1"}, "channel_id": {"C1"}, "user_id": {"U1"}, "user_name": {"ann"},
		"command": {"/appreg"}, "text": {text}, "trigger_id": {"trig-1"},
		"response_url": {"https://hooks.slack.com/commands/x"},
	}.Encode()
}

func interactionBody(payload string) string { return url.Values{"payload": {payload}}.Encode() }

func TestRequestVerification(t *testing.T) {
	body := commandBody("help")
	tests := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"signed", request("/slack/commands", body, testNow, testSecret), http.StatusOK},
		{"signed 4 minutes ago", request("/slack/commands", body, testNow.Add(-4*time.Minute), testSecret), http.StatusOK},
		{"unsigned", request("/slack/commands", body, time.Time{}, ""), http.StatusUnauthorized},
		{"wrong secret", request("/slack/commands", body, testNow, "another-secret"), http.StatusUnauthorized},
		{"stale", request("/slack/commands", body, testNow.Add(-6*time.Minute), testSecret), http.StatusUnauthorized},
		{"from the future", request("/slack/commands", body, testNow.Add(6*time.Minute), testSecret), http.StatusUnauthorized},
		{"body altered", func() *http.Request {
			r := request("/slack/commands", body, testNow, testSecret)
			r2 := request("/slack/commands", body+"&x=1", time.Time{}, "")
			r2.Header = r.Header
			return r2
		}(), http.StatusUnauthorized},
		{"interactivity unsigned", request("/slack/interactivity", interactionBody(`{"type":"block_actions"}`), time.Time{}, ""), http.StatusUnauthorized},
		{"too large", request("/slack/commands", body+"&pad="+strings.Repeat("a", maxBodyBytes), testNow, testSecret), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bot := &fakeBot{}
			w := serve(newHandler(t, bot, Inbound{}), tt.req)
			if w.Code != tt.want {
				t.Fatalf("status = %d, want %d", w.Code, tt.want)
			}
			if wantCalls := map[bool]int{true: 1, false: 0}[tt.want == http.StatusOK]; bot.calls() != wantCalls {
				t.Errorf("bot called %d times, want %d", bot.calls(), wantCalls)
			}
		})
	}
}

func TestSlackDocumentedExampleWithInjectedClock(t *testing.T) {
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	bot := &fakeBot{}
	chat, _ := newChat(t)
	h, err := NewHandler(Inbound{Bot: bot, Chat: chat, Log: quietLog()}, testSecret, func() time.Time { return time.Unix(1531420618+30, 0) })
	if err != nil {
		t.Fatal(err)
	}
	r := request("/slack/commands", body, time.Time{}, "")
	r.Header.Set("X-Slack-Request-Timestamp", "1531420618")
	r.Header.Set("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	if w := serve(h, r); w.Code != http.StatusOK || bot.calls() != 1 {
		t.Fatalf("status %d, bot calls %d", w.Code, bot.calls())
	}
	if c := bot.commands[0]; c.Caller.User.ID != "U2CERLKJA" || c.DeliveryID != "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c" {
		t.Errorf("command = %+v", c)
	}
}

func TestMalformedRequests(t *testing.T) {
	tests := []struct{ name, path, body string }{
		{"bad form encoding", "/slack/commands", "user_id=%zz&command=/appreg"},
		{"command without user", "/slack/commands", "command=%2Fappreg&text=help"},
		{"no payload", "/slack/interactivity", "foo=bar"},
		{"payload not JSON", "/slack/interactivity", interactionBody(`{"type":`)},
		{"payload wrong shape", "/slack/interactivity", interactionBody(`{"type":"block_actions","actions":"nope"}`)},
		{"bad form in interactivity", "/slack/interactivity", "payload=%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bot := &fakeBot{}
			w := serve(newHandler(t, bot, Inbound{}), request(tt.path, tt.body, testNow, testSecret))
			if w.Code != http.StatusBadRequest || bot.calls() != 0 {
				t.Errorf("status %d, bot calls %d; want 400 and none", w.Code, bot.calls())
			}
		})
	}
}

func TestCommandRepliesEphemeral(t *testing.T) {
	bot := &fakeBot{reply: appreg.Reply{Message: appreg.Message{Text: appreg.T("Started ", appreg.Bold("contoso")), Buttons: []appreg.Button{{ActionID: "cancel", Label: "Cancel", Value: "c1"}}}}}
	var acks []string
	h := newHandler(t, bot, Inbound{OnAck: func(endpoint string, d time.Duration) { acks = append(acks, endpoint) }})

	w := serve(h, request("/slack/commands", commandBody("new contoso.onmicrosoft.com"), testNow, testSecret))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	want := appreg.Command{
		Caller:     appreg.Caller{Platform: "slack", User: appreg.User{ID: "U1", Name: "ann"}, Channel: "C1"},
		Text:       "new contoso.onmicrosoft.com",
		DeliveryID: "trig-1",
	}
	if len(bot.commands) != 1 || bot.commands[0] != want {
		t.Errorf("command = %+v, want %+v", bot.commands, want)
	}
	var got struct {
		ResponseType string            `json:"response_type"`
		Text         string            `json:"text"`
		Blocks       []slackfake.Block `json:"blocks"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if got.ResponseType != "ephemeral" || got.Text != "Started contoso" || len(got.Blocks) != 2 || got.Blocks[1].Elements[0].ActionID != "cancel" {
		t.Errorf("response = %+v", got)
	}
	if strings.Join(acks, ",") != EndpointCommands {
		t.Errorf("acks observed = %v", acks)
	}

	bot.reply = appreg.Reply{}
	if w := serve(h, request("/slack/commands", commandBody("help"), testNow, testSecret)); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("empty reply: status %d body %q; want 200 and no body", w.Code, w.Body)
	}
}

const blockActionsPayload = `{
  "type": "block_actions",
  "trigger_id": "trig-2",
  "user": {"id": "U1", "name": "ann"},
  "channel": {"id": "C1", "name": "onboarding"},
  "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C1", "thread_ts": "1700000000.000050"},
  "message": {"ts": "1700000000.000100", "text": "status"},
  "actions": [{"type": "button", "action_id": "new_code", "block_id": "b", "value": "conv-1", "action_ts": "1"}]
}`

func TestBlockActionsDeliverAction(t *testing.T) {
	bot := &fakeBot{}
	w := serve(newHandler(t, bot, Inbound{}), request("/slack/interactivity", interactionBody(blockActionsPayload), testNow, testSecret))
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("status %d body %q", w.Code, w.Body)
	}
	want := appreg.Action{
		Caller:     appreg.Caller{Platform: "slack", User: appreg.User{ID: "U1", Name: "ann"}, Channel: "C1"},
		ActionID:   "new_code",
		Value:      "conv-1",
		DeliveryID: "trig-2new_code",
		Message:    appreg.MessageRef{Platform: "slack", Channel: "C1", ID: "1700000000.000100", Thread: "1700000000.000050"},
	}
	bot.waitCalls(t, 1)
	if len(bot.actions) != 1 || bot.actions[0] != want {
		t.Errorf("actions = %+v, want %+v", bot.actions, want)
	}
}

func TestFailedClickIsShownToClicker(t *testing.T) {
	chat, fake := newChat(t)
	bot := &fakeBot{actErr: appreg.Errorf(appreg.KindConflict, "Someone else already answered.")}
	w := serve(newHandler(t, bot, Inbound{Chat: chat}), request("/slack/interactivity", interactionBody(blockActionsPayload), testNow, testSecret))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	c, err := fake.WaitFor(testCtx(t), "chat.postEphemeral", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Param("user") != "U1" || c.Param("channel") != "C1" || c.Param("thread_ts") != "1700000000.000050" ||
		!strings.Contains(c.Text, "Someone else already answered.") {
		t.Errorf("ephemeral = %+v", c)
	}
}

const viewSubmissionPayload = `{
  "type": "view_submission",
  "trigger_id": "trig-3",
  "user": {"id": "U1", "name": "ann"},
  "view": {
    "id": "V1", "type": "modal", "callback_id": "name", "private_metadata": "conv-1",
    "blocks": [
      {"type": "input", "block_id": "name", "label": {"type": "plain_text", "text": "Name"}, "element": {"type": "plain_text_input", "action_id": "value"}},
      {"type": "input", "block_id": "alias", "label": {"type": "plain_text", "text": "Alias"}, "element": {"type": "plain_text_input", "action_id": "value"}}
    ],
    "state": {"values": {
      "name": {"value": {"type": "plain_text_input", "value": "contoso sbc"}},
      "alias": {"value": {"type": "plain_text_input", "value": "c"}}
    }}
  }
}`

func TestViewSubmission(t *testing.T) {
	type response struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
	}
	tests := []struct {
		name string
		bot  *fakeBot
		want *response // nil: empty 200
	}{
		{"accepted", &fakeBot{}, nil},
		{"input errors", &fakeBot{formErrs: map[string]string{"name": "The name may not contain blanks."}},
			&response{"errors", map[string]string{"name": "The name may not contain blanks."}}},
		{"failure shown under the first input", &fakeBot{submitErr: appreg.Errorf(appreg.KindConflict, "This conversation has moved on.")},
			&response{"errors", map[string]string{"name": "This conversation has moved on."}}},
		{"foreign error text hidden", &fakeBot{submitErr: context.DeadlineExceeded},
			&response{"errors", map[string]string{"name": appreg.ErrorMessage(context.DeadlineExceeded)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(newHandler(t, tt.bot, Inbound{}), request("/slack/interactivity", interactionBody(viewSubmissionPayload), testNow, testSecret))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			wantSub := appreg.Submission{
				Caller: appreg.Caller{Platform: "slack", User: appreg.User{ID: "U1", Name: "ann"}},
				FormID: "name", Conversation: "conv-1",
				Values: map[string]string{"name": "contoso sbc", "alias": "c"},
			}
			if s := tt.bot.submission; len(s) != 1 || s[0].FormID != wantSub.FormID || s[0].Conversation != wantSub.Conversation ||
				s[0].Caller != wantSub.Caller || len(s[0].Values) != 2 || s[0].Values["name"] != "contoso sbc" {
				t.Errorf("submission = %+v", s)
			}
			if tt.want == nil {
				if w.Body.Len() != 0 {
					t.Errorf("body = %q, want empty", w.Body)
				}
				return
			}
			var got response
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if got.ResponseAction != tt.want.ResponseAction || len(got.Errors) != len(tt.want.Errors) || got.Errors["name"] != tt.want.Errors["name"] {
				t.Errorf("response = %+v, want %+v", got, *tt.want)
			}
		})
	}
}

func TestUnknownInteractionAndRoutes(t *testing.T) {
	bot := &fakeBot{}
	h := newHandler(t, bot, Inbound{})
	if w := serve(h, request("/slack/interactivity", interactionBody(`{"type":"shortcut","user":{"id":"U1"}}`), testNow, testSecret)); w.Code != http.StatusOK || w.Body.Len() != 0 || bot.calls() != 0 {
		t.Errorf("shortcut: status %d body %q calls %d", w.Code, w.Body, bot.calls())
	}
	if w := serve(h, httptest.NewRequest(http.MethodGet, "/slack/commands", nil)); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", w.Code)
	}
	if w := serve(h, httptest.NewRequest(http.MethodPost, "/slack/other", nil)); w.Code != http.StatusNotFound {
		t.Errorf("other path: status %d", w.Code)
	}
	chat, _ := newChat(t)
	if _, err := NewHandler(Inbound{Bot: bot, Chat: chat}, "", nil); err == nil {
		t.Error("NewHandler without a secret succeeded")
	}
	if _, err := NewHandler(Inbound{}, testSecret, nil); err == nil {
		t.Error("NewHandler without a bot succeeded")
	}
}

// TestPanickingClickIsContained: a click whose handling panics is still
// acknowledged, the clicker is told something went wrong, the panic is
// counted, and the next delivery is handled.
func TestPanickingClickIsContained(t *testing.T) {
	chat, fake := newChat(t)
	bot := &fakeBot{panics: true}
	var panicked atomic.Int32
	h := newHandler(t, bot, Inbound{Chat: chat, OnPanic: func() { panicked.Add(1) }})
	if w := serve(h, request("/slack/interactivity", interactionBody(blockActionsPayload), testNow, testSecret)); w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	c, err := fake.WaitFor(testCtx(t), "chat.postEphemeral", nil)
	if err != nil || c.Param("user") != "U1" || !strings.Contains(c.Text, "Something went wrong") {
		t.Fatalf("clicker told %+v, %v", c, err)
	}
	if panicked.Load() != 1 {
		t.Errorf("%d panics counted", panicked.Load())
	}
	bot.mu.Lock()
	bot.panics = false
	bot.mu.Unlock()
	if w := serve(h, request("/slack/commands", commandBody("help"), testNow, testSecret)); w.Code != http.StatusOK {
		t.Errorf("after the panic: %d", w.Code)
	}
}
