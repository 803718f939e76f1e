package entra_test

import (
	"cmp"
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/entra"
	"github.com/appreg-bot/appreg-bot/internal/simtenant"
)

const pra = "pat@contoso.example" // Privileged Role Administrator

// onboarded is a registration as the wizard leaves it: the profile's
// permissions required and consented, one secret.
type onboarded struct {
	app    appreg.Application
	sp     string
	secret appreg.Secret
}

func (f *fixture) onboard(t *testing.T, sess appreg.Session, key, name string) onboarded {
	t.Helper()
	ctx := context.Background()
	app, err := sess.CreateApplication(ctx, key, name, graphPerms())
	f.check(t, "CreateApplication", err)
	sp, err := sess.EnsureServicePrincipal(ctx, app.AppID)
	f.check(t, "EnsureServicePrincipal", err)
	for _, p := range graphPerms() {
		f.check(t, "GrantConsent "+p.Name, sess.GrantConsent(ctx, sp, p))
	}
	sec, err := sess.AddSecret(ctx, app.ObjectID, "voice-eu", 365*24*time.Hour)
	f.check(t, "AddSecret", err)
	t.Cleanup(func() { f.assertNoLeaks(t, sec.Text.Reveal()) })
	return onboarded{app: app, sp: sp, secret: sec}
}

// sorted returns the permissions in a fixed order, for comparison.
func sorted(ps []appreg.Permission) []appreg.Permission {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b appreg.Permission) int {
		return cmp.Or(strings.Compare(a.Resource, b.Resource), strings.Compare(a.Name, b.Name))
	})
	return out
}

func graph(name string) appreg.Permission {
	return appreg.Permission{Resource: entra.GraphAppID, Name: name}
}

func TestInspect(t *testing.T) {
	t.Parallel()
	profile := sorted(graphPerms())
	cases := []struct {
		name  string
		drift func(t *testing.T, f *fixture, o onboarded) // done behind the bot's back
		check func(t *testing.T, o onboarded, st *appreg.AppState)
	}{
		{name: "fresh", check: func(t *testing.T, o onboarded, st *appreg.AppState) {
			if st == nil {
				t.Fatal("Inspect = nil")
			}
			if st.Application != o.app || st.ServicePrincipal != o.sp || st.ServicePrincipal == "" {
				t.Errorf("application %+v, service principal %q; want %+v, %q", st.Application, st.ServicePrincipal, o.app, o.sp)
			}
			if !reflect.DeepEqual(sorted(st.Required), profile) || !reflect.DeepEqual(sorted(st.Consented), profile) {
				t.Errorf("required %v, consented %v, want %v", st.Required, st.Consented, profile)
			}
			if len(st.Secrets) != 1 || st.Secrets[0].KeyID != o.secret.KeyID || st.Secrets[0].Name != "voice-eu" ||
				!st.Secrets[0].Expires.Equal(o.secret.Expires.Truncate(time.Second)) || st.Secrets[0].Text != "" {
				t.Errorf("secrets = %+v, want %s ending %v, without text", st.Secrets, o.secret.KeyID, o.secret.Expires)
			}
			if len(st.Roles) != 0 {
				t.Errorf("roles = %v, want none", st.Roles)
			}
		}},
		{name: "application deleted", drift: func(t *testing.T, f *fixture, o onboarded) {
			if err := f.sim.DeleteApplication(tenantID, o.app.AppID); err != nil {
				t.Fatal(err)
			}
		}, check: func(t *testing.T, _ onboarded, st *appreg.AppState) {
			if st != nil {
				t.Errorf("Inspect of a deleted application = %+v, want nil", st)
			}
		}},
		{name: "secret removed", drift: func(t *testing.T, f *fixture, o onboarded) {
			if err := f.sim.RemoveSecret(tenantID, o.app.AppID, o.secret.KeyID); err != nil {
				t.Fatal(err)
			}
		}, check: func(t *testing.T, _ onboarded, st *appreg.AppState) {
			if len(st.Secrets) != 0 {
				t.Errorf("secrets = %+v, want none", st.Secrets)
			}
		}},
		{name: "secret added in the portal", drift: func(t *testing.T, f *fixture, o onboarded) {
			if _, err := f.sim.AddSecret(tenantID, o.app.AppID, "portal", 30*24*time.Hour); err != nil {
				t.Fatal(err)
			}
		}, check: func(t *testing.T, o onboarded, st *appreg.AppState) {
			i := slices.IndexFunc(st.Secrets, func(s appreg.Secret) bool { return s.Name == "portal" })
			if len(st.Secrets) != 2 || i < 0 || st.Secrets[i].KeyID == o.secret.KeyID || time.Until(st.Secrets[i].Expires) > 30*24*time.Hour {
				t.Errorf("secrets = %+v, want the bot's and a 30-day \"portal\" one", st.Secrets)
			}
		}},
		{name: "permission added in the portal", drift: func(t *testing.T, f *fixture, o onboarded) {
			if err := f.sim.AddPermission(tenantID, o.app.AppID, entra.GraphAppID, "Directory.Read.All"); err != nil {
				t.Fatal(err)
			}
			if err := f.sim.AddPermission(tenantID, o.app.AppID, entra.TeamsAdminAPIID, "application_access"); err != nil {
				t.Fatal(err)
			}
		}, check: func(t *testing.T, _ onboarded, st *appreg.AppState) {
			want := sorted(append(graphPerms(), graph("Directory.Read.All"), appreg.Permission{Resource: entra.TeamsAdminAPIID, Name: "application_access"}))
			if !reflect.DeepEqual(sorted(st.Required), want) || !reflect.DeepEqual(sorted(st.Consented), want) {
				t.Errorf("required %v, consented %v, want %v", st.Required, st.Consented, want)
			}
		}},
		{name: "role given in the portal", drift: func(t *testing.T, f *fixture, o onboarded) {
			if _, err := f.sim.AssignRole(tenantID, o.sp, simtenant.TeamsAdministrator); err != nil {
				t.Fatal(err)
			}
		}, check: func(t *testing.T, _ onboarded, st *appreg.AppState) {
			if !slices.Equal(st.Roles, []string{"Teams Administrator"}) {
				t.Errorf("roles = %v, want Teams Administrator", st.Roles)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, simtenant.Options{})
			o := f.onboard(t, f.signIn(t, ga), "conv-1", "Contoso-DR")
			if tc.drift != nil {
				tc.drift(t, f, o)
			}
			// A fresh session, as a later check would have: nothing cached.
			sess := f.signIn(t, ga)
			f.sim.ResetCounters()
			st, err := sess.Inspect(context.Background(), o.app.AppID)
			f.check(t, "Inspect", err)
			tc.check(t, o, st)
			calls := f.sim.GraphCalls()
			t.Logf("Inspect: %d Graph calls\n%s", len(calls), strings.Join(calls, "\n"))
			if len(calls) > 6 {
				t.Errorf("Inspect made %d Graph calls, want at most 6:\n%s", len(calls), strings.Join(calls, "\n"))
			}
		})
	}
}

func TestInspectCallsAndInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, simtenant.Options{})
	ctx := context.Background()
	sess := f.signIn(t, ga)
	o := f.onboard(t, sess, "conv-1", "Contoso-DR")
	f.sim.ResetCounters()
	if _, err := sess.Inspect(ctx, o.app.AppID); err != nil {
		t.Fatal(err)
	}
	// The resource APIs are known from the onboarding in this session.
	if calls := f.sim.GraphCalls(); len(calls) != 4 {
		t.Errorf("Inspect in the onboarding's session made %d Graph calls, want 4:\n%s", len(calls), strings.Join(calls, "\n"))
	}
	if _, err := sess.Inspect(ctx, "Contoso-DR"); appreg.ErrorKind(err) != appreg.KindInvalid {
		t.Errorf("Inspect(name) = %v, want KindInvalid", err)
	}
	f.sim.ResetCounters()
	st, err := sess.Inspect(ctx, "0b9d1c4e-7f2a-4e55-9d1b-2c3f4a5b6c7d")
	f.check(t, "Inspect of an unknown application", err)
	if st != nil || len(f.sim.GraphCalls()) != 1 {
		t.Errorf("Inspect of an unknown application = %+v after %d calls, want nil after 1", st, len(f.sim.GraphCalls()))
	}
}

func TestRemovePermission(t *testing.T) {
	t.Parallel()
	f := newFixture(t, simtenant.Options{})
	ctx := context.Background()
	sess := f.signIn(t, appAdmin)
	// An Application Administrator creates the registration; the Graph
	// consents come from a Global Administrator.
	app, err := sess.CreateApplication(ctx, "conv-1", "Contoso-DR", graphPerms())
	f.check(t, "CreateApplication", err)
	sp, err := sess.EnsureServicePrincipal(ctx, app.AppID)
	f.check(t, "EnsureServicePrincipal", err)
	for _, p := range graphPerms() {
		f.check(t, "GrantConsent", f.signIn(t, ga).GrantConsent(ctx, sp, p))
	}
	for _, err := range []error{
		f.sim.AddPermission(tenantID, app.AppID, entra.GraphAppID, "Directory.Read.All"),
		f.sim.AddPermission(tenantID, app.AppID, entra.TeamsAdminAPIID, "application_access"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	st, err := sess.Inspect(ctx, app.AppID)
	f.check(t, "Inspect", err)

	extra := []appreg.Permission{graph("Directory.Read.All"), {Resource: entra.TeamsAdminAPIID, Name: "application_access"}}
	for _, p := range extra {
		f.check(t, "RemovePermission "+p.Name, sess.RemovePermission(ctx, *st, p))
		f.sim.ResetCounters()
		f.check(t, "RemovePermission again "+p.Name, sess.RemovePermission(ctx, *st, p))
		for _, c := range f.sim.GraphCalls() {
			if !strings.HasPrefix(c, "GET ") {
				t.Errorf("removing %s again made a change: %s", p.Name, c)
			}
		}
	}
	after, err := sess.Inspect(ctx, app.AppID)
	f.check(t, "Inspect after removal", err)
	if want := sorted(graphPerms()); !reflect.DeepEqual(sorted(after.Required), want) || !reflect.DeepEqual(sorted(after.Consented), want) {
		t.Errorf("after removal: required %v, consented %v, want %v", after.Required, after.Consented, want)
	}
	// The Teams API's entry went with its only permission; Graph's kept its order.
	rra := f.sim.Applications(tenantID)[0].RequiredResourceAccess
	if len(rra) != 1 || rra[0].ResourceAppID != entra.GraphAppID || !slices.Equal(rra[0].IDs, []string{orgReadAll, userReadAll, groupReadAll}) {
		t.Errorf("requiredResourceAccess = %+v", rra)
	}
	if n := len(f.sim.Assignments(tenantID)); n != 3 {
		t.Errorf("%d app role assignments left, want 3", n)
	}
	if err := sess.RemovePermission(ctx, *st, graph("No.Such.Permission")); appreg.ErrorKind(err) != appreg.KindInvalid {
		t.Errorf("RemovePermission of an unknown permission = %v, want KindInvalid", err)
	}
	if err := f.sim.DeleteApplication(tenantID, app.AppID); err != nil {
		t.Fatal(err)
	}
	f.check(t, "RemovePermission of a deleted registration", sess.RemovePermission(ctx, *st, graphPerms()[0]))
}

func TestRemoveGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, simtenant.Options{})
	ctx := context.Background()
	sess := f.signIn(t, appAdmin)
	grants, err := sess.SignInAppGrants(ctx)
	f.check(t, "SignInAppGrants", err)
	if len(grants) != 1 {
		t.Fatalf("grants = %+v, want 1", grants)
	}
	for _, what := range []string{"RemoveGrant", "RemoveGrant again"} {
		f.sim.ResetCounters()
		f.check(t, what, sess.RemoveGrant(ctx, grants[0].ID))
		if calls := f.sim.GraphCalls(); len(calls) != 1 || !strings.HasPrefix(calls[0], "DELETE /v1.0/oauth2PermissionGrants/") {
			t.Errorf("%s: Graph calls %v", what, calls)
		}
	}
	if left := f.sim.Grants(tenantID); len(left) != 0 {
		t.Errorf("grants left in the tenant: %+v", left)
	}
	after, err := sess.SignInAppGrants(ctx)
	f.check(t, "SignInAppGrants after removal", err)
	if len(after) != 0 {
		t.Errorf("SignInAppGrants after removal = %+v", after)
	}
	if err := f.signIn(t, nobody).RemoveGrant(ctx, "a-grant-id"); err != nil {
		t.Errorf("RemoveGrant of an unknown grant = %v, want success (already gone)", err)
	}
}

func TestFindPrincipal(t *testing.T) {
	t.Parallel()
	f := newFixture(t, simtenant.Options{})
	ctx := context.Background()
	sess := f.signIn(t, ga)
	una := f.sim.AddUser(tenantID, simtenant.User{UPN: "una@contoso.example", DisplayName: "Una User"})
	create := func(key, name string) (appreg.Application, string) {
		app, err := sess.CreateApplication(ctx, key, name, nil)
		f.check(t, "CreateApplication", err)
		sp, err := sess.EnsureServicePrincipal(ctx, app.AppID)
		f.check(t, "EnsureServicePrincipal", err)
		return app, sp
	}
	dr, drSP := create("conv-1", "Contoso-DR")
	_, obrienSP := create("conv-2", "O'Brien-DR")
	create("conv-3", "Twin")
	create("conv-4", "Twin")
	noSP, err := sess.CreateApplication(ctx, "conv-5", "No-SP", nil)
	f.check(t, "CreateApplication", err)

	cases := []struct {
		name string
		want appreg.Principal
		kind appreg.Kind // of the error; "" for success
		says string      // the error message contains
	}{
		{name: dr.AppID, want: appreg.Principal{ID: drSP, Kind: "servicePrincipal", DisplayName: "Contoso-DR"}},
		{name: "Contoso-DR", want: appreg.Principal{ID: drSP, Kind: "servicePrincipal", DisplayName: "Contoso-DR"}},
		{name: " O'Brien-DR ", want: appreg.Principal{ID: obrienSP, Kind: "servicePrincipal", DisplayName: "O'Brien-DR"}},
		{name: "Una@Contoso.example", want: appreg.Principal{ID: una, Kind: "user", DisplayName: "Una User"}},
		{name: "Twin", kind: appreg.KindConflict, says: "application (client) id"},
		{name: "Fabrikam-DR", kind: appreg.KindNotFound, says: "Fabrikam-DR"},
		{name: noSP.AppID, kind: appreg.KindNotFound, says: noSP.AppID},
		{name: "ghost@contoso.example", kind: appreg.KindNotFound, says: "ghost@contoso.example"},
		{name: "  ", kind: appreg.KindInvalid},
	}
	for _, tc := range cases {
		got, err := sess.FindPrincipal(ctx, tc.name)
		if tc.kind == "" {
			f.check(t, "FindPrincipal "+tc.name, err)
			if got != tc.want {
				t.Errorf("FindPrincipal(%q) = %+v, want %+v", tc.name, got, tc.want)
			}
			continue
		}
		if appreg.ErrorKind(err) != tc.kind || !strings.Contains(appreg.ErrorMessage(err), tc.says) {
			t.Errorf("FindPrincipal(%q) = %+v, %v; want %s saying %q", tc.name, got, err, tc.kind, tc.says)
		}
		if err != nil {
			f.errs = append(f.errs, err.Error())
		}
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	f := newFixture(t, simtenant.Options{})
	ctx := context.Background()
	f.sim.AddUser(tenantID, simtenant.User{UPN: pra, DisplayName: "Pat Roles", Roles: []string{simtenant.PrivilegedRoleAdministrator}})
	o := f.onboard(t, f.signIn(t, ga), "conv-1", "Contoso-DR")
	privileged, limited := f.signIn(t, pra), f.signIn(t, appAdmin)
	held := func(principal, role string) bool {
		return slices.ContainsFunc(f.sim.RoleAssignments(tenantID), func(ra simtenant.RoleAssignment) bool {
			return ra.PrincipalID == principal && ra.Role == role
		})
	}
	fail := func(what string, err error, kind appreg.Kind, says string) {
		t.Helper()
		if appreg.ErrorKind(err) != kind || !strings.Contains(appreg.ErrorMessage(err), says) {
			t.Errorf("%s = %v (message %q), want %s saying %q", what, err, appreg.ErrorMessage(err), kind, says)
		}
		if err != nil {
			f.errs = append(f.errs, err.Error())
		}
	}

	// An Application Administrator alone cannot give the app a Teams role.
	_, err := limited.AssignRole(ctx, o.sp, "Teams Administrator")
	fail("AssignRole as an Application Administrator", err, appreg.KindForbidden, "Privileged Role Administrator or a Global Administrator")
	if held(o.sp, "Teams Administrator") {
		t.Error("the refused assignment was made")
	}
	_, err = privileged.AssignRole(ctx, o.sp, "Teams Overlord")
	fail("AssignRole of an unknown role", err, appreg.KindNotFound, `"Teams Overlord"`)
	_, err = privileged.AssignRole(ctx, "Contoso-DR", "Teams Administrator")
	fail("AssignRole to a name", err, appreg.KindInvalid, "Contoso-DR")

	// A Privileged Role Administrator can; names match in any case.
	for i, role := range []string{"teams administrator", "Teams Administrator"} {
		f.sim.ResetCounters()
		already, err := privileged.AssignRole(ctx, o.sp, role)
		f.check(t, "AssignRole", err)
		if already != (i == 1) {
			t.Errorf("AssignRole(%q) #%d: already = %v", role, i+1, already)
		}
		if calls := f.sim.GraphCalls(); len(calls) > 3 {
			t.Errorf("AssignRole made %d Graph calls, want at most 3:\n%s", len(calls), strings.Join(calls, "\n"))
		}
	}
	if !held(o.sp, "Teams Administrator") {
		t.Errorf("role assignments = %+v, want Teams Administrator on %s", f.sim.RoleAssignments(tenantID), o.sp)
	}
	st, err := limited.Inspect(ctx, o.app.AppID)
	f.check(t, "Inspect", err)
	if !slices.Equal(st.Roles, []string{"Teams Administrator"}) {
		t.Errorf("Inspect roles = %v", st.Roles)
	}

	// A user's role shows in that user's own sign-in.
	nora, err := privileged.FindPrincipal(ctx, nobody)
	f.check(t, "FindPrincipal", err)
	_, err = privileged.AssignRole(ctx, nora.ID, "User Administrator")
	f.check(t, "AssignRole to a user", err)
	roles, err := f.signIn(t, nobody).DirectoryRoles(ctx)
	f.check(t, "DirectoryRoles", err)
	if !slices.Contains(roles, "User Administrator") {
		t.Errorf("the user's roles = %v, want User Administrator", roles)
	}

	_, err = limited.RemoveRole(ctx, o.sp, "Teams Administrator")
	fail("RemoveRole as an Application Administrator", err, appreg.KindForbidden, "Privileged Role Administrator or a Global Administrator")
	for i := range 2 {
		gone, err := privileged.RemoveRole(ctx, o.sp, "Teams Administrator")
		f.check(t, "RemoveRole", err)
		if gone != (i == 1) {
			t.Errorf("RemoveRole #%d: alreadyGone = %v", i+1, gone)
		}
	}
	if held(o.sp, "Teams Administrator") {
		t.Error("the role is still assigned after RemoveRole")
	}
	_, err = privileged.RemoveRole(ctx, o.sp, "No Such Role")
	fail("RemoveRole of an unknown role", err, appreg.KindNotFound, `"No Such Role"`)
}

// TestLeastPrivilegePerPurpose: a sign-in asks Entra for the delegated
// permissions of its purpose by name, never .default; a session signed in
// for registrations cannot change directory roles even when its signer
// could, one signed in for roles can; a restored session keeps its scopes.
func TestLeastPrivilegePerPurpose(t *testing.T) {
	t.Parallel()
	f := newFixture(t, simtenant.Options{})
	ctx := context.Background()
	o := f.onboard(t, f.signIn(t, ga), "conv-1", "Contoso-DR")
	apps := f.signInFor(t, ga, appreg.PurposeApps)
	roles := f.signInFor(t, ga, appreg.PurposeRoles)
	asked := f.sim.SignInScopes()
	appsScopes, rolesScopes := asked[len(asked)-2], asked[len(asked)-1]
	for _, s := range asked {
		if strings.Contains(s, ".default") {
			t.Errorf("a sign-in asked for .default: %s", s)
		}
	}
	if !strings.Contains(appsScopes, "/Application.ReadWrite.All") || strings.Contains(appsScopes, "RoleManagement") {
		t.Errorf("registrations sign-in asked for %q", appsScopes)
	}
	if !strings.Contains(rolesScopes, "/RoleManagement.ReadWrite.Directory") {
		t.Errorf("roles sign-in asked for %q", rolesScopes)
	}
	if _, err := apps.AssignRole(ctx, o.sp, "Teams Administrator"); appreg.ErrorKind(err) != appreg.KindForbidden {
		t.Errorf("role change with a registrations session: %v, want KindForbidden", err)
	}
	if _, err := roles.AssignRole(ctx, o.sp, "Teams Administrator"); err != nil {
		t.Errorf("role change with a roles session: %v", err)
	}
	exported, err := apps.Export()
	if err != nil {
		t.Fatal(err)
	}
	restored, err := f.tenant.Restore(ctx, domain, exported)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restored.AssignRole(ctx, o.sp, "Skype for Business Administrator"); appreg.ErrorKind(err) != appreg.KindForbidden {
		t.Errorf("a restored registrations session changed a role: %v", err)
	}
}
