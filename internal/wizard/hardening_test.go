package wizard

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/fakes"
)

// TestStateCountsCostOneRedisCall: the metrics' live conversations by state
// cost one Redis call however many conversations there are, and follow
// every transition.
func TestStateCountsCostOneRedisCall(t *testing.T) {
	h := newHarness(t)
	for i := range 40 {
		h.w.Command(h.ctx, appreg.Command{Caller: appreg.Caller{Platform: "slack", User: appreg.User{ID: fmt.Sprint("U", i)}, Channel: "C1"},
			Text: "new contoso.onmicrosoft.com"})
	}
	for waiting := 0; waiting < 40; {
		waiting = 0
		live, _ := h.store.LiveConversations(h.ctx)
		for _, id := range live {
			if c, err := h.store.Conversation(h.ctx, id); err == nil && c.State == appreg.StateAwaitingSignIn {
				waiting++
			}
		}
		if h.ctx.Err() != nil {
			t.Fatalf("%d of 40 waiting for a sign-in", waiting)
		}
	}
	h.w.Close() // no job moves anything while the count is read
	before := h.mr.CommandCount()
	counts, err := h.w.CountByState(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if calls := h.mr.CommandCount() - before; calls != 1 {
		t.Errorf("%d Redis calls for the counts", calls)
	}
	live, _ := h.store.LiveConversations(h.ctx)
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != len(live) || counts[appreg.StateAwaitingSignIn] != 40 {
		t.Errorf("counts %v, %d live", counts, len(live))
	}
}

// panicCount counts the panics the engine recovers.
type panicCount struct {
	nopObserver
	n atomic.Int32
}

func (p *panicCount) Panic() { p.n.Add(1) }

// TestPanicInAJobEndsItsConversation: a panic inside a job (here in the
// tenant adapter, creating the registration) neither takes the process
// down nor leaves the conversation hanging: it ends with a message, is
// counted, and the engine goes on with the next conversation.
func TestPanicInAJobEndsItsConversation(t *testing.T) {
	h := newHarness(t)
	obs := &panicCount{}
	h.w.obs = obs
	var once sync.Once
	h.tenant.Hook("CreateApplication", func() { once.Do(func() { panic("injected") }) })
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	if errs := h.submitName("Voice1"); len(errs) != 0 {
		t.Fatal(errs)
	}
	c := h.waitState(appreg.StateFailed)
	if !strings.Contains(c.Reason.String(), "Something went wrong inside the bot") {
		t.Fatalf("reason %q", c.Reason.String())
	}
	h.wait(fakes.Containing("post", "was stopped rather than go on half-done"))
	if obs.n.Load() != 1 {
		t.Errorf("%d panics counted", obs.n.Load())
	}
	if !strings.Contains(h.logs.String(), `"msg":"recovered from a panic"`) || !strings.Contains(h.logs.String(), `"conversation":"`+c.ID+`"`) {
		t.Errorf("the panic is not logged with its conversation")
	}
	// The engine goes on.
	h.onboard()
}

// TestSecretDeliveryConfirmed: the secret's private message asks to say
// it was stored; saying so ends the wait, and is audited.
func TestSecretDeliveryConfirmed(t *testing.T) {
	h := newHarness(t)
	h.onboard()
	secret := h.wait(fakes.Containing("private", "Client secret"))
	if len(secret.Message.Buttons) != 1 || secret.Message.Buttons[0].ActionID != ActionStored {
		t.Fatalf("buttons %+v", secret.Message.Buttons)
	}
	h.act(h.caller(requester), ActionStored, secret.Message.Buttons[0].Value)
	h.wait(fakes.Containing("private", "Noted: the secret for service sbc1 of Voice1 is stored."))
	later := time.Now().Add(3 * time.Hour)
	h.w.now = func() time.Time { return later }
	h.w.Sweep(h.ctx)
	for _, s := range h.chat.Said() {
		if strings.Contains(s.Text(), "Nobody confirmed storing") {
			t.Fatalf("a confirmed secret was reported: %s", s.Text())
		}
	}
	if audit := h.command(requester, "audit Voice1").Text; !strings.Contains(audit, "secret.confirm") {
		t.Errorf("audit: %s", audit)
	}
}

// TestUnconfirmedSecretIsReplacedOnOneClick: nobody says the secret was
// stored; past the wait the thread and the person hear so, and one click
// replaces it: a new secret, shown privately, and the unconfirmed one gone
// from the tenant. The old text is never shown again.
func TestUnconfirmedSecretIsReplacedOnOneClick(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ConfirmTTL = time.Hour })
	reg := h.onboard()
	old := reg.SecretFor("sbc1").KeyID
	first := h.wait(fakes.Containing("private", "Client secret"))
	later := time.Now().Add(2 * time.Hour)
	h.w.now = func() time.Time { return later }
	h.w.Sweep(h.ctx)
	report := h.wait(fakes.Containing("post", "Nobody confirmed storing the client secret for service sbc1 of Voice1"))
	h.wait(func(s fakes.Said) bool {
		return s.Kind == "direct" && s.User == requester && strings.Contains(s.Text(), "Nobody confirmed")
	})
	h.w.Sweep(h.ctx) // reported once
	n := 0
	for _, s := range h.chat.Said() {
		if s.Kind == "post" && strings.Contains(s.Text(), "Nobody confirmed") {
			n++
		}
	}
	if n != 1 || report.Message.Buttons[0].ActionID != ActionReplace {
		t.Fatalf("%d reports, buttons %+v", n, report.Message.Buttons)
	}

	h.act(h.caller(requester), ActionReplace, report.Message.Buttons[0].Value)
	h.approveNext(2)
	h.waitState(appreg.StateDone)
	h.wait(fakes.Containing("post", "The old secret of service sbc1 was removed"))
	secrets := h.tenant.Secrets(reg.AppID)
	if len(secrets) != 1 || secrets[0] == old {
		t.Fatalf("secrets in the tenant: %v (old %s)", secrets, old)
	}
	rec := h.record("Voice1")
	if sec := rec.SecretFor("sbc1"); sec == nil || sec.KeyID == old {
		t.Fatalf("record %+v", rec.Secrets)
	}
	// The new secret was shown once, with its own confirmation; the old
	// text never again.
	shown := 0
	oldText := strings.TrimPrefix(first.Text()[strings.Index(first.Text(), "Secret: "):], "Secret: ")
	oldText = oldText[:strings.Index(oldText, "\n")]
	for _, s := range h.chat.Said() {
		if s.Kind == "private" && strings.Contains(s.Text(), "Client secret") {
			shown++
		}
		if s.Ref != first.Ref && strings.Contains(s.Text(), oldText) {
			t.Errorf("the old secret's text shown again in a %s", s.Kind)
		}
	}
	if shown != 2 {
		t.Errorf("%d secret messages", shown)
	}
}
