package slackfake

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignMatchesSlackExample(t *testing.T) {
	// https://docs.slack.dev/authentication/verifying-requests-from-slack/
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	h := Sign("8f742231b10e8888abcd99yyyzzz85a5", time.Unix(1531420618, 0), []byte(body))
	if got, want := h.Get("X-Slack-Signature"), "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"; got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}
	if got := h.Get("X-Slack-Request-Timestamp"); got != "1531420618" {
		t.Errorf("timestamp = %s", got)
	}
}

// post sends a form call the way slack-go does and decodes the answer.
func post(t *testing.T, s *Server, method string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(s.URL()+"/"+method, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, out
}

func TestServerRecordsAndAnswers(t *testing.T) {
	s := New("xoxb-good")
	defer s.Close()

	blocks := `[{"type":"section","text":{"type":"mrkdwn","text":"*hi*"}}]`
	_, first := post(t, s, "chat.postMessage", url.Values{"token": {"xoxb-good"}, "channel": {"C1"}, "text": {"hi"}, "blocks": {blocks}})
	_, second := post(t, s, "chat.postMessage", url.Values{"token": {"xoxb-good"}, "channel": {"C1"}, "text": {"again"}, "thread_ts": {"x"}})
	if first["ok"] != true || first["ts"] == "" || !(first["ts"].(string) < second["ts"].(string)) {
		t.Fatalf("answers = %v, %v; want ok with increasing ts", first, second)
	}
	if first["ts"] != "1700000000.000100" {
		t.Errorf("first ts = %v", first["ts"])
	}
	calls := s.Calls("chat.postMessage")
	if len(calls) != 2 || calls[0].Text != "hi" || calls[0].Blocks[0].Text.Text != "*hi*" || calls[1].Param("thread_ts") != "x" {
		t.Fatalf("calls = %+v", calls)
	}
	if _, ok := calls[0].Params["token"]; ok || calls[0].Token != "xoxb-good" {
		t.Errorf("token not moved out of params: %+v", calls[0])
	}

	_, upd := post(t, s, "chat.update", url.Values{"token": {"xoxb-good"}, "channel": {"C1"}, "ts": {first["ts"].(string)}, "text": {"new"}})
	if m, _ := s.Message("C1", first["ts"].(string)); upd["ok"] != true || m.Text != "new" || m.Updates != 1 {
		t.Errorf("update = %v, message = %+v", upd, m)
	}
	if _, a := post(t, s, "chat.update", url.Values{"token": {"xoxb-good"}, "channel": {"C1"}, "ts": {"1.2"}}); a["error"] != "message_not_found" {
		t.Errorf("update of unknown message = %v", a)
	}
	if _, a := post(t, s, "auth.test", url.Values{"token": {"xoxb-bad"}}); a["error"] != "invalid_auth" {
		t.Errorf("bad token = %v", a)
	}

	s.AddUser(User{ID: "U1", Name: "ann", RealName: "Ann Example", DisplayName: "ann.e"})
	s.AddUserGroup("S1", "U1", "U2")
	if _, a := post(t, s, "users.info", url.Values{"token": {"xoxb-good"}, "user": {"U1"}}); a["user"].(map[string]any)["real_name"] != "Ann Example" {
		t.Errorf("users.info = %v", a)
	}
	if _, a := post(t, s, "users.info", url.Values{"token": {"xoxb-good"}, "user": {"U9"}}); a["error"] != "user_not_found" {
		t.Errorf("users.info unknown = %v", a)
	}
	if _, a := post(t, s, "usergroups.users.list", url.Values{"token": {"xoxb-good"}, "usergroup": {"S1"}}); len(a["users"].([]any)) != 2 {
		t.Errorf("usergroups.users.list = %v", a)
	}
}

func TestServerInjectsFailures(t *testing.T) {
	s := New("t")
	defer s.Close()
	s.RateLimit("chat.postMessage", 1, 2)
	s.Fail("chat.postMessage", "channel_not_found", 1)
	form := url.Values{"token": {"t"}, "channel": {"C1"}}

	resp, err := http.Post(s.URL()+"/chat.postMessage", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("first = %d %q, want 429 with Retry-After 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if _, a := post(t, s, "chat.postMessage", form); a["error"] != "channel_not_found" {
		t.Errorf("second = %v", a)
	}
	if _, a := post(t, s, "chat.postMessage", form); a["ok"] != true {
		t.Errorf("third = %v", a)
	}
	var codes []string
	for _, c := range s.Calls("chat.postMessage") {
		codes = append(codes, c.Error)
	}
	if strings.Join(codes, ",") != "ratelimited,channel_not_found," {
		t.Errorf("recorded errors = %q", codes)
	}
}

func TestViewsOpenJSONAndWaitFor(t *testing.T) {
	s := New("t")
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	done := make(chan Call)
	go func() {
		c, err := s.WaitFor(ctx, "views.open", func(c Call) bool { return c.View != nil })
		if err != nil {
			t.Error(err)
		}
		done <- c
	}()
	body := `{"trigger_id":"tr1","view":{"type":"modal","callback_id":"name","blocks":[{"type":"input","block_id":"name","label":{"type":"plain_text","text":"Name"},"element":{"type":"plain_text_input","action_id":"value","max_length":15}}]}}`
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/views.open", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer t")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	c := <-done
	if c.Param("trigger_id") != "tr1" || c.View.CallbackID != "name" || c.View.Blocks[0].Element.MaxLength != 15 || c.Error != "" {
		t.Errorf("call = %+v", c)
	}

	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	if _, err := s.WaitFor(short, "chat.update", nil); err == nil {
		t.Error("WaitFor for a call never made returned no error")
	}
}

func TestLimitPerChannel(t *testing.T) {
	s := New("xoxb-good")
	defer s.Close()
	s.LimitPerChannel("chat.postMessage", 1, 2)
	postTo := func(channel string) int {
		code, _ := post(t, s, "chat.postMessage", url.Values{"token": {"xoxb-good"}, "channel": {channel}, "text": {"hi"}})
		return code
	}
	// The burst of 2 passes in each channel; the third call in C1 is refused
	// with a Retry-After; another channel has its own bucket.
	for i, want := range []int{200, 200, 429} {
		if got := postTo("C1"); got != want {
			t.Fatalf("call %d in C1: status %d, want %d", i+1, got, want)
		}
	}
	if got := postTo("C2"); got != 200 {
		t.Fatalf("C2: status %d, want 200", got)
	}
	resp, err := http.Post(s.URL()+"/chat.postMessage", "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"token": {"xoxb-good"}, "channel": {"C1"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("rate-limited answer: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	var limited int
	for _, c := range s.Calls("chat.postMessage") {
		if c.Error == "ratelimited" {
			limited++
		}
	}
	if limited != 2 {
		t.Errorf("recorded %d rate-limited calls, want 2", limited)
	}
	if got := len(s.Calls("chat.postMessage")); got != 5 {
		t.Errorf("recorded %d calls, want 5", got)
	}
	// Other methods are not limited; removing the limit lets C1 through.
	s.LimitPerChannel("chat.postMessage", 0, 0)
	if got := postTo("C1"); got != 200 {
		t.Fatalf("after removing the limit: status %d", got)
	}
}
