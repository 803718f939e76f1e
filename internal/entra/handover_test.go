package entra_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/entra"
	"github.com/appreg-bot/appreg-bot/internal/simtenant"
)

// beginHandedOver begins a sign-in on one replica and returns its code and
// handover bytes.
func (f *fixture) beginHandedOver(t *testing.T) (appreg.DeviceCode, []byte) {
	t.Helper()
	si, err := f.tenant.BeginSignIn(context.Background(), domain, appreg.PurposeApps)
	f.check(t, "BeginSignIn", err)
	h, ok := si.(appreg.HandingOver)
	if !ok {
		t.Fatal("an entra sign-in cannot be handed over")
	}
	data, err := h.Handover()
	f.check(t, "Handover", err)
	return si.Code(), data
}

// TestResumeSignIn: another replica goes on polling the device code handed
// over, without asking Entra ID for a new one, and gets the session when the
// admin signs in; a decline there is a decline.
func TestResumeSignIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, simtenant.Options{})
	ctx := context.Background()
	code, data := f.beginHandedOver(t)

	resumed, err := f.newTenant(t).ResumeSignIn(ctx, domain, data)
	f.check(t, "ResumeSignIn", err)
	if got := resumed.Code(); got.UserCode != code.UserCode || got.ExpiresAt.Sub(code.ExpiresAt).Abs() > 2*time.Second {
		t.Errorf("resumed code %+v, want %+v", got, code)
	}
	if n := len(f.sim.PendingCodes()); n != 1 {
		t.Fatalf("%d codes pending: the resumed sign-in asked for a new code", n)
	}
	if err := f.sim.Approve(code.UserCode, appAdmin); err != nil {
		t.Fatal(err)
	}
	sess, err := resumed.Wait(ctx)
	f.check(t, "Wait", err)
	if id := sess.Identity(); id.Account != appAdmin || id.TenantID != tenantID {
		t.Errorf("identity %+v", id)
	}
	_, err = sess.FindApplication(ctx, "nothing-here")
	f.check(t, "a Graph call with the resumed session", err)

	code2, data2 := f.beginHandedOver(t)
	resumed2, err := f.newTenant(t).ResumeSignIn(ctx, domain, data2)
	f.check(t, "ResumeSignIn", err)
	if err := f.sim.Decline(code2.UserCode); err != nil {
		t.Fatal(err)
	}
	var se *appreg.SignInError
	if _, err := resumed2.Wait(ctx); !errors.As(err, &se) || se.Failure != appreg.SignInDeclined {
		t.Errorf("declined after the handover: %v", err)
	}

	var h map[string]any
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	if dc, _ := h["device_code"].(string); dc == "" || strings.Contains(f.logs.String(), dc) {
		t.Error("the device code is missing from the handover, or was logged")
	}
}

// TestResumeSignInRefused: a handover that cannot be used asks for a new
// code (KindNotFound), without a request to Entra ID.
func TestResumeSignInRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, simtenant.Options{})
	_, data := f.beginHandedOver(t)
	later, err := entra.New(entra.Config{ClientID: f.sim.ClientID(), AuthorityHost: f.sim.URL(), GraphEndpoint: f.sim.URL(),
		HTTPClient: f.sim.Client(), Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		tenant *entra.Tenant
		for_   string
		data   []byte
	}{
		{"garbage", f.tenant, domain, []byte("not json")},
		{"another tenant", f.tenant, "fabrikam.example", data},
		{"expired code", later, domain, data},
	}
	for _, tt := range tests {
		if _, err := tt.tenant.ResumeSignIn(context.Background(), tt.for_, tt.data); appreg.ErrorKind(err) != appreg.KindNotFound {
			t.Errorf("%s: %v, want KindNotFound", tt.name, err)
		}
	}
}

// TestGraphThrottlingBeyondTheLimit: a Retry-After longer than the bot
// waits fails at once, with a plain message and the wait Graph asked for.
func TestGraphThrottlingBeyondTheLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, simtenant.Options{})
	sess := f.signIn(t, ga)
	f.sim.FailNext("GET", "/applications", 1, simtenant.Fault{Status: 429, Code: "TooManyRequests", RetryAfter: "120"})
	start := time.Now()
	_, err := sess.FindApplication(context.Background(), "Contoso-DR")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("gave up after %s", took)
	}
	wait, ok := appreg.RetryAfter(err)
	if appreg.ErrorKind(err) != appreg.KindUnavailable || !ok || wait != 120*time.Second ||
		!strings.Contains(appreg.ErrorMessage(err), "Microsoft Graph is busy") || strings.Contains(appreg.ErrorMessage(err), "TooManyRequests") {
		t.Errorf("err = %v (message %q, wait %s)", err, appreg.ErrorMessage(err), wait)
	}
	if n := countCalls(f.sim.GraphCalls(), "GET /v1.0/applications"); n > 1 {
		t.Errorf("retried %d times although Graph asked for 120 s", n-1)
	}
}
