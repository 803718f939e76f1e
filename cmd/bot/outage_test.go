package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/appreg-bot/appreg-bot/internal/redisstore/redistest"
	"github.com/appreg-bot/appreg-bot/internal/wizard"
)

// The tests of this file play a Redis outage, a Sentinel failover and a
// rolling restart in the middle of a conversation. The first two start
// their own redis-server processes (redistest.StartServer and
// StartSentinelSet) and skip when redis-server is not installed; .ci/run
// installs it.

const stateKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// slackAck is Slack's deadline for acknowledging a command or a click.
const slackAck = 3 * time.Second

// readyz returns the status of GET /readyz.
func (e *env) readyz(m *Main) int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.OpsAddr()+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitReady waits until /readyz answers want.
func (e *env) waitReady(m *Main, want int) {
	e.t.Helper()
	for e.readyz(m) != want {
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("/readyz never answered %d", want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// conversation returns the id of the conversation whose status message
// (with its Cancel button) was posted last.
func (e *env) conversation() string {
	e.t.Helper()
	calls := e.slack.Calls("")
	for i := len(calls) - 1; i >= 0; i-- {
		if v := buttonValue(calls[i], wizard.ActionCancel); v != "" {
			return v
		}
	}
	e.t.Fatal("no message with a Cancel button")
	return ""
}

// count returns how many calls of method show part.
func (e *env) count(method, part string) int {
	n := 0
	for _, c := range e.slack.Calls(method) {
		if strings.Contains(c.Text, part) || strings.Contains(c.Shown(), part) {
			n++
		}
	}
	return n
}

// whileDown checks what a person meets while the store is down: a command
// and a click are each answered "try again in a moment" within Slack's
// deadline, and /readyz is unready.
func (e *env) whileDown(m *Main, conv string) {
	e.t.Helper()
	if got := e.readyz(m); got != http.StatusServiceUnavailable {
		e.t.Errorf("/readyz during the outage: %d, want 503", got)
	}
	start := time.Now()
	code, body := e.command(m, "U1", "list")
	if took := time.Since(start); code != http.StatusOK || took > slackAck || !strings.Contains(body, "try again in a moment") {
		e.t.Errorf("command during the outage: %d after %s: %s", code, took, body)
	} else {
		e.t.Logf("command during the outage answered in %s", took.Round(time.Millisecond))
	}
	before := e.count("chat.postEphemeral", "try again in a moment")
	start = time.Now()
	e.click(m, "U1", wizard.ActionCancel, conv)
	for e.count("chat.postEphemeral", "try again in a moment") == before {
		if time.Since(start) > slackAck {
			e.t.Errorf("click during the outage: no 'try again in a moment' within %s", slackAck)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Logf("click during the outage answered in %s", time.Since(start).Round(time.Millisecond))
}

// finishOnboarding submits the name and checks that the tenant holds one
// registration with one secret, reported once.
func (e *env) finishOnboarding(m *Main, conv, name string) {
	e.t.Helper()
	if body := e.submitName(m, "U1", conv, name); strings.Contains(body, "errors") {
		e.t.Fatalf("submit: %s", body)
	}
	e.waitCall("chat.postMessage", "Registration "+name+" created")
	apps := e.sim.Applications(demoTenantID)
	if len(apps) != 1 || apps[0].DisplayName != name || len(apps[0].Secrets) != 1 {
		e.t.Errorf("tenant applications: %+v", apps)
	}
	if n := e.count("chat.postMessage", "Registration "+name+" created"); n != 1 {
		e.t.Errorf("%d reports", n)
	}
	if n := e.count("chat.postEphemeral", "Client secret for "+name); n != 1 {
		e.t.Errorf("%d secrets shown", n)
	}
	if n := e.count("chat.postEphemeral", "Sign-in code"); n != 1 {
		e.t.Errorf("%d sign-in codes shown", n)
	}
	if n := len(e.sim.PendingCodes()); n != 0 {
		e.t.Errorf("%d codes pending", n)
	}
	for _, c := range e.slack.Calls("chat.postMessage") {
		if strings.Contains(c.Text, "storage") || strings.Contains(c.Text, "restarted") || strings.Contains(c.Text, "went wrong") {
			e.t.Errorf("the thread heard: %s", c.Text)
		}
	}
}

// waitingOnRealRedis starts a real redis-server and a bot replica on it,
// and an onboarding that waits for the admin's sign-in.
func waitingOnRealRedis(t *testing.T) (*redistest.Server, *env, *Main, string) {
	t.Helper()
	srv := redistest.StartServer(t)
	e := newEnvOn(t, map[string]string{"REDIS_URL": srv.URL()})
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.logs.String())
		}
	})
	m := e.start(map[string]string{"BOT_STATE_KEY": stateKey})
	e.command(m, "U1", "new contoso.onmicrosoft.com")
	e.waitCall("chat.postEphemeral", "Sign-in code")
	return srv, e, m, e.conversation()
}

// TestRedisOutageMidConversation stops Redis (a real redis-server with its
// append-only file, as a managed Redis keeps its data) for about 10 s while
// the bot waits for the admin's sign-in. During the outage a command and a
// click are told to try again within Slack's deadline, /readyz is unready,
// and the admin signs in; after it the bot notices the sign-in, the
// conversation goes on, and the tenant ends with one registration and one
// secret.
func TestRedisOutageMidConversation(t *testing.T) {
	srv, e, m, conv := waitingOnRealRedis(t)
	e.waitReady(m, http.StatusOK)

	srv.Stop()
	down := time.Now()
	e.whileDown(m, conv)
	e.approveSignIn() // the admin signs in while the store is down
	time.Sleep(time.Until(down.Add(10 * time.Second)))
	srv.Start()
	t.Logf("Redis down for %s", time.Since(down).Round(time.Millisecond))

	ask := e.waitCall("chat.postMessage", "What should the registration")
	e.waitReady(m, http.StatusOK)
	e.finishOnboarding(m, buttonValue(ask, wizard.ActionEnterName), "Voice-Out")
	if n := strings.Count(e.logs.String(), "reminder lease: store unavailable"); n > 1 {
		t.Errorf("the reminder scan logged the outage %d times", n)
	}
}

// TestRedisHungAnswersInTime freezes Redis (it accepts connections and
// never answers, as a host that stopped responding): commands and clicks
// are still answered "try again in a moment" within Slack's deadline, and
// the conversation goes on when Redis does.
func TestRedisHungAnswersInTime(t *testing.T) {
	srv, e, m, conv := waitingOnRealRedis(t)

	srv.Freeze()
	e.whileDown(m, conv)
	srv.Thaw()
	e.approveSignIn()
	ask := e.waitCall("chat.postMessage", "What should the registration")
	e.finishOnboarding(m, buttonValue(ask, wizard.ActionEnterName), "Voice-Hung")
}

// TestSentinelFailoverMidConversation promotes the replica of a Sentinel set
// (SENTINEL FAILOVER) while the bot waits for the admin's sign-in, and runs
// the conversation to its end on the new primary.
func TestSentinelFailoverMidConversation(t *testing.T) {
	set := redistest.StartSentinelSet(t)
	e := newEnvOn(t, set.Target().BotEnv())
	defer func() {
		if t.Failed() {
			t.Log(e.logs.String())
		}
	}()
	m := e.start(map[string]string{"BOT_STATE_KEY": stateKey})
	e.command(m, "U1", "new contoso.onmicrosoft.com")
	e.waitCall("chat.postEphemeral", "Sign-in code")

	start := time.Now()
	set.Failover()
	t.Logf("failover took %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	code, body := e.command(m, "U1", "list")
	if took := time.Since(start); code != http.StatusOK || took > slackAck {
		t.Errorf("command after the failover: %d after %s: %s", code, took, body)
	}
	e.approveSignIn()
	ask := e.waitCall("chat.postMessage", "What should the registration")
	e.waitReady(m, http.StatusOK)
	e.finishOnboarding(m, buttonValue(ask, wizard.ActionEnterName), "Voice-Fail")
}

// TestRollingRestartHandsOverSignIn runs two replicas with a state key and
// stops the one that waits for the admin's sign-in (as on SIGTERM). It
// stops within the bound, handing the sign-in over, sealed; the other
// replica takes it over within seconds, notices the admin's sign-in with
// the first code and asks for the name. The handover is gone once the
// sign-in has ended.
func TestRollingRestartHandsOverSignIn(t *testing.T) {
	mr := miniredis.RunT(t)
	e := newEnvOn(t, map[string]string{"REDIS_URL": "redis://" + mr.Addr()})
	defer func() {
		if t.Failed() {
			t.Log(e.logs.String())
		}
	}()
	key := map[string]string{"BOT_STATE_KEY": stateKey}
	a, b := e.start(key), e.start(key)
	e.command(a, "U1", "new contoso.onmicrosoft.com")
	e.waitCall("chat.postEphemeral", "Sign-in code")
	userCode := e.sim.PendingCodes()[0]

	handovers := mr.Keys()
	var stored string
	for _, k := range handovers {
		if strings.HasSuffix(k, ":signin") {
			stored, _ = mr.Get(k)
		}
	}
	if stored == "" {
		t.Fatalf("no sign-in handover stored: %v", handovers)
	}
	if strings.Contains(stored, userCode) || strings.Contains(stored, "device_code") {
		t.Fatal("the handover is stored in plain text")
	}

	start := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("Close took %s", took)
	}
	// The other replica takes the sign-in over within seconds (not at its
	// next sweep, a minute away), before the admin has signed in.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.logs.String(), "sign-in taken over from another replica") {
		if time.Now().After(deadline) {
			t.Fatal("the other replica did not take the sign-in over within 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("taken over %s after Close", time.Since(start).Round(time.Millisecond))

	if err := e.sim.Approve(userCode, demoAdmin); err != nil {
		t.Fatal(err)
	}
	ask := e.waitCall("chat.postMessage", "What should the registration")
	if n := e.count("chat.postEphemeral", "Sign-in code"); n != 1 || len(e.sim.PendingCodes()) != 0 {
		t.Errorf("%d codes shown, %d pending: a new code was asked for", n, len(e.sim.PendingCodes()))
	}
	for _, k := range mr.Keys() {
		if strings.HasSuffix(k, ":signin") {
			t.Errorf("handover %s left after the sign-in", k)
		}
	}
	e.finishOnboarding(b, buttonValue(ask, wizard.ActionEnterName), "Voice-Roll")
}
