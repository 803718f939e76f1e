// Package fakes holds in-process fakes of the appreg ports for tests of the
// conversation engine: a Tenant whose sign-ins a test approves, declines or
// blocks, and a Chat that records what the bot said. They implement the real
// interfaces and keep the state a real tenant or chat would, so tests assert
// on outcomes rather than on calls.
package fakes

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Tenant is a fake appreg.Tenant holding one directory. Safe for concurrent
// use.
type Tenant struct {
	mu       sync.Mutex
	Identity appreg.Identity
	// Roles are the signer's directory roles.
	Roles []string
	// ConsentForbidden makes GrantConsent answer KindForbidden, as for an
	// Application Administrator consenting to Graph application permissions.
	ConsentForbidden bool
	// MaxLifetime, when set, caps secret lifetimes as a tenant policy would.
	MaxLifetime time.Duration
	// ChecksFailing makes that many CheckCredentials calls fail first.
	ChecksFailing int
	// Grants are the sign-in app's delegated grants.
	Grants []appreg.Grant
	// Users are the principal names FindPrincipal knows besides the apps.
	Users []string
	// RoleForbidden makes role changes answer KindForbidden, as for a signer
	// who is not a Privileged Role Administrator.
	RoleForbidden bool
	Now           func() time.Time

	failures map[string][]error
	hooks    map[string]func()
	pending  []*signIn
	apps     map[string]*app // by object id
	byKey    map[string]string
	seq      int
	calls    map[string]int
}

type app struct {
	appreg.Application
	sp       string
	required []appreg.Permission
	consent  []string
	secrets  map[string]appreg.Secret
	roles    []string
}

var (
	_ appreg.Tenant  = (*Tenant)(nil)
	_ appreg.Session = (*session)(nil)
)

// NewTenant returns a fake tenant for contoso.onmicrosoft.com whose admin is
// an Application Administrator.
func NewTenant() *Tenant {
	return &Tenant{
		Identity: appreg.Identity{Account: "admin@contoso.onmicrosoft.com", DisplayName: "Contoso Admin",
			TenantID: "11111111-2222-3333-4444-555555555555", TenantName: "Contoso", DefaultDomain: "contoso.onmicrosoft.com",
			Domains: []string{"contoso.onmicrosoft.com", "contoso.com"}},
		Roles:    []string{"Application Administrator"},
		Now:      time.Now,
		failures: map[string][]error{}, apps: map[string]*app{}, byKey: map[string]string{}, calls: map[string]int{},
	}
}

// FailNext makes the next calls of op (a Session method name) return errs,
// one per call.
func (t *Tenant) FailNext(op string, errs ...error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures[op] = append(t.failures[op], errs...)
}

// Hook makes every call of op run fn first, outside the fake's lock: a test
// can hold a call in flight.
func (t *Tenant) Hook(op string, fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hooks == nil {
		t.hooks = map[string]func(){}
	}
	t.hooks[op] = fn
}

func (t *Tenant) call(op string) error {
	t.mu.Lock()
	hook := t.hooks[op]
	t.calls[op]++
	t.mu.Unlock()
	if hook != nil {
		hook()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if errs := t.failures[op]; len(errs) > 0 {
		t.failures[op] = errs[1:]
		return errs[0]
	}
	return nil
}

// Calls returns how often op was called.
func (t *Tenant) Calls(op string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls[op]
}

// AddApplication puts an app registration in the directory, as if made in
// the portal.
func (t *Tenant) AddApplication(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	id := fmt.Sprintf("obj-%d", t.seq)
	t.apps[id] = &app{Application: appreg.Application{ObjectID: id, AppID: fmt.Sprintf("app-%d", t.seq), DisplayName: name}, secrets: map[string]appreg.Secret{}}
}

// Applications returns the directory's app registrations.
func (t *Tenant) Applications() []appreg.Application {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []appreg.Application
	for _, a := range t.apps {
		out = append(out, a.Application)
	}
	return out
}

// Secrets returns the key ids of an application's secrets.
func (t *Tenant) Secrets(appID string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, a := range t.apps {
		if a.AppID == appID {
			for k := range a.secrets {
				out = append(out, k)
			}
		}
	}
	return out
}

// Consented returns the permissions consented for an application.
func (t *Tenant) Consented(appID string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.apps {
		if a.AppID == appID {
			return append([]string(nil), a.consent...)
		}
	}
	return nil
}

// BeginSignIn implements appreg.Tenant.
func (t *Tenant) BeginSignIn(ctx context.Context, tenant string, purpose appreg.Purpose) (appreg.SignIn, error) {
	if err := t.call("BeginSignIn"); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	s := &signIn{t: t, code: appreg.DeviceCode{
		UserCode: fmt.Sprintf("FAKE%04d", t.seq), VerificationURL: "https://microsoft.com/devicelogin",
		ExpiresAt: t.Now().Add(15 * time.Minute), Interval: 5 * time.Second,
	}, done: make(chan error, 1)}
	t.pending = append(t.pending, s)
	return s, nil
}

// WaitPending waits until a sign-in is pending and returns its user code.
func (t *Tenant) WaitPending(ctx context.Context) (string, error) {
	for {
		t.mu.Lock()
		if n := len(t.pending); n > 0 {
			code := t.pending[n-1].code.UserCode
			t.mu.Unlock()
			return code, nil
		}
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no sign-in became pending: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Approve completes the latest pending sign-in as the tenant's admin;
// Decline, Expire and Block end it with that failure.
func (t *Tenant) Approve() { t.finish(nil) }

// Decline ends the latest pending sign-in as declined by the admin.
func (t *Tenant) Decline() { t.finish(&appreg.SignInError{Failure: appreg.SignInDeclined}) }

// Expire ends the latest pending sign-in as expired.
func (t *Tenant) Expire() { t.finish(&appreg.SignInError{Failure: appreg.SignInExpired}) }

// Block ends the latest pending sign-in as blocked by Conditional Access.
func (t *Tenant) Block() {
	t.finish(&appreg.SignInError{Failure: appreg.SignInBlocked, Detail: "AADSTS53003"})
}

func (t *Tenant) finish(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.pending); n > 0 {
		s := t.pending[n-1]
		t.pending = t.pending[:n-1]
		s.done <- err
	}
}

// Restore implements appreg.Tenant: a session exported by this fake comes
// back as long as the identity matches.
func (t *Tenant) Restore(ctx context.Context, tenant string, exported []byte) (appreg.Session, error) {
	var id appreg.Identity
	if err := json.Unmarshal(exported, &id); err != nil || id.TenantID != t.Identity.TenantID {
		return nil, appreg.Errorf(appreg.KindNotFound, "The admin session cannot be restored.")
	}
	return &session{t: t}, nil
}

// CheckCredentials implements appreg.Tenant: the secret must be one of the
// application's.
func (t *Tenant) CheckCredentials(ctx context.Context, tenantID, clientID string, secret appreg.SecretText) []appreg.CredentialCheck {
	return t.check("CheckCredentials", clientID, func(s appreg.Secret) bool { return s.Text == secret },
		"AADSTS7000215: invalid client secret")
}

// CheckCertificate implements appreg.Tenant: the certificate must be one
// of the application's, and key its private key.
func (t *Tenant) CheckCertificate(ctx context.Context, tenantID, clientID string, cert *x509.Certificate, key appreg.PrivateKey) []appreg.CredentialCheck {
	return t.check("CheckCertificate", clientID, func(s appreg.Secret) bool {
		return s.Certificate != nil && cert != nil && s.Certificate.Equal(cert) && appreg.Signs(key, cert)
	}, "AADSTS700027: the certificate is not (yet) registered on the application, or the assertion's signature is invalid")
}

// check answers a credential check: both resources succeed when one of the
// application's credentials matches, after ChecksFailing failures (the
// credential replicating).
func (t *Tenant) check(call, clientID string, matches func(appreg.Secret) bool, refused string) []appreg.CredentialCheck {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls[call]++
	ok := false
	for _, a := range t.apps {
		if a.AppID != clientID {
			continue
		}
		for _, s := range a.secrets {
			ok = ok || matches(s)
		}
	}
	reason := ""
	if t.ChecksFailing > 0 {
		t.ChecksFailing--
		ok, reason = false, refused+" (replicating)"
	} else if !ok {
		reason = refused
	}
	return []appreg.CredentialCheck{
		{Resource: "Microsoft Graph", OK: ok, Reason: reason},
		{Resource: "Skype and Teams Tenant Admin API", OK: ok, Reason: reason},
	}
}

type signIn struct {
	t    *Tenant
	code appreg.DeviceCode
	done chan error
}

func (s *signIn) Code() appreg.DeviceCode { return s.code }

func (s *signIn) Wait(ctx context.Context) (appreg.Session, error) {
	select {
	case <-ctx.Done():
		return nil, &appreg.SignInError{Failure: appreg.SignInCancelled}
	case err := <-s.done:
		if err != nil {
			return nil, err
		}
		return &session{t: s.t}, nil
	}
}

type session struct{ t *Tenant }

func (s *session) Identity() appreg.Identity {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.t.Identity
}

func (s *session) Export() ([]byte, error) { return json.Marshal(s.Identity()) }

func (s *session) DirectoryRoles(ctx context.Context) ([]string, error) {
	if err := s.t.call("DirectoryRoles"); err != nil {
		return nil, err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return append([]string(nil), s.t.Roles...), nil
}

func (s *session) FindApplication(ctx context.Context, name string) (*appreg.Application, error) {
	if err := s.t.call("FindApplication"); err != nil {
		return nil, err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	for _, a := range s.t.apps {
		if strings.EqualFold(a.DisplayName, name) {
			found := a.Application
			return &found, nil
		}
	}
	return nil, nil
}

func (s *session) CreateApplication(ctx context.Context, key, name string, perms []appreg.Permission) (appreg.Application, error) {
	if err := s.t.call("CreateApplication"); err != nil {
		return appreg.Application{}, err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if id, ok := s.t.byKey[key]; ok {
		return s.t.apps[id].Application, nil
	}
	s.t.seq++
	id := fmt.Sprintf("obj-%d", s.t.seq)
	a := &app{Application: appreg.Application{ObjectID: id, AppID: fmt.Sprintf("app-%d", s.t.seq), DisplayName: name},
		required: append([]appreg.Permission(nil), perms...), secrets: map[string]appreg.Secret{}}
	s.t.apps[id], s.t.byKey[key] = a, id
	return a.Application, nil
}

func (s *session) find(appID string) *app {
	for _, a := range s.t.apps {
		if a.AppID == appID || a.sp == appID || a.ObjectID == appID {
			return a
		}
	}
	return nil
}

func (s *session) EnsureServicePrincipal(ctx context.Context, appID string) (string, error) {
	if err := s.t.call("EnsureServicePrincipal"); err != nil {
		return "", err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	a := s.find(appID)
	if a == nil {
		return "", appreg.Errorf(appreg.KindNotFound, "No application %s.", appID)
	}
	if a.sp == "" {
		a.sp = "sp-" + a.ObjectID
	}
	return a.sp, nil
}

func (s *session) GrantConsent(ctx context.Context, sp string, p appreg.Permission) error {
	if err := s.t.call("GrantConsent"); err != nil {
		return err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if s.t.ConsentForbidden {
		return appreg.Errorf(appreg.KindForbidden, "A Privileged Role Administrator must grant %s.", p.Name)
	}
	a := s.find(sp)
	if a == nil {
		return appreg.Errorf(appreg.KindNotFound, "No service principal %s.", sp)
	}
	for _, c := range a.consent {
		if c == p.Name {
			return nil
		}
	}
	a.consent = append(a.consent, p.Name)
	return nil
}

func (s *session) AddSecret(ctx context.Context, objectID, name string, lifetime time.Duration) (appreg.Secret, error) {
	return s.addCredential("AddSecret", objectID, lifetime, func(seq int, _, end time.Time) (appreg.Secret, error) {
		return appreg.Secret{KeyID: fmt.Sprintf("key-%d", seq), Text: appreg.SecretText(fmt.Sprintf("s3cr3t~%d-DoNotLeak", seq)), Name: name, Expires: end}, nil
	})
}

func (s *session) AddCertificate(ctx context.Context, objectID, name string, lifetime time.Duration, key appreg.PrivateKey) (appreg.Secret, error) {
	return s.addCredential("AddCertificate", objectID, lifetime, func(seq int, now, end time.Time) (appreg.Secret, error) {
		cert, err := appreg.SelfSignedCertificate(key, name, now.Add(-5*time.Minute), end)
		if err != nil {
			return appreg.Secret{}, appreg.Wrap(appreg.KindInternal, err, "The certificate could not be made.")
		}
		return appreg.Secret{Kind: appreg.KindCertificate, KeyID: fmt.Sprintf("key-%d", seq), Name: name, Expires: cert.NotAfter,
			Certificate: cert, Key: key, Thumbprint: appreg.Thumbprint(cert)}, nil
	})
}

// addCredential adds the credential build makes, numbered seq and ending
// at end: lifetime from now, or MaxLifetime when that is shorter (Capped).
func (s *session) addCredential(call, objectID string, lifetime time.Duration, build func(seq int, now, end time.Time) (appreg.Secret, error)) (appreg.Secret, error) {
	if err := s.t.call(call); err != nil {
		return appreg.Secret{}, err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	a := s.find(objectID)
	if a == nil {
		return appreg.Secret{}, appreg.Errorf(appreg.KindNotFound, "No application %s.", objectID)
	}
	capped := false
	if s.t.MaxLifetime > 0 && lifetime > s.t.MaxLifetime {
		lifetime, capped = s.t.MaxLifetime, true
	}
	now := s.t.Now()
	s.t.seq++
	sec, err := build(s.t.seq, now, now.Add(lifetime))
	if err != nil {
		return appreg.Secret{}, err
	}
	sec.Capped = capped
	a.secrets[sec.KeyID] = sec
	return sec, nil
}

func (s *session) RemoveSecret(ctx context.Context, objectID, keyID string) error {
	if err := s.t.call("RemoveSecret"); err != nil {
		return err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if a := s.find(objectID); a != nil {
		delete(a.secrets, keyID)
	}
	return nil
}

func (s *session) SignInAppGrants(ctx context.Context) ([]appreg.Grant, error) {
	if err := s.t.call("SignInAppGrants"); err != nil {
		return nil, err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return append([]appreg.Grant(nil), s.t.Grants...), nil
}

// DeleteApplication deletes an app registration behind the bot's back.
func (t *Tenant) DeleteApplication(appID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, a := range t.apps {
		if a.AppID == appID {
			delete(t.apps, id)
		}
	}
}

// AddSecretDirectly adds a secret as if made in the portal.
func (t *Tenant) AddSecretDirectly(appID, keyID string, expires time.Time) {
	t.putDirectly(appID, appreg.Secret{KeyID: keyID, Name: "portal", Expires: expires})
}

// AddCertificateDirectly uploads a certificate as if in the portal.
func (t *Tenant) AddCertificateDirectly(appID, keyID, thumbprint string, expires time.Time) {
	t.putDirectly(appID, appreg.Secret{Kind: appreg.KindCertificate, KeyID: keyID, Name: "portal", Expires: expires, Thumbprint: thumbprint})
}

// putDirectly adds a credential to an application as if in the portal.
func (t *Tenant) putDirectly(appID string, s appreg.Secret) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.apps {
		if a.AppID == appID {
			a.secrets[s.KeyID] = s
		}
	}
}

// RemoveSecretDirectly removes a secret as if in the portal.
func (t *Tenant) RemoveSecretDirectly(appID, keyID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.apps {
		if a.AppID == appID {
			delete(a.secrets, keyID)
		}
	}
}

// AddPermissionDirectly adds and consents a permission as if in the portal.
func (t *Tenant) AddPermissionDirectly(appID string, p appreg.Permission) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.apps {
		if a.AppID == appID {
			a.required = append(a.required, p)
			a.consent = append(a.consent, p.Name)
		}
	}
}

// Roles returns the directory roles of an application's service principal.
func (t *Tenant) RolesOf(appID string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.apps {
		if a.AppID == appID {
			return append([]string(nil), a.roles...)
		}
	}
	return nil
}

func (s *session) RemoveGrant(ctx context.Context, grantID string) error {
	if err := s.t.call("RemoveGrant"); err != nil {
		return err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	for i, g := range s.t.Grants {
		if g.ID == grantID {
			s.t.Grants = append(s.t.Grants[:i:i], s.t.Grants[i+1:]...)
			break
		}
	}
	return nil
}

func (s *session) Inspect(ctx context.Context, appID string) (*appreg.AppState, error) {
	if err := s.t.call("Inspect"); err != nil {
		return nil, err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	a := s.find(appID)
	if a == nil {
		return nil, nil
	}
	st := &appreg.AppState{Application: a.Application, ServicePrincipal: a.sp,
		Required: append([]appreg.Permission(nil), a.required...), Roles: append([]string(nil), a.roles...)}
	for _, name := range a.consent {
		st.Consented = append(st.Consented, permissionNamed(a.required, name))
	}
	for _, sec := range a.secrets {
		sec.Text, sec.Key, sec.Certificate = "", appreg.PrivateKey{}, nil
		st.Secrets = append(st.Secrets, sec)
	}
	return st, nil
}

func permissionNamed(perms []appreg.Permission, name string) appreg.Permission {
	for _, p := range perms {
		if p.Name == name {
			return p
		}
	}
	return appreg.Permission{Name: name}
}

func (s *session) RemovePermission(ctx context.Context, st appreg.AppState, p appreg.Permission) error {
	if err := s.t.call("RemovePermission"); err != nil {
		return err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	a := s.find(st.AppID)
	if a == nil {
		return nil
	}
	a.required = slices.DeleteFunc(a.required, func(q appreg.Permission) bool { return q.Name == p.Name })
	a.consent = slices.DeleteFunc(a.consent, func(q string) bool { return q == p.Name })
	return nil
}

func (s *session) FindPrincipal(ctx context.Context, name string) (appreg.Principal, error) {
	if err := s.t.call("FindPrincipal"); err != nil {
		return appreg.Principal{}, err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	for _, a := range s.t.apps {
		if a.sp != "" && (a.AppID == name || strings.EqualFold(a.DisplayName, name)) {
			return appreg.Principal{ID: a.sp, Kind: "servicePrincipal", DisplayName: a.DisplayName}, nil
		}
	}
	for _, u := range s.t.Users {
		if strings.EqualFold(u, name) {
			return appreg.Principal{ID: "user-" + u, Kind: "user", DisplayName: u}, nil
		}
	}
	return appreg.Principal{}, appreg.Errorf(appreg.KindNotFound, "No service principal or user %q in the tenant.", name)
}

func (s *session) AssignRole(ctx context.Context, principalID, role string) (bool, error) {
	if err := s.t.call("AssignRole"); err != nil {
		return false, err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if s.t.RoleForbidden {
		return false, appreg.Errorf(appreg.KindForbidden, "Assigning directory roles needs a Privileged Role Administrator.")
	}
	a := s.find(principalID)
	if a == nil {
		return false, appreg.Errorf(appreg.KindNotFound, "No principal %s.", principalID)
	}
	if slices.ContainsFunc(a.roles, func(r string) bool { return strings.EqualFold(r, role) }) {
		return true, nil
	}
	a.roles = append(a.roles, role)
	return false, nil
}

func (s *session) RemoveRole(ctx context.Context, principalID, role string) (bool, error) {
	if err := s.t.call("RemoveRole"); err != nil {
		return false, err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if s.t.RoleForbidden {
		return false, appreg.Errorf(appreg.KindForbidden, "Removing directory roles needs a Privileged Role Administrator.")
	}
	a := s.find(principalID)
	if a == nil {
		return true, nil
	}
	n := len(a.roles)
	a.roles = slices.DeleteFunc(a.roles, func(r string) bool { return strings.EqualFold(r, role) })
	return len(a.roles) == n, nil
}
