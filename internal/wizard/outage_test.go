package wizard

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/fakes"
	"github.com/appreg-bot/appreg-bot/internal/redisstore"
)

// TestStoreOutageDuringCreation: Redis goes away just as the tenant adds
// the client secret, for longer than the job's lease. The job says nothing
// in the thread, waits for the store, takes its lease again and resumes:
// the secret whose record was lost is removed and replaced, and the
// conversation ends with one registration and one secret.
func TestStoreOutageDuringCreation(t *testing.T) {
	h := newHarness(t)
	// The store on the client the bot uses (bounded retries), so that the
	// outage outlasts them.
	rdb, closeRedis, err := redisstore.Connect(redisstore.Options{URL: "redis://" + h.mr.Addr()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeRedis)
	h.w.Close()
	h.store = redisstore.New(rdb, time.Hour, nil)
	h.w = h.newWizard()
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	down := make(chan struct{})
	h.tenant.Hook("AddSecret", func() {
		select {
		case <-down:
		default:
			close(down)
			h.mr.Close()
		}
	})
	if errs := h.submitName("Voice1"); len(errs) != 0 {
		t.Fatal(errs)
	}
	<-down
	time.Sleep(2 * time.Second) // past the client's retries and the job's lease
	if err := h.mr.Restart(); err != nil {
		t.Fatal(err)
	}
	// go-redis keeps refusing for up to a second after a run of failed
	// dials (its pool retries in the background): the test waits as the
	// engine does.
	if !h.w.storeBack(h.ctx) {
		t.Fatal("the store did not come back")
	}
	h.waitState(appreg.StateDone)
	apps := h.tenant.Applications()
	if len(apps) != 1 || len(h.tenant.Secrets(apps[0].AppID)) != 1 {
		t.Fatalf("applications %+v, secrets %v", apps, h.tenant.Secrets(apps[0].AppID))
	}
	for _, s := range h.chat.Said() {
		if strings.Contains(s.Text(), "storage") || strings.Contains(s.Text(), "went wrong") {
			t.Errorf("the chat heard: %s", s.Text())
		}
	}
	if !strings.Contains(h.logs.String(), "store back; the conversation goes on") {
		t.Error("the job did not wait for the store\n" + h.logs.String())
	}
	h.wait(fakes.Containing("post", "Registration Voice1 created"))
}
