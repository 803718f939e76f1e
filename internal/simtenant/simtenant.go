// Package simtenant is an in-process stand-in for Microsoft Entra ID and
// Microsoft Graph v1.0, for tests and for the console demo.
//
// It is an httptest TLS server that speaks the real wire protocols, so the
// real clients (MSAL Go, azidentity, msgraph-sdk-go) talk to it unchanged:
// point the authority host and the Graph endpoint at URL() and give the
// clients Client() (or trust Certificate()). It imports no Microsoft library:
// plain net/http and encoding/json, so that what it answers is written down
// here, next to the Entra and Graph behaviour it imitates.
//
// Entra ID side (per tenant, addressed by id or by any verified domain):
// OpenID configuration, the device-code flow (RFC 8628) with its failure
// modes (declined, expired, Conditional Access), refresh tokens, and client
// credentials with client secrets, including the replication delay after a
// secret or an application is created.
//
// Graph side: the directory objects the bot reads and writes (organization,
// users, directory roles, applications, service principals, app role
// assignments, delegated permission grants, and roleManagement/directory's
// role definitions and role assignments) with OData JSON and OData errors.
// Every request needs a bearer token the stand-in issued for that tenant;
// what the signer may do follows their directory roles, as in Entra (for
// example, admin consent to a Microsoft Graph application permission, and
// any directory role assignment, need a Privileged Role Administrator or a
// Global Administrator). A user's directory roles are role assignments like
// a service principal's: a role given through Graph shows in that user's
// next sign-in.
//
// Controls (Approve, Decline, BlockByConditionalAccess, FailNext, …) let a
// test or the demo play the customer's admin and the weather; drift
// controls (DeleteApplication, AddSecret, RemoveSecret, AddPermission,
// RemoveGrant, AssignRole) change the tenant behind the bot's back, and
// snapshots (Applications, Assignments, Grants, RoleAssignments) show what
// the bot did.
package simtenant

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Well-known application ids.
const (
	GraphAppID       = "00000003-0000-0000-c000-000000000000"
	TeamsAdminAPIID  = "48ac35b8-9aa8-4d74-927d-1f4a14a0b239"
	DefaultClientID  = "9a4ef3a6-5d0b-4b7e-9a5e-6d1c2b7a0c11" // the sign-in app unless Options say otherwise
	graphDisplayName = "Microsoft Graph"
	teamsDisplayName = "Skype and Teams Tenant Admin API"
)

// Directory role names as Entra spells them.
const (
	GlobalAdministrator           = "Global Administrator"
	ApplicationAdministrator      = "Application Administrator"
	CloudApplicationAdministrator = "Cloud Application Administrator"
	PrivilegedRoleAdministrator   = "Privileged Role Administrator"

	TeamsAdministrator               = "Teams Administrator"
	TeamsCommunicationsAdministrator = "Teams Communications Administrator"
	SkypeForBusinessAdministrator    = "Skype for Business Administrator"
	UserAdministrator                = "User Administrator"
	DomainNameAdministrator          = "Domain Name Administrator"
)

// builtinRoles returns the built-in directory roles the stand-in knows, with
// their real template ids (a built-in role definition's id is its template
// id in every tenant).
func builtinRoles() []roleDefinition {
	return []roleDefinition{
		{ID: "62e90394-69f5-4237-9190-012177145e10", Name: GlobalAdministrator},
		{ID: "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", Name: ApplicationAdministrator},
		{ID: "158c047a-c907-4556-b7ef-446551a6b5f7", Name: CloudApplicationAdministrator},
		{ID: "e8611ab8-c189-46e8-94e1-60213ab1f814", Name: PrivilegedRoleAdministrator},
		{ID: "69091246-20e8-4a56-aa4d-066075b2a7a8", Name: TeamsAdministrator},
		{ID: "baf37b3a-610e-45da-9e62-d9d1e5e8914b", Name: TeamsCommunicationsAdministrator},
		{ID: "75941009-915a-4869-abe7-691bff18279e", Name: SkypeForBusinessAdministrator},
		{ID: "fe930be7-5e62-47db-91af-98c3a49a38b1", Name: UserAdministrator},
		{ID: "8329153b-31d0-4727-b945-745eb3bc5f31", Name: DomainNameAdministrator},
	}
}

// graphAppRoles returns Microsoft Graph's application permissions with their
// real, fixed ids.
func graphAppRoles() []AppRole {
	return []AppRole{
		{ID: "498476ce-e0fe-48b0-b801-37ba7e2685c6", Value: "Organization.Read.All"},
		{ID: "df021288-bdef-4463-88db-98f22de89214", Value: "User.Read.All"},
		{ID: "5b567255-7703-4780-807c-7be8301ae99b", Value: "Group.Read.All"},
		{ID: "7ab1d382-f21e-4acd-a863-ba3e13f7da61", Value: "Directory.Read.All"},
		{ID: "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", Value: "Application.ReadWrite.All"},
		{ID: "741f803b-c850-494e-b5df-cde7c675a1ca", Value: "User.ReadWrite.All"},
		{ID: "7e05723c-0bb0-42da-be95-ae9f08a6e53c", Value: "Domain.ReadWrite.All"},
		{ID: "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8", Value: "RoleManagement.ReadWrite.Directory"},
	}
}

// teamsAppRoles returns the stand-in's app role of the Skype and Teams Tenant
// Admin API (its id is the stand-in's own).
func teamsAppRoles() []AppRole {
	return []AppRole{{ID: "2a2c5b4e-6bd1-4c37-8f3c-1d8a7e7b0c01", Value: "application_access"}}
}

// signInAppScopes are the delegated Graph permissions the sign-in app holds
// in every tenant (RoleManagement.ReadWrite.Directory for role changes).
const signInAppScopes = "User.Read Directory.Read.All Application.ReadWrite.All AppRoleAssignment.ReadWrite.All DelegatedPermissionGrant.ReadWrite.All RoleManagement.ReadWrite.Directory"

// Options configure a Server. The zero value is usable.
type Options struct {
	// ClientID is the multi-tenant public client admins sign in to
	// (default DefaultClientID).
	ClientID string
	// SignInAppName is its display name (default "appreg-bot sign-in").
	SignInAppName string
	// CodeLifetime is the device codes' expires_in (default 15 minutes).
	CodeLifetime time.Duration
	// TokenLifetime is the access tokens' expires_in (default 1 hour). MSAL
	// refreshes tokens that expire within 5 minutes, so a shorter lifetime
	// makes every silent acquisition use the refresh token.
	TokenLifetime time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SignInHelp, when set, is what the /devicelogin page says: in a demo,
	// how to sign in.
	SignInHelp string
}

// Server is the stand-in. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	ts   *httptest.Server

	mu        sync.Mutex
	tenants   []*tenant
	codes     []*deviceCode
	tokens    map[string]*token // access and refresh tokens by value
	faults    []*fault
	calls     []string // Graph requests, "METHOD /path"
	grants    map[string]int
	auto      *autoApprove
	replicate int // failed client-credential attempts before a new app or secret works
}

// New starts a stand-in. Close it when done.
func New(opts Options) *Server {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.SignInAppName == "" {
		opts.SignInAppName = "appreg-bot sign-in"
	}
	if opts.CodeLifetime <= 0 {
		opts.CodeLifetime = 15 * time.Minute
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, tokens: map[string]*token{}, grants: map[string]int{}}
	login := http.NewServeMux()
	login.HandleFunc("GET /devicelogin", s.serveDeviceLogin)
	login.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.serveOpenIDConfiguration)
	login.HandleFunc("POST /{tenant}/oauth2/v2.0/devicecode", s.serveDeviceCode)
	login.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.serveToken)
	s.ts = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1.0/") {
			s.serveGraph(w, r)
			return
		}
		login.ServeHTTP(w, r)
	}))
	return s
}

// Close shuts the server down.
func (s *Server) Close() {
	s.mu.Lock()
	if s.auto != nil {
		s.auto.stop()
	}
	s.mu.Unlock()
	s.ts.Close()
}

// URL is the server's base URL (https://127.0.0.1:port): the authority host
// and the Graph endpoint both.
func (s *Server) URL() string { return s.ts.URL }

// Client returns an *http.Client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Certificate is the server's self-signed certificate, to add to a pool.
func (s *Server) Certificate() *x509.Certificate { return s.ts.Certificate() }

// ClientID is the sign-in app's client id.
func (s *Server) ClientID() string { return s.opts.ClientID }

// Tenant describes a tenant to add.
type Tenant struct {
	ID          string   // a GUID
	DisplayName string   // e.g. "Contoso"
	Domains     []string // verified domains; the first is the default
}

// User describes a user to add.
type User struct {
	UPN         string
	DisplayName string
	Roles       []string // directory roles assigned directly (see RoleAssignments)
	Groups      []string // groups the user belongs to (see AddGroup)
}

// AppRole is an application permission of a resource API.
type AppRole struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

// ResourceAccess is one entry of an application's requiredResourceAccess.
type ResourceAccess struct {
	ResourceAppID string
	IDs           []string // app role ids, type "Role"
}

// Secret is a client secret as Graph shows it after creation: no text.
type Secret struct {
	KeyID       string
	DisplayName string
	Hint        string
	Start, End  time.Time
}

// Application is a snapshot of an app registration.
type Application struct {
	ObjectID, AppID, DisplayName, UniqueName string
	RequiredResourceAccess                   []ResourceAccess
	Secrets                                  []Secret
	Certificates                             []Certificate
}

// Assignment is a snapshot of an app role assignment (an admin consent to an
// application permission).
type Assignment struct {
	ID, PrincipalID, ResourceID, AppRoleID string
	ResourceDisplayName, Permission        string
}

// ServicePrincipal is a snapshot of a service principal.
type ServicePrincipal struct {
	ObjectID, AppID, DisplayName string
}

type tenant struct {
	Tenant
	users          []*user
	groups         map[string][]string // group name → roles
	roleIDs        map[string]string   // role name → directoryRole object id in this tenant
	roleDefs       []roleDefinition
	roleAssigns    []roleAssignment // directory role assignments at the tenant scope
	apps           []*application
	sps            []*servicePrincipal
	assignments    []Assignment
	grants         []grant
	blocked        bool          // Conditional Access blocks the device-code flow
	secretMax      time.Duration // passwordLifetime policy; 0 = none
	secretMaxShown bool          // the refusal names the maximum
}

type user struct {
	User
	ID string
}

type application struct {
	Application
	secrets   []*secretValue
	certs     []*certValue
	replicate int // failed attempts left before the app is known to the token service
	created   time.Time
}

type secretValue struct {
	Secret
	text      string
	replicate int
}

type servicePrincipal struct {
	ServicePrincipal
	appRoles []AppRole
}

type grant struct {
	ID, ClientID, ResourceID, Scope string
}

// roleDefinition is a directory role definition; ID is also its template id.
type roleDefinition struct {
	ID, Name string
}

// roleAssignment is a directory role assignment at the tenant scope ("/").
type roleAssignment struct {
	ID, PrincipalID, RoleDefinitionID string
}

// AddTenant adds a tenant with Microsoft Graph's, the Skype and Teams Tenant
// Admin API's and the sign-in app's service principals; the sign-in app
// holds delegated Graph permissions.
func (s *Server) AddTenant(t Tenant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nt := &tenant{Tenant: t, groups: map[string][]string{}, roleIDs: map[string]string{}, roleDefs: builtinRoles()}
	graph := nt.addSP(GraphAppID, graphDisplayName, graphAppRoles())
	nt.addSP(TeamsAdminAPIID, teamsDisplayName, teamsAppRoles())
	signIn := nt.addSP(s.opts.ClientID, s.opts.SignInAppName, nil)
	nt.grants = append(nt.grants, grant{ID: newID(), ClientID: signIn.ObjectID, ResourceID: graph.ObjectID, Scope: signInAppScopes})
	s.tenants = append(s.tenants, nt)
}

func (t *tenant) addSP(appID, name string, roles []AppRole) *servicePrincipal {
	sp := &servicePrincipal{ServicePrincipal: ServicePrincipal{ObjectID: newID(), AppID: appID, DisplayName: name}, appRoles: roles}
	t.sps = append(t.sps, sp)
	return sp
}

// AddUser adds a user to a tenant (by id or domain) and returns its object
// id. It panics on an unknown tenant: a broken test setup.
func (s *Server) AddUser(tenantID string, u User) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.mustTenant(tenantID)
	nu := &user{User: u, ID: newID()}
	t.users = append(t.users, nu)
	for _, r := range u.Roles {
		t.assignRole(nu.ID, t.roleDefinition(r, true).ID)
	}
	return nu.ID
}

// AddGroup adds a role-assignable group holding the given directory roles.
func (s *Server) AddGroup(tenantID, name string, roles ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.mustTenant(tenantID)
	t.groups[name] = roles
	for _, r := range roles {
		t.roleDefinition(r, true)
	}
}

// BlockByConditionalAccess makes Entra refuse device-code sign-ins to the
// tenant (AADSTS53003) once the admin has signed in, or lifts the block.
func (s *Server) BlockByConditionalAccess(tenantID string, blocked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustTenant(tenantID).blocked = blocked
}

// SetSecretMaxLifetime sets the tenant's passwordLifetime policy: addPassword
// with a later endDateTime answers 400. When stateMaximum is set, the
// refusal names the maximum ("… The maximum allowed lifetime is 90 days.").
// Zero lifts the policy.
func (s *Server) SetSecretMaxLifetime(tenantID string, max time.Duration, stateMaximum bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.mustTenant(tenantID)
	t.secretMax, t.secretMaxShown = max, stateMaximum
}

// SetReplicationDelay makes every application and client secret created
// from now on fail n client-credential attempts (AADSTS700016 for a new
// application, AADSTS7000215 for a new secret) before it works, as while
// Entra replicates.
func (s *Server) SetReplicationDelay(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replicate = n
}

// Fault is an answer injected in place of Graph's.
type Fault struct {
	Status     int
	Code       string // OData error code; default from the status
	Message    string
	RetryAfter string // Retry-After header, e.g. "1"
}

type fault struct {
	method, prefix string
	left           int
	Fault
}

// FailNext makes the next n Graph requests whose method matches (empty: any)
// and whose path after /v1.0 starts with prefix answer f instead.
func (s *Server) FailNext(method, prefix string, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{method: method, prefix: prefix, left: n, Fault: f})
}

// Throttle makes the next n matching Graph requests answer 429 with
// Retry-After: 1.
func (s *Server) Throttle(method, prefix string, n int) {
	s.FailNext(method, prefix, n, Fault{Status: http.StatusTooManyRequests, Code: "TooManyRequests",
		Message: "Too many requests from Identifier:... under category: throttle.aad.ctp.", RetryAfter: "1"})
}

// Unavailable makes the next n matching Graph requests answer 503 with
// Retry-After: 1.
func (s *Server) Unavailable(method, prefix string, n int) {
	s.FailNext(method, prefix, n, Fault{Status: http.StatusServiceUnavailable, Code: "serviceNotAvailable",
		Message: "The service is temporarily unavailable. Please retry later.", RetryAfter: "1"})
}

// GraphCalls returns the Graph requests received so far ("GET /v1.0/…"),
// retries and refused requests included.
func (s *Server) GraphCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// ResetCounters forgets the Graph requests and token grants counted so far.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.grants = nil, map[string]int{}
}

// TokenRequests returns how many token requests of a grant type
// ("device_code", "refresh_token", "client_credentials") were answered.
func (s *Server) TokenRequests(grantType string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.grants[grantType]
}

// IssuedTokens returns every access and refresh token issued, for tests
// that assert none of them leaks into logs or errors.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for v := range s.tokens {
		out = append(out, v)
	}
	return out
}

// Applications returns the tenant's app registrations.
func (s *Server) Applications(tenantID string) []Application {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Application
	for _, a := range s.mustTenant(tenantID).apps {
		out = append(out, a.snapshot())
	}
	return out
}

// ServicePrincipals returns the tenant's service principals.
func (s *Server) ServicePrincipals(tenantID string) []ServicePrincipal {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ServicePrincipal
	for _, sp := range s.mustTenant(tenantID).sps {
		out = append(out, sp.ServicePrincipal)
	}
	return out
}

// Assignments returns the tenant's app role assignments.
func (s *Server) Assignments(tenantID string) []Assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mustTenant(tenantID).assignments)
}

func (a *application) snapshot() Application {
	c := a.Application
	c.RequiredResourceAccess = slices.Clone(a.RequiredResourceAccess)
	c.Secrets = nil
	for _, sv := range a.secrets {
		c.Secrets = append(c.Secrets, sv.Secret)
	}
	c.Certificates = nil
	for _, cv := range a.certs {
		c.Certificates = append(c.Certificates, cv.Certificate)
	}
	return c
}

// tenantByName finds a tenant by id or verified domain; mu must be held.
func (s *Server) tenantByName(name string) *tenant {
	for _, t := range s.tenants {
		if strings.EqualFold(t.ID, name) || slices.ContainsFunc(t.Domains, func(d string) bool { return strings.EqualFold(d, name) }) {
			return t
		}
	}
	return nil
}

func (s *Server) mustTenant(name string) *tenant {
	t := s.tenantByName(name)
	if t == nil {
		panic(fmt.Sprintf("simtenant: unknown tenant %q", name))
	}
	return t
}

func (t *tenant) userByUPN(upn string) *user {
	for _, u := range t.users {
		if strings.EqualFold(u.UPN, upn) {
			return u
		}
	}
	return nil
}

func (t *tenant) userByID(id string) *user {
	for _, u := range t.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

// roles returns the directory roles u holds, directly or through a group.
func (t *tenant) roles(u *user) []string {
	roles := t.directRoles(u.ID)
	for _, g := range u.Groups {
		roles = append(roles, t.groups[g]...)
	}
	slices.Sort(roles)
	return slices.Compact(roles)
}

func (t *tenant) hasAnyRole(u *user, roles ...string) bool {
	return slices.ContainsFunc(t.roles(u), func(r string) bool { return slices.Contains(roles, r) })
}

// directRoles returns the names of the directory roles assigned to a
// principal.
func (t *tenant) directRoles(principalID string) []string {
	var roles []string
	for _, ra := range t.roleAssigns {
		if strings.EqualFold(ra.PrincipalID, principalID) {
			roles = append(roles, t.roleDefinitionByID(ra.RoleDefinitionID).Name)
		}
	}
	return roles
}

// roleDefinition returns the role definition with that display name
// (matched case-insensitively, as Graph's filter does), or nil. With create,
// a role the stand-in does not know gets a definition of its own.
func (t *tenant) roleDefinition(name string, create bool) *roleDefinition {
	for i := range t.roleDefs {
		if strings.EqualFold(t.roleDefs[i].Name, name) {
			return &t.roleDefs[i]
		}
	}
	if !create {
		return nil
	}
	t.roleDefs = append(t.roleDefs, roleDefinition{ID: newID(), Name: name})
	return &t.roleDefs[len(t.roleDefs)-1]
}

func (t *tenant) roleDefinitionByID(id string) *roleDefinition {
	for i := range t.roleDefs {
		if strings.EqualFold(t.roleDefs[i].ID, id) {
			return &t.roleDefs[i]
		}
	}
	return nil
}

// assignRole records a role assignment unless the principal holds the role
// already, and returns the assignment's id and whether it is new.
func (t *tenant) assignRole(principalID, roleDefinitionID string) (string, bool) {
	for _, ra := range t.roleAssigns {
		if strings.EqualFold(ra.PrincipalID, principalID) && strings.EqualFold(ra.RoleDefinitionID, roleDefinitionID) {
			return ra.ID, false
		}
	}
	// Entra's role assignment ids are not GUIDs but base64url text ending in "-1".
	ra := roleAssignment{ID: randomText(43, mixedAlnum+"_") + "-1", PrincipalID: principalID, RoleDefinitionID: roleDefinitionID}
	t.roleAssigns = append(t.roleAssigns, ra)
	return ra.ID, true
}

func (t *tenant) roleID(name string) string {
	if id, ok := t.roleIDs[name]; ok {
		return id
	}
	id := newID()
	t.roleIDs[name] = id
	return id
}

// newID returns a random GUID.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// randomText returns n random characters from the alphabet of Entra's
// secrets and codes.
func randomText(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
