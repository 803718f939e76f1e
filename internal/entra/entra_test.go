package entra_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/entra"
	"github.com/appreg-bot/appreg-bot/internal/simtenant"
)

const (
	tenantID = "4f1b6a2e-8d3c-4b7a-9e21-5c6d7e8f9a0b"
	domain   = "contoso.example"
	ga       = "grace@contoso.example" // Global Administrator
	appAdmin = "alex@contoso.example"  // Application Administrator only
	grouped  = "gil@contoso.example"   // Application Administrator through a group
	nobody   = "nora@contoso.example"  // no role
)

// Microsoft Graph's real app role ids.
const (
	orgReadAll   = "498476ce-e0fe-48b0-b801-37ba7e2685c6"
	userReadAll  = "df021288-bdef-4463-88db-98f22de89214"
	groupReadAll = "5b567255-7703-4780-807c-7be8301ae99b"
)

func graphPerms() []appreg.Permission {
	return []appreg.Permission{
		{Resource: entra.GraphAppID, Name: "Organization.Read.All"},
		{Resource: entra.GraphAppID, Name: "User.Read.All"},
		{Resource: entra.GraphAppID, Name: "Group.Read.All"},
	}
}

type fixture struct {
	sim    *simtenant.Server
	tenant *entra.Tenant
	logs   *bytes.Buffer
	errs   []string // error texts seen, checked for leaks
}

func newFixture(t *testing.T, opts simtenant.Options) *fixture {
	t.Helper()
	sim := simtenant.New(opts)
	t.Cleanup(sim.Close)
	sim.AddTenant(simtenant.Tenant{ID: tenantID, DisplayName: "Contoso", Domains: []string{"contoso.onmicrosoft.com", domain}})
	sim.AddGroup(tenantID, "App admins", simtenant.ApplicationAdministrator)
	sim.AddUser(tenantID, simtenant.User{UPN: ga, DisplayName: "Grace Admin", Roles: []string{simtenant.GlobalAdministrator}})
	sim.AddUser(tenantID, simtenant.User{UPN: appAdmin, DisplayName: "Alex App", Roles: []string{simtenant.ApplicationAdministrator}})
	sim.AddUser(tenantID, simtenant.User{UPN: grouped, DisplayName: "Gil Group", Groups: []string{"App admins"}})
	sim.AddUser(tenantID, simtenant.User{UPN: nobody, DisplayName: "Nora User"})
	f := &fixture{sim: sim, logs: &bytes.Buffer{}}
	f.tenant = f.newTenant(t)
	t.Cleanup(func() { f.assertNoLeaks(t) })
	return f
}

func (f *fixture) newTenant(t *testing.T) *entra.Tenant {
	t.Helper()
	tn, err := entra.New(entra.Config{ClientID: f.sim.ClientID(), AuthorityHost: f.sim.URL(), GraphEndpoint: f.sim.URL(),
		HTTPClient: f.sim.Client(), Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// signIn plays the admin: the code is approved before the bot waits. The
// session may do everything the bot does (role changes included).
func (f *fixture) signIn(t *testing.T, upn string) appreg.Session {
	t.Helper()
	return f.signInFor(t, upn, appreg.PurposeRoles)
}

// signInFor signs in for a purpose.
func (f *fixture) signInFor(t *testing.T, upn string, purpose appreg.Purpose) appreg.Session {
	t.Helper()
	ctx := context.Background()
	si, err := f.tenant.BeginSignIn(ctx, domain, purpose)
	if err != nil {
		t.Fatalf("BeginSignIn: %v", err)
	}
	if err := f.sim.Approve(si.Code().UserCode, upn); err != nil {
		t.Fatal(err)
	}
	sess, err := si.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return sess
}

// check fails on err and remembers its text for the leak check.
func (f *fixture) check(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		f.errs = append(f.errs, err.Error())
		t.Fatalf("%s: %v", what, err)
	}
}

// assertNoLeaks checks that no token the stand-in issued and no secret text
// appears in the log or in an error text.
func (f *fixture) assertNoLeaks(t *testing.T, secrets ...string) {
	t.Helper()
	text := f.logs.String() + strings.Join(f.errs, "\n")
	for _, s := range append(f.sim.IssuedTokens(), secrets...) {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("a token or secret leaked into the log or an error: %.12s…", s)
		}
	}
}

func TestOnboardingHappyPath(t *testing.T) {
	f := newFixture(t, simtenant.Options{})
	ctx := context.Background()
	sess := f.signIn(t, ga)

	want := appreg.Identity{Account: ga, DisplayName: "Grace Admin", TenantID: tenantID, TenantName: "Contoso", DefaultDomain: "contoso.onmicrosoft.com",
		Domains: []string{"contoso.onmicrosoft.com", domain}}
	if got := sess.Identity(); !reflect.DeepEqual(got, want) {
		t.Errorf("Identity = %+v, want %+v", got, want)
	}
	roles, err := sess.DirectoryRoles(ctx)
	f.check(t, "DirectoryRoles", err)
	if !slices.Contains(roles, "Global Administrator") {
		t.Errorf("roles = %v, want Global Administrator", roles)
	}
	found, err := sess.FindApplication(ctx, "Contoso'DR")
	f.check(t, "FindApplication", err)
	if found != nil {
		t.Fatalf("FindApplication before creation = %+v", found)
	}
	app, err := sess.CreateApplication(ctx, "conv-1", "Contoso'DR", graphPerms())
	f.check(t, "CreateApplication", err)
	sp, err := sess.EnsureServicePrincipal(ctx, app.AppID)
	f.check(t, "EnsureServicePrincipal", err)
	for _, p := range graphPerms() {
		f.check(t, "GrantConsent "+p.Name, sess.GrantConsent(ctx, sp, p))
	}
	secret, err := sess.AddSecret(ctx, app.ObjectID, "voice-eu", 365*24*time.Hour)
	f.check(t, "AddSecret", err)
	grants, err := sess.SignInAppGrants(ctx)
	f.check(t, "SignInAppGrants", err)

	calls := f.sim.GraphCalls()
	t.Logf("Graph calls for one onboarding: %d\n%s", len(calls), strings.Join(calls, "\n"))
	if len(calls) > 12 {
		t.Errorf("one onboarding made %d Graph calls, want at most 12", len(calls))
	}

	apps := f.sim.Applications(tenantID)
	if len(apps) != 1 || apps[0].DisplayName != "Contoso'DR" || apps[0].UniqueName != "conv-1" {
		t.Fatalf("applications in the tenant = %+v", apps)
	}
	rra := apps[0].RequiredResourceAccess
	if len(rra) != 1 || rra[0].ResourceAppID != entra.GraphAppID || !slices.Equal(rra[0].IDs, []string{orgReadAll, userReadAll, groupReadAll}) {
		t.Errorf("requiredResourceAccess = %+v", rra)
	}
	if n := len(f.sim.Assignments(tenantID)); n != 3 {
		t.Errorf("%d app role assignments, want 3", n)
	}
	if secret.Text == "" || secret.Capped || secret.Expires.Before(time.Now().Add(364*24*time.Hour)) ||
		len(apps[0].Secrets) != 1 || apps[0].Secrets[0].KeyID != secret.KeyID {
		t.Errorf("secret = %+v (key %s), stored %+v", secret.Expires, secret.KeyID, apps[0].Secrets)
	}
	if len(grants) != 1 || grants[0].Resource != "Microsoft Graph" || !slices.Contains(grants[0].Scopes, "Application.ReadWrite.All") {
		t.Errorf("grants = %+v", grants)
	}
	found, err = sess.FindApplication(ctx, "Contoso'DR")
	f.check(t, "FindApplication", err)
	if found == nil || *found != app {
		t.Errorf("FindApplication = %+v, want %+v", found, app)
	}
	for _, c := range f.tenant.CheckCredentials(ctx, tenantID, app.AppID, secret.Text) {
		if !c.OK {
			t.Errorf("credential check %s failed: %s", c.Resource, c.Reason)
		}
	}
	f.assertNoLeaks(t, secret.Text.Reveal())
	if testing.Verbose() {
		t.Log(f.logs.String())
	}
}

func TestSignInFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		opts   simtenant.Options
		admin  func(f *fixture, code string) // what the admin (or Entra) does
		cancel bool
		want   appreg.SignInFailure
		detail string
	}{
		{name: "declined", admin: func(f *fixture, code string) { _ = f.sim.Decline(code) }, want: appreg.SignInDeclined},
		{name: "expired by Entra", admin: func(f *fixture, _ string) { f.sim.ExpireCodes() }, want: appreg.SignInExpired, detail: "AADSTS70020"},
		{name: "expired while polling", opts: simtenant.Options{CodeLifetime: time.Second}, admin: func(*fixture, string) {}, want: appreg.SignInExpired},
		{name: "conditional access", admin: func(f *fixture, code string) {
			f.sim.BlockByConditionalAccess(tenantID, true)
			_ = f.sim.Approve(code, ga)
		}, want: appreg.SignInBlocked, detail: "AADSTS53003: Access has been blocked by Conditional Access policies."},
		{name: "cancelled", admin: func(*fixture, string) {}, cancel: true, want: appreg.SignInCancelled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			si, err := f.tenant.BeginSignIn(ctx, tenantID, appreg.PurposeApps)
			f.check(t, "BeginSignIn", err)
			if c := si.Code(); c.UserCode == "" || !strings.HasPrefix(c.VerificationURL, "https://") || c.ExpiresAt.IsZero() || c.Interval != 5*time.Second {
				t.Errorf("Code() = %+v", c)
			}
			tc.admin(f, si.Code().UserCode)
			if tc.cancel {
				time.AfterFunc(200*time.Millisecond, cancel)
			}
			_, err = si.Wait(ctx)
			var se *appreg.SignInError
			if !errors.As(err, &se) || se.Failure != tc.want || !strings.HasPrefix(se.Detail, tc.detail) {
				t.Fatalf("Wait error = %v, want a %s SignInError with detail %q", err, tc.want, tc.detail)
			}
			f.errs = append(f.errs, err.Error())
		})
	}
}

func TestUnknownTenant(t *testing.T) {
	f := newFixture(t, simtenant.Options{})
	_, err := f.tenant.BeginSignIn(context.Background(), "fabrikam.example", appreg.PurposeApps)
	if appreg.ErrorKind(err) != appreg.KindInvalid {
		t.Fatalf("BeginSignIn(unknown) = %v, want KindInvalid", err)
	}
	f.errs = append(f.errs, err.Error())
}

func TestDirectoryRoles(t *testing.T) {
	f := newFixture(t, simtenant.Options{})
	for upn, want := range map[string]bool{nobody: false, grouped: true, appAdmin: true} {
		roles, err := f.signIn(t, upn).DirectoryRoles(context.Background())
		f.check(t, "DirectoryRoles", err)
		if got := slices.Contains(roles, "Application Administrator"); got != want {
			t.Errorf("%s: roles %v, Application Administrator %v, want %v", upn, roles, got, want)
		}
	}
}

func TestGraphThrottlingIsRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t, simtenant.Options{})
	ctx := context.Background()
	sess := f.signIn(t, ga)
	f.sim.Throttle("GET", "/applications", 1)
	f.sim.Unavailable("PATCH", "/applications(", 1)
	f.sim.Unavailable("POST", "/applications/", 1)
	_, err := sess.FindApplication(ctx, "Contoso-DR")
	f.check(t, "FindApplication after 429", err)
	app, err := sess.CreateApplication(ctx, "conv-1", "Contoso-DR", graphPerms())
	f.check(t, "CreateApplication after 503", err)
	_, err = sess.AddSecret(ctx, app.ObjectID, "voice", 90*24*time.Hour)
	f.check(t, "AddSecret after 503", err)
	if apps := f.sim.Applications(tenantID); len(apps) != 1 || len(apps[0].Secrets) != 1 || len(apps[0].RequiredResourceAccess) != 1 {
		t.Errorf("after retries the tenant holds %+v", apps)
	}

	if n := countCalls(f.sim.GraphCalls(), "PATCH /v1.0/applications(uniqueName='conv-1')"); n != 2 {
		t.Errorf("the upsert was sent %d times, want 2 (one 503, one retry)", n)
	}

	f.sim.Unavailable("GET", "/applications", 10) // more than the client retries
	_, err = sess.FindApplication(ctx, "Contoso-DR")
	if appreg.ErrorKind(err) != appreg.KindUnavailable || strings.Contains(appreg.ErrorMessage(err), "serviceNotAvailable") {
		t.Errorf("FindApplication when Graph stays down = %v (message %q), want KindUnavailable with a plain message", err, appreg.ErrorMessage(err))
	}
}

func countCalls(calls []string, call string) int {
	n := 0
	for _, c := range calls {
		if c == call {
			n++
		}
	}
	return n
}

func TestConsentNeedsPrivilegedRoleForGraph(t *testing.T) {
	f := newFixture(t, simtenant.Options{})
	ctx := context.Background()
	sess := f.signIn(t, appAdmin)
	app, err := sess.CreateApplication(ctx, "conv-1", "Contoso-DR", graphPerms())
	f.check(t, "CreateApplication", err)
	sp, err := sess.EnsureServicePrincipal(ctx, app.AppID)
	f.check(t, "EnsureServicePrincipal", err)
	err = sess.GrantConsent(ctx, sp, graphPerms()[0])
	if appreg.ErrorKind(err) != appreg.KindForbidden || !strings.Contains(appreg.ErrorMessage(err), "Privileged Role Administrator") {
		t.Fatalf("GrantConsent as Application Administrator = %v, want KindForbidden naming a Privileged Role Administrator", err)
	}
	f.errs = append(f.errs, err.Error())
	// Another API's application permission is within an Application Administrator's reach.
	teams := appreg.Permission{Resource: entra.TeamsAdminAPIID, Name: "application_access"}
	f.check(t, "GrantConsent Teams API", sess.GrantConsent(ctx, sp, teams))
	f.check(t, "GrantConsent again", sess.GrantConsent(ctx, sp, teams))
	if as := f.sim.Assignments(tenantID); len(as) != 1 || as[0].Permission != "application_access" {
		t.Errorf("assignments = %+v", as)
	}
}

func TestCreateApplicationIsIdempotent(t *testing.T) {
	f := newFixture(t, simtenant.Options{})
	ctx := context.Background()
	sess := f.signIn(t, grouped)
	first, err := sess.CreateApplication(ctx, "conv-7", "Contoso-DR", graphPerms())
	f.check(t, "CreateApplication", err)
	again, err := sess.CreateApplication(ctx, "conv-7", "Contoso-DR", graphPerms())
	f.check(t, "CreateApplication again", err)
	if first != again || len(f.sim.Applications(tenantID)) != 1 {
		t.Errorf("first %+v, again %+v, tenant holds %d applications", first, again, len(f.sim.Applications(tenantID)))
	}
	sp1, err := sess.EnsureServicePrincipal(ctx, first.AppID)
	f.check(t, "EnsureServicePrincipal", err)
	sp2, err := sess.EnsureServicePrincipal(ctx, first.AppID)
	f.check(t, "EnsureServicePrincipal again", err)
	if sp1 != sp2 || sp1 == "" {
		t.Errorf("service principals %q and %q", sp1, sp2)
	}
	_, err = sess.CreateApplication(ctx, "conv-8", "Contoso-DR", []appreg.Permission{{Resource: entra.GraphAppID, Name: "No.Such.Permission"}})
	if appreg.ErrorKind(err) != appreg.KindInvalid {
		t.Errorf("CreateApplication with an unknown permission = %v, want KindInvalid", err)
	}
}

func TestSecretLifetimePolicy(t *testing.T) {
	cases := []struct {
		name   string
		max    time.Duration
		stated bool
		want   time.Duration
	}{
		{name: "maximum stated", max: 60 * 24 * time.Hour, stated: true, want: 60 * 24 * time.Hour},
		{name: "maximum not stated", max: 60 * 24 * time.Hour, want: 30 * 24 * time.Hour},
		{name: "within policy", max: 400 * 24 * time.Hour, want: 365 * 24 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, simtenant.Options{})
			ctx := context.Background()
			sess := f.signIn(t, ga)
			f.sim.SetSecretMaxLifetime(tenantID, tc.max, tc.stated)
			app, err := sess.CreateApplication(ctx, "conv-1", "Contoso-DR", nil)
			f.check(t, "CreateApplication", err)
			sec, err := sess.AddSecret(ctx, app.ObjectID, "voice", 365*24*time.Hour)
			f.check(t, "AddSecret", err)
			got := time.Until(sec.Expires)
			if got > tc.want || got < tc.want-time.Hour || sec.Capped != (tc.want != 365*24*time.Hour) {
				t.Errorf("secret lasts %v (capped %v), want %v", got, sec.Capped, tc.want)
			}
			if n := len(f.sim.Applications(tenantID)[0].Secrets); n != 1 {
				t.Errorf("%d secrets stored, want 1", n)
			}
			f.check(t, "RemoveSecret", sess.RemoveSecret(ctx, app.ObjectID, sec.KeyID))
			f.check(t, "RemoveSecret again", sess.RemoveSecret(ctx, app.ObjectID, sec.KeyID))
			if n := len(f.sim.Applications(tenantID)[0].Secrets); n != 0 {
				t.Errorf("%d secrets left after removal", n)
			}
			f.assertNoLeaks(t, sec.Text.Reveal())
		})
	}
}

func TestCredentialCheckWaitsForReplication(t *testing.T) {
	f := newFixture(t, simtenant.Options{})
	ctx := context.Background()
	sess := f.signIn(t, ga)
	f.sim.SetReplicationDelay(2)
	app, err := sess.CreateApplication(ctx, "conv-1", "Contoso-DR", graphPerms())
	f.check(t, "CreateApplication", err)
	_, err = sess.EnsureServicePrincipal(ctx, app.AppID)
	f.check(t, "EnsureServicePrincipal", err)
	sec, err := sess.AddSecret(ctx, app.ObjectID, "voice", 90*24*time.Hour)
	f.check(t, "AddSecret", err)

	var reasons []string
	ok := false
	for attempt := 0; attempt < 4 && !ok; attempt++ {
		checks := f.tenant.CheckCredentials(ctx, tenantID, app.AppID, sec.Text)
		ok = checks[0].OK && checks[1].OK
		for _, c := range checks {
			reasons = append(reasons, c.Reason)
		}
	}
	if !ok {
		t.Fatalf("credentials never worked: %q", reasons)
	}
	if !strings.HasPrefix(reasons[0], "AADSTS700016") || !strings.HasPrefix(reasons[2], "AADSTS7000215") {
		t.Errorf("reasons while replicating = %q, want AADSTS700016 then AADSTS7000215", reasons)
	}
	bad := f.tenant.CheckCredentials(ctx, tenantID, app.AppID, "not-the-secret")
	if bad[0].OK || bad[0].Reason != "AADSTS7000215: invalid client secret" {
		t.Errorf("wrong secret: %+v", bad)
	}
	for _, r := range reasons {
		if sec.Text != "" && strings.Contains(r, sec.Text.Reveal()) {
			t.Errorf("reason %q contains the secret", r)
		}
	}
	f.assertNoLeaks(t, sec.Text.Reveal())
}

func TestExportRestore(t *testing.T) {
	// Tokens that expire within MSAL's 5-minute margin make every silent
	// acquisition use the refresh token.
	f := newFixture(t, simtenant.Options{TokenLifetime: time.Minute})
	ctx := context.Background()
	sess := f.signIn(t, ga)
	saved, err := sess.Export()
	f.check(t, "Export", err)

	fresh := f.newTenant(t) // another replica
	restored, err := fresh.Restore(ctx, domain, saved)
	f.check(t, "Restore", err)
	if !reflect.DeepEqual(restored.Identity(), sess.Identity()) {
		t.Errorf("restored identity %+v, want %+v", restored.Identity(), sess.Identity())
	}
	roles, err := restored.DirectoryRoles(ctx)
	f.check(t, "DirectoryRoles after Restore", err)
	if !slices.Contains(roles, "Global Administrator") {
		t.Errorf("roles after restore = %v", roles)
	}
	if n := f.sim.TokenRequests("refresh_token"); n == 0 {
		t.Error("Restore did not use the refresh token")
	}

	for name, tc := range map[string]struct {
		tenant string
		data   []byte
	}{
		"garbage":        {domain, []byte("not json")},
		"another tenant": {"fabrikam.example", saved},
	} {
		if _, err := fresh.Restore(ctx, tc.tenant, tc.data); appreg.ErrorKind(err) != appreg.KindNotFound {
			t.Errorf("Restore %s = %v, want KindNotFound", name, err)
		}
	}
	if strings.Contains(f.logs.String(), string(saved)) {
		t.Error("the exported session was logged")
	}
}

func TestEntraUnreachable(t *testing.T) {
	sim := simtenant.New(simtenant.Options{})
	base, client := sim.URL(), sim.Client()
	sim.Close()
	tn, err := entra.New(entra.Config{ClientID: simtenant.DefaultClientID, AuthorityHost: base, GraphEndpoint: base, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := tn.BeginSignIn(ctx, domain, appreg.PurposeApps); appreg.ErrorKind(err) != appreg.KindUnavailable {
		t.Errorf("BeginSignIn with Entra down = %v, want KindUnavailable", err)
	}
	for _, c := range tn.CheckCredentials(ctx, tenantID, "7d9c1f7e-0000-4000-8000-000000000001", "s3cret") {
		if c.OK || c.Reason != "Microsoft Entra ID could not be reached." {
			t.Errorf("check with Entra down = %+v", c)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, cfg := range []entra.Config{{}, {ClientID: "x", AuthorityHost: "http://login.example"}, {ClientID: "x", GraphEndpoint: "graph"}} {
		if _, err := entra.New(cfg); appreg.ErrorKind(err) != appreg.KindInvalid {
			t.Errorf("New(%+v) = %v, want KindInvalid", cfg, err)
		}
	}
}
