package wizard

import (
	"fmt"
	"testing"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
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
