package wizard

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

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
