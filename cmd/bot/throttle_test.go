package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/appreg-bot/appreg-bot/internal/simtenant"
	"github.com/appreg-bot/appreg-bot/internal/wizard"
)

// TestGraphThrottledBeyondTheLimit: Graph answers the step that adds the
// secret, or the one that grants consent, with 429 and a Retry-After longer
// than the bot waits. The thread says plainly that Microsoft Graph is busy,
// with a Retry button; once Graph lets the bot through again, Retry goes on
// from where the creation stopped, and the tenant ends with one
// registration and one secret.
func TestGraphThrottledBeyondTheLimit(t *testing.T) {
	tests := []struct {
		step, method, prefix string
	}{
		{"secret", http.MethodPost, "/applications/"},       // …/addPassword
		{"consent", http.MethodPost, "/servicePrincipals/"}, // …/appRoleAssignedTo
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			e := newEnv(t)
			defer func() {
				if t.Failed() {
					t.Log(e.logs.String())
				}
			}()
			m := e.start(nil)
			e.command(m, "U1", "new contoso.onmicrosoft.com")
			e.approveSignIn()
			conv := buttonValue(e.waitCall("chat.postMessage", "What should the registration"), wizard.ActionEnterName)

			e.sim.FailNext(tt.method, tt.prefix, 1, simtenant.Fault{Status: http.StatusTooManyRequests, Code: "TooManyRequests",
				Message: "Too many requests", RetryAfter: "120"})
			if body := e.submitName(m, "U1", conv, "Busy-"+tt.step); strings.Contains(body, "errors") {
				t.Fatalf("submit: %s", body)
			}
			busy := e.waitCall("chat.postMessage", "Microsoft Graph is busy")
			if !strings.Contains(busy.Text, "try again in a minute") || strings.Contains(busy.Text, "TooManyRequests") {
				t.Errorf("busy message: %s", busy.Text)
			}
			retry := buttonValue(busy, wizard.ActionRetry)
			if retry == "" {
				t.Fatalf("no Retry button: %s", busy.Shown())
			}
			// The fault is spent: Graph lets the bot through again.
			e.click(m, "U1", wizard.ActionRetry, retry)
			e.waitCall("chat.postMessage", "Registration Busy-"+tt.step+" created")
			apps := e.sim.Applications(demoTenantID)
			if len(apps) != 1 || len(apps[0].Secrets) != 1 {
				t.Errorf("tenant applications: %+v", apps)
			}
			if n := e.count("chat.postMessage", "Registration Busy-"+tt.step+" created"); n != 1 {
				t.Errorf("%d reports", n)
			}
			if n := e.count("chat.postEphemeral", "Client secret for Busy-"+tt.step); n != 1 {
				t.Errorf("%d secrets shown", n)
			}
		})
	}
}
