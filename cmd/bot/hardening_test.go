package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// command is a Slack user's command as the engine receives it.
func command(user, text string) appreg.Command {
	return appreg.Command{Caller: appreg.Caller{Platform: "slack", User: appreg.User{ID: user}, Channel: "C1"}, Text: text}
}

// TestSlowAndIdleClientsAreCutOff: a client trickling its body, one that
// holds an idle keep-alive connection, and one whose signature headers are
// stale are dealt with within seconds, without the body being waited for.
func TestSlowAndIdleClientsAreCutOff(t *testing.T) {
	e := newEnv(t)
	m := e.startWith(nil, func(m *Main) {
		m.limits = HTTPLimits{ReadHeader: time.Second, Read: time.Second, Write: 2 * time.Second, Idle: 500 * time.Millisecond, MaxHeaderBytes: 8 << 10}
	})
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", m.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	closedWithin := func(c net.Conn, limit time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		c.SetReadDeadline(start.Add(limit))
		_, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the connection was still open after %s", limit)
		}
		return time.Since(start)
	}

	t.Run("body trickled a byte a second", func(t *testing.T) {
		c := dial()
		ts := fmt.Sprint(time.Now().Unix())
		fmt.Fprintf(c, "POST /slack/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\nX-Slack-Request-Timestamp: %s\r\nX-Slack-Signature: v0=00\r\n\r\n", ts)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
					if _, err := c.Write([]byte("a")); err != nil {
						return
					}
				}
			}
		}()
		if d := closedWithin(c, 5*time.Second); d > 3*time.Second {
			t.Errorf("cut off after %s", d)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		if d := closedWithin(c, 5*time.Second); d > 2*time.Second {
			t.Errorf("idle connection closed after %s", d)
		}
	})
	t.Run("stale signature refused before the body", func(t *testing.T) {
		c := dial()
		old := fmt.Sprint(time.Now().Add(-time.Hour).Unix())
		fmt.Fprintf(c, "POST /slack/commands HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nX-Slack-Request-Timestamp: %s\r\nX-Slack-Signature: v0=00\r\n\r\n", old)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer without the body: %v", err)
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("huge header", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 64<<10))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("huge header: %v, %v", resp, err)
		}
	})
}

// TestMetricsCannotBeFlooded: a stranger's 10,000 made-up commands add no
// series to the metrics; an operator's unknown command counts as unknown.
func TestMetricsCannotBeFlooded(t *testing.T) {
	e := newEnv(t)
	m := e.start(map[string]string{"BOT_OPERATORS": "U1"})
	metrics := func() string {
		t.Helper()
		resp, err := http.Get("http://" + m.OpsAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	before := len(metrics())
	for i := range 10_000 {
		m.wizard.Command(e.ctx, command("U_STRANGER", fmt.Sprintf("cmd%05d", i)))
	}
	after := metrics()
	if strings.Contains(after, "cmd0") || len(after) > before+2000 {
		t.Errorf("metrics grew from %d to %d bytes", before, len(after))
	}
	e.command(m, "U1", "frobnicate")
	if got := metrics(); !strings.Contains(got, `appreg_commands_total{command="unknown"} 1`) {
		t.Errorf("an operator's unknown command is not counted as unknown")
	}
}

// TestOpsEndpointsOnTheirOwnListener: with BOT_OPS_ADDR the operational
// endpoints move off the chat platforms' listener.
func TestOpsEndpointsOnTheirOwnListener(t *testing.T) {
	e := newEnv(t)
	m := e.start(map[string]string{"BOT_OPS_ADDR": "127.0.0.1:0"})
	for addr, want := range map[string]int{m.OpsAddr(): 200, m.Addr(): 404} {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("/metrics on %s: %d, want %d", addr, resp.StatusCode, want)
		}
	}
}

// TestConfiguredSecretsNeverLogged: the tokens and passwords of the
// configuration are masked wherever a log line holds them.
func TestConfiguredSecretsNeverLogged(t *testing.T) {
	e := newEnv(t)
	m := e.start(map[string]string{"BOT_ADMIN_TOKEN": "admin-token-0123456789"})
	for _, s := range []string{"xoxb-test", signingSecret, "admin-token-0123456789"} {
		m.log.Warn("tried " + s)
		m.log.Info("x", "detail", "value "+s)
		if strings.Contains(e.logs.String(), s) {
			t.Errorf("%q reached the log", s)
		}
	}
}
