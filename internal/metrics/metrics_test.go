package metrics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

func TestMetrics(t *testing.T) {
	m := New(func(context.Context) (map[appreg.State]int, error) {
		return map[appreg.State]int{appreg.StateAwaitingName: 2}, nil
	})
	m.Command("new")
	m.Transition(appreg.StateStarted, appreg.StateAwaitingSignIn)
	m.Error(appreg.KindUnavailable)
	m.Ack("commands", 3*time.Millisecond)
	m.Due(3)
	m.Sent()
	want := `
# HELP appreg_conversations Live conversations, by state.
# TYPE appreg_conversations gauge
appreg_conversations{state="awaiting_approval"} 0
appreg_conversations{state="awaiting_confirm"} 0
appreg_conversations{state="awaiting_name"} 2
appreg_conversations{state="awaiting_sign_in"} 0
appreg_conversations{state="creating"} 0
appreg_conversations{state="expired"} 0
appreg_conversations{state="signed_in"} 0
appreg_conversations{state="started"} 0
# HELP appreg_errors_total Errors, by kind.
# TYPE appreg_errors_total counter
appreg_errors_total{kind="unavailable"} 1
`
	want += `
# HELP appreg_reminders_total Secret-expiry reminders: due (claimed), sent (messages posted), failed (post attempts refused).
# TYPE appreg_reminders_total counter
appreg_reminders_total{event="due"} 3
appreg_reminders_total{event="sent"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "appreg_conversations", "appreg_errors_total", "appreg_reminders_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.ack); n != 1 {
		t.Fatalf("ack series = %d", n)
	}
}
