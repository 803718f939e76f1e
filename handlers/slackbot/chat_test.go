package slackbot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/slackfake"
)

const testToken = "xoxb-test-0123456789"

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newChat returns a Chat driving the real slack-go client against a fake.
func newChat(t *testing.T) (*Chat, *slackfake.Server) {
	t.Helper()
	fake := slackfake.New(testToken)
	t.Cleanup(fake.Close)
	return NewChat(testToken, fake.URL()+"/", quietLog()), fake
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var statusMsg = appreg.Message{
	Text:   appreg.T(appreg.Bold("Onboarding"), " contoso.onmicrosoft.com"),
	Fields: []appreg.Field{{Label: "Tenant", Value: "contoso"}, {Label: "State", Value: "awaiting sign-in"}},
	Buttons: []appreg.Button{
		{ActionID: "cancel", Label: "Cancel", Value: "conv-1", Style: "danger"},
		{ActionID: "new_code", Label: "New code", Value: "conv-1"},
	},
}

func TestPostRendersBlocksAndThread(t *testing.T) {
	chat, fake := newChat(t)
	ctx := testCtx(t)

	ref, err := chat.Post(ctx, appreg.Place{Channel: "C1"}, statusMsg)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Platform != Platform || ref.Channel != "C1" || ref.ID == "" || ref.Thread != ref.ID {
		t.Fatalf("ref = %+v", ref)
	}
	if _, err := chat.Post(ctx, ref.ThreadPlace(), appreg.Message{Text: appreg.T("in thread")}); err != nil {
		t.Fatal(err)
	}

	calls := fake.Calls("chat.postMessage")
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[0]
	if c.Text != "Onboarding contoso.onmicrosoft.com\nTenant: contoso\nState: awaiting sign-in" || c.Param("thread_ts") != "" || c.Token != testToken {
		t.Errorf("first call: text %q thread %q", c.Text, c.Param("thread_ts"))
	}
	if len(c.Blocks) != 3 {
		t.Fatalf("blocks = %+v", c.Blocks)
	}
	if b := c.Blocks[0]; b.Type != "rich_text" || len(b.Elements) != 1 || len(b.Elements[0].Elements) != 2 ||
		b.Elements[0].Elements[0].Text != "Onboarding" || !b.Elements[0].Elements[0].Style.Bold ||
		b.Plain() != "Onboarding contoso.onmicrosoft.com" {
		t.Errorf("text block = %+v", b)
	}
	if b := c.Blocks[1]; b.Type != "section" || len(b.Fields) != 2 || b.Fields[0].Type != "plain_text" || b.Fields[0].Text != "Tenant\ncontoso" {
		t.Errorf("fields block = %+v", b)
	}
	if b := c.Blocks[2]; b.Type != "actions" || len(b.Elements) != 2 ||
		b.Elements[0].ActionID != "cancel" || b.Elements[0].Value != "conv-1" || b.Elements[0].Style != "danger" ||
		b.Elements[0].Text.Text != "Cancel" || b.Elements[1].Style != "" {
		t.Errorf("actions block = %+v", b)
	}
	if got := calls[1].Param("thread_ts"); got != ref.ID {
		t.Errorf("thread_ts = %q, want %q", got, ref.ID)
	}
}

// TestValuesReachSlackAsText: what a person or a tenant typed reaches Slack
// as the characters typed: no mention, broadcast, link or markup comes of
// "<!channel>", "<@U1>", "<https://x|y>", "*bold*" or "&". Only what the
// engine meant (a mention span, a link span) is live.
func TestValuesReachSlackAsText(t *testing.T) {
	hostile := `<!channel> <@U0EVIL> <https://evil.example|Approve here> *bold* _it_ & <#C0EVIL>`
	msg := appreg.Message{
		Text:   appreg.Textf("Reason given: %s, by %s. Open %s", hostile, appreg.Mention(appreg.User{ID: "U0REQ"}), appreg.Link("https://microsoft.com/devicelogin", "")),
		Fields: []appreg.Field{{Label: "Tenant", Value: hostile}},
	}
	chat, fake := newChat(t)
	ctx := testCtx(t)
	ref, err := chat.Post(ctx, appreg.Place{Channel: "C1"}, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := chat.Private(ctx, ref.ThreadPlace(), "U1", msg); err != nil {
		t.Fatal(err)
	}
	if err := chat.Update(ctx, ref, msg); err != nil {
		t.Fatal(err)
	}
	calls := append(fake.Calls("chat.postMessage"), append(fake.Calls("chat.postEphemeral"), fake.Calls("chat.update")...)...)
	for _, c := range calls {
		if live := strings.Join(c.Live(), " "); live != "user:U0REQ link:https://microsoft.com/devicelogin" {
			t.Errorf("%s: live markup %q", c.Method, live)
		}
		if !strings.Contains(c.Shown(), hostile) {
			t.Errorf("%s: shown %q, want the value as typed", c.Method, c.Shown())
		}
		if !strings.Contains(c.Text, "&lt;!channel&gt;") || !strings.Contains(c.Text, "&amp;") {
			t.Errorf("%s: fallback %q not escaped", c.Method, c.Text)
		}
	}
	// Links the engine did not mean are not links: a link span to another
	// scheme, and mentions of ids Slack does not know, are text.
	blocks := renderJSON(t, appreg.Message{Text: appreg.T(appreg.Link("javascript:alert(1)", "x"), " ", appreg.MentionID("29:teams-user"))})
	if got := (slackfake.Call{Blocks: blocks}).Live(); len(got) != 0 {
		t.Errorf("live = %v", got)
	}
}

// TestIconsAreEmoji: every icon of the engine has an emoji of its own.
func TestIconsAreEmoji(t *testing.T) {
	seen := map[string]appreg.Icon{}
	for _, i := range appreg.Icons() {
		name := emoji(i)
		if prev, dup := seen[name]; dup || name == "small_blue_diamond" {
			t.Errorf("icon %s: emoji %q (also %s)", i, name, prev)
		}
		seen[name] = i
	}
}

func TestManyFieldsSplitIntoSectionsOfTen(t *testing.T) {
	var msg appreg.Message
	for i := range 23 {
		msg.Fields = append(msg.Fields, appreg.Field{Label: fmt.Sprint("L", i), Value: "v"})
	}
	var sizes []int
	for _, b := range renderJSON(t, msg) {
		sizes = append(sizes, len(b.Fields))
	}
	if fmt.Sprint(sizes) != "[10 10 3]" {
		t.Errorf("field sections = %v", sizes)
	}
	if got := fallback(msg); !strings.HasPrefix(got, "L0: v\nL1: v") {
		t.Errorf("fallback without text = %q", got)
	}
}

// renderJSON renders msg through a real post and returns the blocks the fake saw.
func renderJSON(t *testing.T, msg appreg.Message) []slackfake.Block {
	chat, fake := newChat(t)
	if _, err := chat.Post(testCtx(t), appreg.Place{Channel: "C1"}, msg); err != nil {
		t.Fatal(err)
	}
	return fake.Calls("chat.postMessage")[0].Blocks
}

func TestPostPrivateAndUpdate(t *testing.T) {
	chat, fake := newChat(t)
	ctx := testCtx(t)

	ref, err := chat.Post(ctx, appreg.Place{Channel: "C1"}, statusMsg)
	if err != nil {
		t.Fatal(err)
	}
	if err := chat.Private(ctx, ref.ThreadPlace(), "U1", appreg.Message{Text: appreg.T("only you")}); err != nil {
		t.Fatal(err)
	}
	eph := fake.Calls("chat.postEphemeral")
	if len(eph) != 1 || eph[0].Param("user") != "U1" || eph[0].Param("thread_ts") != ref.ID || eph[0].Text != "only you" {
		t.Errorf("ephemeral calls = %+v", eph)
	}
	if err := chat.Direct(ctx, Platform, "U2", appreg.Message{Text: appreg.T("just you")}); err != nil {
		t.Fatal(err)
	}
	if dm := fake.Calls("chat.postMessage"); len(dm) != 2 || dm[1].Param("channel") != "U2" || dm[1].Param("thread_ts") != "" {
		t.Errorf("direct message = %+v", dm)
	}

	done := appreg.Message{Text: appreg.T("Done")}
	if err := chat.Update(ctx, ref, done); err != nil {
		t.Fatal(err)
	}
	m, _ := fake.Message("C1", ref.ID)
	if m.Text != "Done" || len(m.Blocks) != 1 || m.Updates != 1 {
		t.Errorf("updated message = %+v (buttons must be gone)", m)
	}
	err = chat.Update(ctx, appreg.MessageRef{Channel: "C1", ID: "1.000001"}, done)
	if appreg.ErrorKind(err) != appreg.KindNotFound {
		t.Errorf("update of a missing message: kind %s (%v)", appreg.ErrorKind(err), err)
	}
}

func TestOpenFormBuildsModal(t *testing.T) {
	chat, fake := newChat(t)
	form := appreg.Form{
		ID: "name", Conversation: "conv-1", Title: "Name the registration", Submit: "Create",
		Inputs: []appreg.FormInput{
			{ID: "name", Label: "Name", Hint: "3 to 15 characters", Placeholder: "contoso-sbc", MaxLength: 15},
			{ID: "note", Label: "Note"},
		},
	}
	if err := chat.openForm(testCtx(t), "trig-1", form); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls("views.open")
	if len(calls) != 1 || calls[0].Param("trigger_id") != "trig-1" || calls[0].View == nil {
		t.Fatalf("views.open calls = %+v", calls)
	}
	v := calls[0].View
	if v.Type != "modal" || v.CallbackID != "name" || v.PrivateMetadata != "conv-1" ||
		v.Title.Text != "Name the registration" || v.Submit.Text != "Create" || len(v.Blocks) != 2 {
		t.Fatalf("view = %+v", v)
	}
	in := v.Blocks[0]
	if in.Type != "input" || in.BlockID != "name" || in.Label.Text != "Name" || in.Hint.Text != "3 to 15 characters" ||
		in.Element.Type != "plain_text_input" || in.Element.ActionID != FormValueActionID ||
		in.Element.MaxLength != 15 || in.Element.Placeholder.Text != "contoso-sbc" {
		t.Errorf("input block = %+v, element %+v", in, in.Element)
	}
	if v.Blocks[1].BlockID != "note" || v.Blocks[1].Hint != nil {
		t.Errorf("second input = %+v", v.Blocks[1])
	}
}

func TestIsOneOf(t *testing.T) {
	chat, fake := newChat(t)
	ctx := testCtx(t)
	fake.AddUserGroup("S1", "U1", "U2")
	tests := []struct {
		user    string
		entries []string
		want    bool
		err     bool
	}{
		{"U1", []string{"U9", "U1"}, true, false},
		{"U2", []string{"S1"}, true, false},
		{"U3", []string{"S1", "U9"}, false, false},
		{"U3", []string{"S404"}, false, true},
		{"U2", []string{"S404", "S1"}, true, false},
		{"U1", []string{"6c1f0c2e-0000-4000-8000-000000000001", "S"}, false, false}, // another platform's ids are ignored
	}
	for _, tt := range tests {
		got, err := chat.IsOneOf(ctx, Platform, tt.user, tt.entries)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("IsOneOf(%s, %v) = %v, %v", tt.user, tt.entries, got, err)
		}
	}
}

func TestPostRetriesAfterRateLimit(t *testing.T) {
	chat, fake := newChat(t)
	fake.RateLimit("chat.postMessage", 1, 1)

	start := time.Now()
	ref, err := chat.Post(testCtx(t), appreg.Place{Channel: "C1"}, appreg.Message{Text: appreg.T("hi")})
	if err != nil {
		t.Fatalf("Post after one 429: %v", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %s, before Retry-After", waited)
	}
	calls := fake.Calls("chat.postMessage")
	if len(calls) != 2 || calls[0].Error != "ratelimited" || calls[1].Error != "" || ref.ID == "" {
		t.Errorf("calls = %+v, ref %+v", calls, ref)
	}
}

func TestErrorKinds(t *testing.T) {
	post := func(c *Chat) error {
		_, err := c.Post(context.Background(), appreg.Place{Channel: "C1"}, appreg.Message{Text: appreg.T("x")})
		return err
	}
	form := func(trigger string) func(c *Chat) error {
		return func(c *Chat) error {
			return c.openForm(context.Background(), trigger, appreg.Form{ID: "f", Inputs: []appreg.FormInput{{ID: "a"}}})
		}
	}
	tests := []struct {
		name   string
		inject func(f *slackfake.Server)
		call   func(c *Chat) error
		want   appreg.Kind
	}{
		{"channel not found", func(f *slackfake.Server) { f.Fail("chat.postMessage", "channel_not_found", 1) }, post, appreg.KindNotFound},
		{"not in channel", func(f *slackfake.Server) { f.Fail("chat.postMessage", "not_in_channel", 1) }, post, appreg.KindForbidden},
		{"server error", func(f *slackfake.Server) { f.FailStatus("chat.postMessage", 503, 1) }, post, appreg.KindUnavailable},
		{"unknown code", func(f *slackfake.Server) { f.Fail("chat.postMessage", "something_new", 1) }, post, appreg.KindInternal},
		{"rate limited too long", func(f *slackfake.Server) { f.RateLimit("chat.postMessage", 1, 120) }, post, appreg.KindUnavailable},
		{"expired trigger", func(f *slackfake.Server) { f.Fail("views.open", "expired_trigger_id", 1) }, form("t1"), appreg.KindInvalid},
		{"invalid trigger", func(f *slackfake.Server) { f.Fail("views.open", "invalid_trigger_id", 1) }, form("t1"), appreg.KindInvalid},
		{"no trigger", func(*slackfake.Server) {}, form(""), appreg.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chat, fake := newChat(t)
			tt.inject(fake)
			err := tt.call(chat)
			if got := appreg.ErrorKind(err); got != tt.want {
				t.Fatalf("kind = %s, want %s (%v)", got, tt.want, err)
			}
			if strings.Contains(err.Error(), testToken) || strings.Contains(appreg.ErrorMessage(err), "slack ") {
				t.Errorf("error leaks detail: %q / %q", err, appreg.ErrorMessage(err))
			}
		})
	}
}

func TestUnreachableSlackIsUnavailable(t *testing.T) {
	fake := slackfake.New(testToken)
	url := fake.URL() + "/"
	fake.Close()
	_, err := NewChat(testToken, url, quietLog()).Post(testCtx(t), appreg.Place{Channel: "C1"}, appreg.Message{Text: appreg.T("x")})
	if appreg.ErrorKind(err) != appreg.KindUnavailable {
		t.Errorf("kind = %s (%v)", appreg.ErrorKind(err), err)
	}
}

func TestRateLimitWaitRespectsContext(t *testing.T) {
	chat, fake := newChat(t)
	fake.RateLimit("chat.postMessage", 1, 20)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := chat.Post(ctx, appreg.Place{Channel: "C1"}, appreg.Message{Text: appreg.T("x")})
	if appreg.ErrorKind(err) != appreg.KindUnavailable || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("err = %v after %s", err, time.Since(start))
	}
}

func TestRedactHidesTokenKeepsChain(t *testing.T) {
	inner := context.Canceled
	err := redact(fmt.Errorf("posting with %s: %w", testToken, inner), testToken)
	if strings.Contains(err.Error(), testToken) || !errors.Is(err, context.Canceled) {
		t.Errorf("redact = %q", err)
	}
}

// TestRateLimitKeepsRetryAfter: a wait too long to sit out comes back at
// once, with Slack's Retry-After in the chain for callers that pace
// themselves.
func TestRateLimitKeepsRetryAfter(t *testing.T) {
	chat, fake := newChat(t)
	fake.RateLimit("chat.postMessage", 1, 120)
	_, err := chat.Post(testCtx(t), appreg.Place{Channel: "C1"}, appreg.Message{Text: appreg.T("hi")})
	var ra interface{ RetryAfter() time.Duration }
	if appreg.ErrorKind(err) != appreg.KindUnavailable || !errors.As(err, &ra) || ra.RetryAfter() != 120*time.Second {
		t.Fatalf("err = %v", err)
	}
}
