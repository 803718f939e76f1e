// Package keyvaultfake is a fake of one Azure Key Vault's data plane, and of
// the Microsoft Entra ID endpoints the bot's own identity gets its Key Vault
// tokens from, for tests that drive the real azsecrets and azcertificates
// clients and azidentity's credentials.
//
// A Server is one httptest TLS server. Its vault answers under the vault's
// real-looking host name (https://<name>.vault.azure.net/): Client is an
// HTTP client that dials the fake for that host, trusts the fake's
// certificate (made for that host and for 127.0.0.1), answers "no such
// host" for any other *.vault.azure.net name, and refuses to dial anything
// that is not on the loopback interface. So the SDK's challenge resource
// verification (the challenge's resource must be a parent domain of the
// vault's host) runs as it does against Azure, and a test cannot reach the
// internet by mistake.
//
//   - Challenge authentication: a vault request without a bearer token,
//     or with one the fake did not issue (or expired, or for another
//     audience), gets 401 with WWW-Authenticate: Bearer
//     authorization="<authority>/<tenant>", resource="https://vault.azure.net"
//     and Key Vault's AKV10000/AKV10032 error body. The SDK's challenge
//     policy sends its first request without a body, reads the tenant and
//     resource, gets a token for "<resource>/.default" and sends again.
//   - Entra: GET /{tenant}/v2.0/.well-known/openid-configuration and POST
//     /{tenant}/oauth2/v2.0/token with the client-credentials grant for
//     the bot's identity, with its client secret or (workload identity) a
//     client assertion equal to Options.FederatedToken; and GET /msi/token,
//     the App Service managed identity protocol (point IDENTITY_ENDPOINT at
//     ManagedIdentityEndpoint, IDENTITY_HEADER at Options.IdentityHeader).
//     Every token request is recorded (TokenRequests).
//   - Secrets: set (a new version each time), get, list versions (paged,
//     with nextLink), update properties; versions with value, content type,
//     tags, enabled, nbf, exp, created, updated. Names, tags (at most 15,
//     values of at most 256 characters), content types and values are
//     checked against Key Vault's limits and refused with 400 BadParameter.
//   - Certificates: import (PEM with a PKCS#8 private key, content type
//     application/x-pem-file; PKCS#12 is refused with 400, the fake does
//     not parse it), get, list versions, update (enabled, tags). An import
//     checks that the key matches the leaf certificate and the policy's key
//     type, stores the key (CertificateVersions) and, as Key Vault does,
//     a managed secret of the same name and version holding the PEM.
//   - Deleted objects: SoftDelete puts a name in the deleted-but-recoverable
//     state (set and import answer 409 Conflict with the inner error
//     ObjectIsDeletedButRecoverable; reads answer 404); Recover and Purge
//     end it.
//   - Faults: FailNext answers the next authorised vault calls (of one
//     operation, or any) with a Failure (Unauthorized,
//     ForbiddenByAccessPolicy, ForbiddenByRbac, ForbiddenByFirewall,
//     TooManyRequests, ServerError, DeletedButRecoverable, NotFound, or
//     any status), with Retry-After when asked; FailTokens does so for
//     token requests. A Failure can echo the request's credentials (the
//     Authorization header and the body, which holds the secret or the
//     private key) into its message, as a misbehaving proxy might, for
//     tests that errors and logs never show them. Requests that only elicit
//     the challenge do not use up a fault. The SDK answers a 401 by
//     fetching a token and trying once more, so inject Unauthorized twice
//     to make a call fail.
//   - Every vault request is recorded (Calls, WaitFor), with the token it
//     carried and its body.
//
// The package knows the wire, not the bot's client. Its methods are safe for
// concurrent use.
package keyvaultfake

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/fakes/calls"
)

// Defaults of the fake, the values of Azure's public cloud where there is
// one.
const (
	Resource         = "https://vault.azure.net" // the challenge's resource, the audience of vault tokens
	VaultDomain      = "vault.azure.net"         // vault hosts are <name>.VaultDomain
	DefaultVaultName = "appreg-test"
	DefaultTenant    = "8f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e"
	DefaultPageSize  = 25 // Key Vault's page size for version lists
	// DefaultIdentityHeader is the X-IDENTITY-HEADER the managed identity
	// endpoint wants unless Options.IdentityHeader says otherwise.
	DefaultIdentityHeader = "keyvaultfake-identity-header"
	// Key Vault's limits.
	MaxTags            = 15
	MaxTagValue        = 256
	MaxTagName         = 512
	MaxContentType     = 255
	MaxSecretValueSize = 25 * 1024
)

// The vault operations, as recorded in Call.Op.
const (
	OpSetSecret               = "set-secret"                // PUT /secrets/{name}
	OpGetSecret               = "get-secret"                // GET /secrets/{name}/{version}
	OpListSecretVersions      = "list-secret-versions"      // GET /secrets/{name}/versions
	OpUpdateSecret            = "update-secret"             // PATCH /secrets/{name}/{version}
	OpImportCertificate       = "import-certificate"        // POST /certificates/{name}/import
	OpGetCertificate          = "get-certificate"           // GET /certificates/{name}/{version}
	OpListCertificateVersions = "list-certificate-versions" // GET /certificates/{name}/versions
	OpUpdateCertificate       = "update-certificate"        // PATCH /certificates/{name}/{version}
)

// The ways a token request authenticates, as recorded in
// TokenRequest.Method.
const (
	AuthClientSecret    = "client_secret"    // client credentials with a secret
	AuthClientAssertion = "client_assertion" // client credentials with a federated token (workload identity)
	AuthManagedIdentity = "managed_identity" // GET /msi/token
)

// Options configures a Server.
type Options struct {
	// VaultName is the vault's name, the first label of its host (default
	// DefaultVaultName).
	VaultName string
	// TenantID is the tenant of the bot's identity, which the token
	// endpoint serves (default DefaultTenant).
	TenantID string
	// ChallengeTenant is the tenant the vault's challenge names (default
	// TenantID); another one plays a vault in a tenant the bot's identity
	// is not in.
	ChallengeTenant string
	// Resource is the challenge's resource and the audience of the tokens
	// the vault accepts (default Resource). Another host plays a server
	// that asks for a token meant for someone else.
	Resource string
	// ClientID is the bot's identity at the token endpoint; required.
	ClientID string
	// ClientSecret is the client secret the token endpoint accepts; ""
	// accepts none.
	ClientSecret string
	// FederatedToken is the client assertion the token endpoint accepts
	// (the content of the workload identity's token file); "" accepts none.
	FederatedToken string
	// IdentityHeader is the X-IDENTITY-HEADER the managed identity endpoint
	// wants (default DefaultIdentityHeader).
	IdentityHeader string
	// ManagedIdentityClientID is the client id of a user-assigned managed
	// identity the managed identity endpoint knows; the system-assigned
	// identity (no client id) is always known.
	ManagedIdentityClientID string
	// Now is the clock of tokens and of the vault's timestamps (default
	// time.Now).
	Now func() time.Time
	// TokenLifetime is the lifetime of issued tokens (default 1h).
	TokenLifetime time.Duration
	// PageSize is the number of versions per page of a version list
	// (default DefaultPageSize).
	PageSize int
}

// SecretVersion is one version of a secret as the vault holds it.
type SecretVersion struct {
	Name, Version string
	// Value is the secret's value: the client secret's text, or for a
	// secret backing a certificate the PEM with the private key.
	Value       string
	ContentType string
	Tags        map[string]string
	Enabled     bool
	NotBefore   time.Time // zero when not set
	Expires     time.Time // zero when not set
	Created     time.Time
	Updated     time.Time
	Managed     bool // backs a certificate
}

// CertificateVersion is one version of a certificate as the vault holds it.
type CertificateVersion struct {
	Name, Version string
	Certificate   *x509.Certificate   // the leaf
	Chain         []*x509.Certificate // every certificate imported, the leaf first
	Key           crypto.Signer       // the private key imported
	ContentType   string              // of the backing secret
	Policy        map[string]any      // the policy sent, as decoded JSON
	Tags          map[string]string
	Enabled       bool
	Created       time.Time
	Updated       time.Time
}

// Call is one recorded vault request.
type Call struct {
	Op            string // one of the Op constants; "" for a path the fake does not serve
	Method        string
	Path          string // unescaped
	Query         url.Values
	Name, Version string
	// Token is the bearer token presented, "" if none (a request that
	// elicits the challenge).
	Token string
	// Body is the request's body as received. It holds the secret's text
	// or the private key: tests only.
	Body   []byte
	Status int
	// ErrorCode is the error answered: error.code, and the inner error's
	// code after a slash when there is one ("Conflict/ObjectIsDeletedButRecoverable").
	ErrorCode string
	At        time.Time
}

// TokenRequest is one recorded request for a token.
type TokenRequest struct {
	Tenant   string // "" for the managed identity endpoint
	Method   string // AuthClientSecret, AuthClientAssertion, AuthManagedIdentity
	ClientID string // for the managed identity: the client_id asked for, "" for the system-assigned identity
	Scope    string // for the managed identity: the resource
	Error    string // the OAuth error answered; "" when a token was issued
	At       time.Time
}

// Failure is an injected answer to a call.
type Failure struct {
	Status int // HTTP status; required
	// RetryAfter is sent as the Retry-After header when not empty: seconds
	// ("2") or an HTTP date.
	RetryAfter string
	// Code and InnerCode make error.code and error.innererror.code; Message
	// error.message (defaults from Status and the request).
	Code, InnerCode, Message string
	// EchoCredentials makes the message repeat what the request carried:
	// the Authorization header and the body (vault), or the client secret
	// and assertion (token endpoint).
	EchoCredentials bool
	// Op, when set, makes the failure wait for a vault call of that
	// operation; calls of other operations pass it by.
	Op string
}

// Unauthorized is Key Vault's answer to a token from the wrong issuer.
func Unauthorized() Failure {
	return Failure{Status: http.StatusUnauthorized, Code: "Unauthorized"}
}

// ForbiddenByAccessPolicy is Key Vault's answer when the vault's access
// policies do not give the caller the operation's permission.
func ForbiddenByAccessPolicy() Failure {
	return Failure{Status: http.StatusForbidden, Code: "Forbidden", InnerCode: "AccessDenied"}
}

// ForbiddenByRbac is Key Vault's answer when the vault uses Azure RBAC and
// no role assignment allows the operation.
func ForbiddenByRbac() Failure {
	return Failure{Status: http.StatusForbidden, Code: "Forbidden", InnerCode: "ForbiddenByRbac"}
}

// ForbiddenByFirewall is Key Vault's answer to a caller whose address the
// vault's firewall does not allow.
func ForbiddenByFirewall() Failure {
	return Failure{Status: http.StatusForbidden, Code: "Forbidden", InnerCode: "ForbiddenByFirewall"}
}

// TooManyRequests is Key Vault's throttling answer.
func TooManyRequests(retryAfter string) Failure {
	return Failure{Status: http.StatusTooManyRequests, Code: "Throttled", RetryAfter: retryAfter}
}

// ServerError is a 5xx answer (500 or 503 usually).
func ServerError(status int, retryAfter string) Failure {
	return Failure{Status: status, RetryAfter: retryAfter}
}

// DeletedButRecoverable is Key Vault's answer to writing a name that a
// soft-deleted object holds (SoftDelete makes the same answer from state).
func DeletedButRecoverable() Failure {
	return Failure{Status: http.StatusConflict, Code: "Conflict", InnerCode: "ObjectIsDeletedButRecoverable"}
}

// NotFound is a 404 that names no secret or certificate: the path is not a
// vault's.
func NotFound() Failure {
	return Failure{Status: http.StatusNotFound, Code: "NotFound"}
}

type issued struct {
	clientID string
	tenant   string
	audience string
	expires  time.Time
}

type secretObject struct {
	name     string // as first written
	versions []*SecretVersion
}

type certificateObject struct {
	name     string
	versions []*CertificateVersion
}

// Server is the fake. Create it with New and Close it when done.
type Server struct {
	opts      Options
	srv       *httptest.Server
	host      string // the vault's host
	certPool  *x509.CertPool
	client    *http.Client
	authority string // the challenge's authorization, without the tenant

	calls calls.Log[Call] // every call answered, oldest first; it has its own lock

	mu            sync.Mutex
	tokens        map[string]issued
	tokenRequests []TokenRequest
	tokenFailures []Failure
	failures      []Failure
	secrets       map[string]*secretObject      // by lower-case name
	certificates  map[string]*certificateObject // by lower-case name
	deleted       map[string]string             // lower-case name → "secret" or "certificate"
}

// New starts a fake. It panics when ClientID is missing: a bug in the test.
func New(opts Options) *Server {
	if opts.ClientID == "" {
		panic("keyvaultfake: Options.ClientID is required")
	}
	opts.VaultName = strings.ToLower(cmp.Or(opts.VaultName, DefaultVaultName))
	opts.TenantID = cmp.Or(opts.TenantID, DefaultTenant)
	opts.ChallengeTenant = cmp.Or(opts.ChallengeTenant, opts.TenantID)
	opts.Resource = strings.TrimSuffix(cmp.Or(opts.Resource, Resource), "/")
	opts.IdentityHeader = cmp.Or(opts.IdentityHeader, DefaultIdentityHeader)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	s := &Server{
		opts:         opts,
		host:         opts.VaultName + "." + VaultDomain,
		tokens:       map[string]issued{},
		secrets:      map[string]*secretObject{},
		certificates: map[string]*certificateObject{},
		deleted:      map[string]string{},
	}
	entra := http.NewServeMux()
	entra.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.serveEntraConfiguration)
	entra.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.serveToken)
	entra.HandleFunc("GET /msi/token", s.serveManagedIdentity)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.Host); (err == nil && strings.EqualFold(host, s.host)) || strings.EqualFold(r.Host, s.host) {
			s.serveVault(w, r)
			return
		}
		entra.ServeHTTP(w, r)
	}))
	cert := newServerCertificate(s.host)
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.srv.StartTLS()
	s.certPool = x509.NewCertPool()
	s.certPool.AddCert(cert.Leaf)
	s.authority = s.srv.URL
	s.client = s.newClient()
	return s
}

// newServerCertificate makes a self-signed certificate for the vault's host
// and the loopback addresses, usable as its own root.
func newServerCertificate(host string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: host + " (keyvaultfake)"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{host, "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func (s *Server) newClient() *http.Client {
	listener := s.srv.Listener.Addr().String()
	var d net.Dialer
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: s.certPool},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				host = strings.ToLower(host)
				switch {
				case host == s.host:
					return d.DialContext(ctx, network, listener)
				case strings.HasSuffix(host, "."+VaultDomain):
					return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
				case host == "localhost":
					return d.DialContext(ctx, network, addr)
				}
				if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
					return d.DialContext(ctx, network, addr)
				}
				return nil, fmt.Errorf("keyvaultfake: the fake's client dials only the fake and loopback addresses, not %s", addr)
			},
			ForceAttemptHTTP2: true,
		},
		Timeout: 30 * time.Second,
	}
}

// Close shuts the fake down.
func (s *Server) Close() { s.srv.Close() }

// URL is the fake's loopback base URL (the Entra endpoints), without a
// trailing slash.
func (s *Server) URL() string { return s.srv.URL }

// VaultURL is the vault's URL as the Azure portal shows it,
// "https://<name>.vault.azure.net/"; only Client reaches it.
func (s *Server) VaultURL() string { return "https://" + s.host + "/" }

// VaultHost is the vault's host name.
func (s *Server) VaultHost() string { return s.host }

// Client is an HTTP client that reaches the vault and the Entra endpoints
// of the fake, trusts its certificate and dials nothing else.
func (s *Server) Client() *http.Client { return s.client }

// CertPool holds the fake's TLS certificate, for clients of one's own.
func (s *Server) CertPool() *x509.CertPool { return s.certPool }

// AuthorityHost is the Entra authority host, for azidentity's
// cloud.Configuration.ActiveDirectoryAuthorityHost (with
// DisableInstanceDiscovery).
func (s *Server) AuthorityHost() string { return s.URL() + "/" }

// ManagedIdentityEndpoint is the URL for IDENTITY_ENDPOINT (App Service
// managed identity protocol).
func (s *Server) ManagedIdentityEndpoint() string { return s.URL() + "/msi/token" }

// TenantID is the tenant of the bot's identity.
func (s *Server) TenantID() string { return s.opts.TenantID }

// ClientID is the bot's identity's client id.
func (s *Server) ClientID() string { return s.opts.ClientID }

// FailNext answers the next times authorised vault calls (of f.Op, when
// set) with f.
func (s *Server) FailNext(times int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range times {
		s.failures = append(s.failures, f)
	}
}

// FailTokens answers the next times token requests (any endpoint) with f.
func (s *Server) FailTokens(times int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range times {
		s.tokenFailures = append(s.tokenFailures, f)
	}
}

// PendingFailures returns how many injected vault failures are not used
// yet.
func (s *Server) PendingFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.failures)
}

// TokenRequests returns the recorded token requests, oldest first.
func (s *Server) TokenRequests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokenRequests)
}

// IssuedTokens returns every access token the fake issued.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for t := range s.tokens {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Calls returns the recorded vault calls of op ("" for all), oldest first.
func (s *Server) Calls(op string) []Call {
	return s.calls.Matching(ofOp(op, nil))
}

// WaitFor waits until a vault call of op ("" for any) satisfying pred (nil
// for any) has been recorded and returns the first such call, or ctx's
// error when ctx ends first.
func (s *Server) WaitFor(ctx context.Context, op string, pred func(Call) bool) (Call, error) {
	c, err := s.calls.WaitFor(ctx, ofOp(op, pred))
	if err != nil {
		return Call{}, fmt.Errorf("keyvaultfake: waiting for a %q call: %w", op, err)
	}
	return c, nil
}

// ofOp matches the calls of op ("" for any) that satisfy pred (nil for
// any).
func ofOp(op string, pred func(Call) bool) func(Call) bool {
	return func(c Call) bool {
		return (op == "" || c.Op == op) && (pred == nil || pred(c))
	}
}

// SecretVersions returns the versions of a secret, oldest first (nil when
// there is none, or it is deleted).
func (s *Server) SecretVersions(name string) []SecretVersion {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.secrets[strings.ToLower(name)]
	if o == nil {
		return nil
	}
	out := make([]SecretVersion, len(o.versions))
	for i, v := range o.versions {
		out[i] = v.clone()
	}
	return out
}

// Secret returns a version of a secret ("" for the newest).
func (s *Server) Secret(name, version string) (SecretVersion, bool) {
	vs := s.SecretVersions(name)
	for i := len(vs) - 1; i >= 0; i-- {
		if version == "" || vs[i].Version == version {
			return vs[i], true
		}
	}
	return SecretVersion{}, false
}

// SecretNames returns the names of the secrets in the vault, sorted.
func (s *Server) SecretNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, o := range s.secrets {
		out = append(out, o.name)
	}
	slices.Sort(out)
	return out
}

// CertificateVersions returns the versions of a certificate, oldest first.
func (s *Server) CertificateVersions(name string) []CertificateVersion {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.certificates[strings.ToLower(name)]
	if o == nil {
		return nil
	}
	out := make([]CertificateVersion, len(o.versions))
	for i, v := range o.versions {
		out[i] = v.clone()
	}
	return out
}

// SeedSecret writes a secret version as someone other than the bot would
// (no call is recorded) and returns its version.
func (s *Server) SeedSecret(name, value, contentType string, tags map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := &SecretVersion{
		Name: name, Version: newVersion(), Value: value, ContentType: contentType, Tags: cloneMap(tags),
		Enabled: true, Created: s.now(), Updated: s.now(),
	}
	o := s.secrets[strings.ToLower(name)]
	if o == nil {
		o = &secretObject{name: name}
		s.secrets[strings.ToLower(name)] = o
	}
	o.versions = append(o.versions, v)
	return v.Version
}

// SoftDelete deletes the secret or certificate of that name (every version)
// the way a vault with soft-delete does: the name stays taken until Recover
// or Purge. A name that holds nothing becomes a deleted secret.
func (s *Server) SoftDelete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(name)
	kind := "secret"
	if _, ok := s.certificates[key]; ok {
		kind = "certificate"
	}
	s.deleted[key] = kind
	// The objects are kept for Recover.
}

// Recover brings back a soft-deleted name with its versions.
func (s *Server) Recover(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.deleted, strings.ToLower(name))
}

// Purge removes a soft-deleted name for good; its versions are gone.
func (s *Server) Purge(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(name)
	if _, ok := s.deleted[key]; !ok {
		return
	}
	delete(s.deleted, key)
	delete(s.secrets, key)
	delete(s.certificates, key)
}

func (v *SecretVersion) clone() SecretVersion {
	c := *v
	c.Tags = cloneMap(v.Tags)
	return c
}

func (v *CertificateVersion) clone() CertificateVersion {
	c := *v
	c.Tags = cloneMap(v.Tags)
	c.Chain = slices.Clone(v.Chain)
	return c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Second) }

// newVersion returns 32 lower-case hex digits, the form of Key Vault's
// version ids.
func newVersion() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ---- Entra ----

func (s *Server) serveEntraConfiguration(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if tenant != s.opts.TenantID {
		s.oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant), "")
		return
	}
	base := s.URL() + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                   base + "/v2.0",
		"authorization_endpoint":   base + "/oauth2/v2.0/authorize",
		"token_endpoint":           base + "/oauth2/v2.0/token",
		"jwks_uri":                 base + "/discovery/v2.0/keys",
		"response_types_supported": []string{"code", "id_token", "code id_token", "id_token token"},
		"tenant_region_scope":      "WW",
		"cloud_instance_name":      "microsoftonline.com",
	})
}

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	req := TokenRequest{
		Tenant: tenant, Method: AuthClientSecret, ClientID: r.PostFormValue("client_id"),
		Scope: r.PostFormValue("scope"), At: s.opts.Now(),
	}
	secret, assertion := r.PostFormValue("client_secret"), r.PostFormValue("client_assertion")
	if assertion != "" || r.PostFormValue("client_assertion_type") != "" {
		req.Method = AuthClientAssertion
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.tokenRequests = append(s.tokenRequests, req) }()
	fail := func(status int, code string, aadsts int, description, echo string) {
		req.Error = code
		s.oauthError(w, status, code, aadsts, description, echo)
	}
	if f, ok := s.nextTokenFailure(); ok {
		echo := ""
		if f.EchoCredentials {
			echo = "client_secret=" + secret + " client_assertion=" + assertion
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		fail(f.Status, cmp.Or(f.Code, "temporarily_unavailable"), 0, cmp.Or(f.Message, http.StatusText(f.Status)+"."), echo)
		return
	}
	grant := r.PostFormValue("grant_type")
	switch {
	case tenant != s.opts.TenantID:
		fail(http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant), "")
	case grant != "client_credentials":
		fail(http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+grant+"'.", "")
	case req.ClientID != s.opts.ClientID:
		fail(http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", req.ClientID, tenant), "")
	case req.Method == AuthClientAssertion && (r.PostFormValue("client_assertion_type") != assertionType || s.opts.FederatedToken == "" || assertion != s.opts.FederatedToken):
		fail(http.StatusBadRequest, "invalid_client", 700211, "No matching federated identity record found for presented assertion.", "")
	case req.Method == AuthClientSecret && (s.opts.ClientSecret == "" || secret != s.opts.ClientSecret):
		fail(http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", req.ClientID), "")
	case !slices.Equal(resourceScopes(req.Scope), []string{s.opts.Resource + "/.default"}):
		fail(http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid.", req.Scope), "")
	default:
		tok := s.issue(req.ClientID, tenant, s.opts.Resource)
		secs := int(s.opts.TokenLifetime / time.Second)
		writeJSON(w, http.StatusOK, map[string]any{
			"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok,
		})
	}
}

// resourceScopes are the scopes of a token request without the OpenID
// ones MSAL adds.
func resourceScopes(scope string) []string {
	var out []string
	for _, f := range strings.Fields(scope) {
		if !slices.Contains([]string{"openid", "profile", "offline_access"}, f) {
			out = append(out, f)
		}
	}
	return out
}

// serveManagedIdentity speaks the App Service managed identity protocol
// (api-version 2019-08-01).
func (s *Server) serveManagedIdentity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := TokenRequest{Method: AuthManagedIdentity, ClientID: q.Get("client_id"), Scope: q.Get("resource"), At: s.opts.Now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.tokenRequests = append(s.tokenRequests, req) }()
	fail := func(status int, message string) {
		req.Error = strconv.Itoa(status)
		writeJSON(w, status, map[string]any{"statusCode": status, "message": message})
	}
	if f, ok := s.nextTokenFailure(); ok {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		fail(f.Status, cmp.Or(f.Message, http.StatusText(f.Status)))
		return
	}
	switch {
	case r.Header.Get("X-IDENTITY-HEADER") != s.opts.IdentityHeader:
		fail(http.StatusUnauthorized, "The X-IDENTITY-HEADER is missing or wrong.")
	case req.ClientID != "" && req.ClientID != s.opts.ManagedIdentityClientID:
		fail(http.StatusBadRequest, "No user-assigned identity with client id "+req.ClientID+" is assigned to this resource.")
	case req.Scope == "":
		fail(http.StatusBadRequest, "The resource parameter is required.")
	default:
		clientID := cmp.Or(req.ClientID, "system-assigned")
		tok := s.issue(clientID, s.opts.TenantID, strings.TrimSuffix(req.Scope, "/"))
		expires := s.opts.Now().Add(s.opts.TokenLifetime)
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": tok, "expires_on": strconv.FormatInt(expires.Unix(), 10), "resource": req.Scope,
			"token_type": "Bearer", "client_id": clientID,
		})
	}
}

func (s *Server) nextTokenFailure() (Failure, bool) {
	if len(s.tokenFailures) == 0 {
		return Failure{}, false
	}
	f := s.tokenFailures[0]
	s.tokenFailures = s.tokenFailures[1:]
	return f, true
}

// issue makes an opaque access token (the clients do not read it). Called
// with s.mu held.
func (s *Server) issue(clientID, tenant, audience string) string {
	tok := "kvfake." + rand.Text() + rand.Text()
	s.tokens[tok] = issued{clientID: clientID, tenant: tenant, audience: audience, expires: s.opts.Now().Add(s.opts.TokenLifetime)}
	return tok
}

// oauthError writes an error the way Entra's token service does (aadsts 0:
// no AADSTS code); echo, if not empty, is appended to the description.
func (s *Server) oauthError(w http.ResponseWriter, status int, code string, aadsts int, description, echo string) {
	trace, corr := rand.Text(), rand.Text()
	now := s.opts.Now().UTC().Format("2006-01-02 15:04:05Z")
	if echo != "" {
		description += " (request had " + echo + ")"
	}
	prefix, codes := "", []int{}
	if aadsts != 0 {
		prefix, codes = fmt.Sprintf("AADSTS%d: ", aadsts), []int{aadsts}
	}
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("%s%s Trace ID: %s Correlation ID: %s Timestamp: %s", prefix, description, trace, corr, now),
		"error_codes":       codes,
		"timestamp":         now,
		"trace_id":          trace,
		"correlation_id":    corr,
	})
}

// ---- the vault ----

// vaultError is an answer with Key Vault's error body.
type vaultError struct {
	status           int
	code, inner, msg string
}

func (e *vaultError) Error() string { return e.msg }

func badParameter(format string, args ...any) *vaultError {
	return &vaultError{status: http.StatusBadRequest, code: "BadParameter", msg: fmt.Sprintf(format, args...)}
}

var nameRule = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

func (s *Server) serveVault(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	call := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body, At: s.opts.Now()}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	call.Op, call.Name, call.Version = route(r.Method, segs)
	auth := r.Header.Get("Authorization")
	if scheme, tok, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
		call.Token = tok
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		s.calls.Record(call)
	}()
	answer := func(status int, v any) {
		call.Status = status
		writeJSON(w, status, v)
	}
	fail := func(e *vaultError) {
		call.ErrorCode = e.code
		errBody := map[string]any{"code": e.code, "message": e.msg}
		if e.inner != "" {
			call.ErrorCode += "/" + e.inner
			errBody["innererror"] = map[string]string{"code": e.inner}
		}
		answer(e.status, map[string]any{"error": errBody})
	}
	challenge := func(message string) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`, s.authority, s.opts.ChallengeTenant, s.opts.Resource))
		fail(&vaultError{status: http.StatusUnauthorized, code: "Unauthorized", msg: message})
	}

	if call.Token == "" {
		challenge("AKV10000: Request is missing a Bearer or PoP token.")
		return
	}
	t, ok := s.tokens[call.Token]
	switch {
	case !ok:
		challenge("AKV10032: Invalid issuer.")
		return
	case !s.opts.Now().Before(t.expires):
		challenge("AKV10022: Invalid audience or token expired.")
		return
	case t.audience != s.opts.Resource:
		challenge(fmt.Sprintf("AKV10022: Invalid audience. Expected %s, found: %s.", s.opts.Resource, t.audience))
		return
	case t.tenant != s.opts.ChallengeTenant:
		challenge(fmt.Sprintf("AKV10032: Invalid issuer. Expected one of https://sts.windows.net/%s/, found https://sts.windows.net/%s/.", s.opts.ChallengeTenant, t.tenant))
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		fail(&vaultError{status: http.StatusBadRequest, code: "BadParameter", msg: "The request is missing the api-version query parameter."})
		return
	}
	if i := slices.IndexFunc(s.failures, func(f Failure) bool { return f.Op == "" || f.Op == call.Op }); i >= 0 {
		f := s.failures[i]
		s.failures = slices.Delete(s.failures, i, i+1)
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		e := s.failure(f, call, t)
		if f.EchoCredentials {
			e.msg += " (request had Authorization: " + auth + "; body: " + string(body) + ")"
		}
		if f.Status == http.StatusUnauthorized {
			challenge(e.msg)
			return
		}
		fail(e)
		return
	}
	if call.Op == "" {
		fail(&vaultError{status: http.StatusNotFound, code: "NotFound", msg: "The requested path was not found."})
		return
	}
	if !nameRule.MatchString(call.Name) {
		fail(badParameter("The request URI contains an invalid name: %s", call.Name))
		return
	}
	var (
		out any
		err *vaultError
	)
	switch call.Op {
	case OpSetSecret:
		out, err = s.setSecret(call.Name, body)
	case OpGetSecret:
		out, err = s.getSecret(call.Name, call.Version)
	case OpListSecretVersions:
		out, err = s.listSecretVersions(call.Name, r.URL.Query())
	case OpUpdateSecret:
		out, err = s.updateSecret(call.Name, call.Version, body)
	case OpImportCertificate:
		out, err = s.importCertificate(call.Name, body)
	case OpGetCertificate:
		out, err = s.getCertificate(call.Name, call.Version)
	case OpListCertificateVersions:
		out, err = s.listCertificateVersions(call.Name, r.URL.Query())
	case OpUpdateCertificate:
		out, err = s.updateCertificate(call.Name, call.Version, body)
	}
	if err != nil {
		fail(err)
		return
	}
	answer(http.StatusOK, out)
}

// route maps a request to its operation, object name and version.
func route(method string, segs []string) (op, name, version string) {
	if len(segs) < 2 || len(segs) > 3 {
		return "", "", ""
	}
	name = segs[1]
	third := ""
	if len(segs) == 3 {
		third = segs[2]
	}
	switch segs[0] {
	case "secrets":
		switch {
		case method == http.MethodPut && len(segs) == 2:
			return OpSetSecret, name, ""
		case method == http.MethodGet && third == "versions":
			return OpListSecretVersions, name, ""
		case method == http.MethodGet:
			return OpGetSecret, name, third
		case method == http.MethodPatch && third != "":
			return OpUpdateSecret, name, third
		}
	case "certificates":
		switch {
		case method == http.MethodPost && third == "import":
			return OpImportCertificate, name, ""
		case method == http.MethodGet && third == "versions":
			return OpListCertificateVersions, name, ""
		case method == http.MethodGet:
			return OpGetCertificate, name, third
		case method == http.MethodPatch && third != "":
			return OpUpdateCertificate, name, third
		}
	}
	return "", name, ""
}

// failure makes the body of an injected failure, with Key Vault's messages
// for the request.
func (s *Server) failure(f Failure, call Call, t issued) *vaultError {
	e := &vaultError{status: f.Status, code: f.Code, inner: f.InnerCode, msg: f.Message}
	if e.code == "" {
		e.code = strings.ReplaceAll(http.StatusText(f.Status), " ", "")
	}
	if e.msg != "" {
		return e
	}
	object, perm, action := "secret", "secrets", "secrets"
	if strings.Contains(call.Op, "certificate") {
		object, perm, action = "certificate", "certificates", "certificates"
	}
	verb := map[string]string{
		OpSetSecret: "set", OpGetSecret: "get", OpListSecretVersions: "list", OpUpdateSecret: "set",
		OpImportCertificate: "import", OpGetCertificate: "get", OpListCertificateVersions: "list", OpUpdateCertificate: "update",
	}[call.Op]
	rbac := map[string]string{
		OpSetSecret: "setSecret/action", OpGetSecret: "getSecret/action", OpListSecretVersions: "readMetadata/action", OpUpdateSecret: "write",
		OpImportCertificate: "import/action", OpGetCertificate: "read", OpListCertificateVersions: "read", OpUpdateCertificate: "write",
	}[call.Op]
	caller := fmt.Sprintf("appid=%s;oid=%s;iss=https://sts.windows.net/%s/", t.clientID, "6a1f0c2e-7b3d-4e5f-8a9b-0c1d2e3f4a5b", t.tenant)
	vault := s.opts.VaultName + ";location=westeurope"
	switch {
	case f.Status == http.StatusUnauthorized:
		e.msg = fmt.Sprintf("AKV10032: Invalid issuer. Expected one of https://sts.windows.net/%s/, found https://sts.windows.net/%s/.", s.opts.ChallengeTenant, "00000000-0000-0000-0000-000000000000")
	case f.Status == http.StatusForbidden && f.InnerCode == "ForbiddenByRbac":
		e.msg = fmt.Sprintf("Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: %s\r\nAction: 'Microsoft.KeyVault/vaults/%s/%s'\r\nResource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/microsoft.keyvault/vaults/%s/%s/%s'\r\nAssignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC'\r\nVault: %s\r\n", caller, action, rbac, s.opts.VaultName, action, strings.ToLower(call.Name), vault)
	case f.Status == http.StatusForbidden && f.InnerCode == "ForbiddenByFirewall":
		e.msg = fmt.Sprintf("Client address is not authorized and caller is not a trusted service.\r\nClient address: 203.0.113.7\r\nCaller: %s\r\nVault: %s", caller, vault)
	case f.Status == http.StatusForbidden:
		e.msg = fmt.Sprintf("The user, group or application '%s' does not have %s %s permission on key vault '%s'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287", caller, perm, verb, vault)
	case f.Status == http.StatusTooManyRequests:
		e.msg = "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"
	case f.Status == http.StatusConflict && f.InnerCode == "ObjectIsDeletedButRecoverable":
		e.msg = fmt.Sprintf("%s %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the %s can only be recovered or purged.", capitalize(object), call.Name, object)
	case f.Status == http.StatusNotFound:
		e.msg = "The requested resource was not found."
	default:
		e.msg = http.StatusText(f.Status) + "."
	}
	return e
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// unixTime is Key Vault's timestamp: seconds since the epoch.
type unixTime = int64

type attributes struct {
	Enabled         *bool     `json:"enabled,omitempty"`
	NotBefore       *unixTime `json:"nbf,omitempty"`
	Expires         *unixTime `json:"exp,omitempty"`
	Created         *unixTime `json:"created,omitempty"`
	Updated         *unixTime `json:"updated,omitempty"`
	RecoveryLevel   string    `json:"recoveryLevel,omitempty"`
	RecoverableDays int       `json:"recoverableDays,omitempty"`
}

func unixPtr(t time.Time) *unixTime {
	if t.IsZero() {
		return nil
	}
	u := t.Unix()
	return &u
}

func fromUnix(u *unixTime) time.Time {
	if u == nil {
		return time.Time{}
	}
	return time.Unix(*u, 0).UTC()
}

func attrs(enabled bool, nbf, exp, created, updated time.Time) attributes {
	return attributes{
		Enabled: &enabled, NotBefore: unixPtr(nbf), Expires: unixPtr(exp), Created: unixPtr(created), Updated: unixPtr(updated),
		RecoveryLevel: "Recoverable+Purgeable", RecoverableDays: 90,
	}
}

func (s *Server) id(kind, name, version string) string {
	return s.VaultURL() + kind + "/" + name + "/" + version
}

func (s *Server) secretBundle(v *SecretVersion, withValue bool) map[string]any {
	out := map[string]any{
		"id":         s.id("secrets", v.Name, v.Version),
		"attributes": attrs(v.Enabled, v.NotBefore, v.Expires, v.Created, v.Updated),
		"tags":       v.Tags,
	}
	if v.ContentType != "" {
		out["contentType"] = v.ContentType
	}
	if v.Managed {
		out["managed"] = true
		out["kid"] = s.id("keys", v.Name, v.Version)
	}
	if withValue {
		out["value"] = v.Value
	}
	return out
}

func checkTags(tags map[string]string) *vaultError {
	if len(tags) > MaxTags {
		return badParameter("Too many tags: %d, at most %d are allowed.", len(tags), MaxTags)
	}
	for k, v := range tags {
		if k == "" || len(k) > MaxTagName {
			return badParameter("Tag name %q is empty or longer than %d characters.", k, MaxTagName)
		}
		if len([]rune(v)) > MaxTagValue {
			return badParameter("The value of tag %q is longer than %d characters.", k, MaxTagValue)
		}
	}
	return nil
}

// liveSecret returns the secret object of a name, or the answer Key Vault gives
// when there is none. Called with s.mu held.
func (s *Server) liveSecret(name, version string) (*secretObject, *vaultError) {
	key := strings.ToLower(name)
	o := s.secrets[key]
	if _, gone := s.deleted[key]; gone || o == nil {
		return nil, secretNotFound(name, version)
	}
	return o, nil
}

func secretNotFound(name, version string) *vaultError {
	id := name
	if version != "" {
		id += "/" + version
	}
	return &vaultError{status: http.StatusNotFound, code: "SecretNotFound", msg: fmt.Sprintf("A secret with (name/id) %s was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", id)}
}

func (s *Server) deletedConflict(name string) *vaultError {
	kind, gone := s.deleted[strings.ToLower(name)]
	if !gone {
		return nil
	}
	return &vaultError{
		status: http.StatusConflict, code: "Conflict", inner: "ObjectIsDeletedButRecoverable",
		msg: fmt.Sprintf("%s %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the %s can only be recovered or purged.", capitalize(kind), name, kind),
	}
}

func (s *Server) setSecret(name string, body []byte) (any, *vaultError) {
	var in struct {
		Value       *string           `json:"value"`
		ContentType string            `json:"contentType"`
		Attributes  attributes        `json:"attributes"`
		Tags        map[string]string `json:"tags"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, badParameter("The request body is not valid JSON: %v", err)
	}
	if e := s.deletedConflict(name); e != nil {
		return nil, e
	}
	switch {
	case in.Value == nil:
		return nil, badParameter("Property value is required.")
	case len(*in.Value) > MaxSecretValueSize:
		return nil, badParameter("The secret's value is larger than %d bytes.", MaxSecretValueSize)
	case len(in.ContentType) > MaxContentType:
		return nil, badParameter("The content type is longer than %d characters.", MaxContentType)
	}
	if e := checkTags(in.Tags); e != nil {
		return nil, e
	}
	key := strings.ToLower(name)
	o := s.secrets[key]
	if o != nil && len(o.versions) > 0 && o.versions[0].Managed {
		return nil, &vaultError{status: http.StatusConflict, code: "Conflict", msg: fmt.Sprintf("Secret %s is managed by a certificate; set it by importing or creating the certificate.", name)}
	}
	if o == nil {
		o = &secretObject{name: name}
		s.secrets[key] = o
	}
	now := s.now()
	v := &SecretVersion{
		Name: o.name, Version: newVersion(), Value: *in.Value, ContentType: in.ContentType, Tags: in.Tags,
		Enabled:   in.Attributes.Enabled == nil || *in.Attributes.Enabled,
		NotBefore: fromUnix(in.Attributes.NotBefore), Expires: fromUnix(in.Attributes.Expires),
		Created: now, Updated: now,
	}
	o.versions = append(o.versions, v)
	return s.secretBundle(v, true), nil
}

func findVersion[T any](versions []*T, version string, id func(*T) string) *T {
	for i := len(versions) - 1; i >= 0; i-- {
		if version == "" || id(versions[i]) == version {
			return versions[i]
		}
	}
	return nil
}

func (s *Server) getSecret(name, version string) (any, *vaultError) {
	o, e := s.liveSecret(name, version)
	if e != nil {
		return nil, e
	}
	v := findVersion(o.versions, version, func(v *SecretVersion) string { return v.Version })
	if v == nil {
		return nil, secretNotFound(name, version)
	}
	if !v.Enabled {
		return nil, &vaultError{status: http.StatusForbidden, code: "Forbidden", inner: "SecretDisabled", msg: "Operation get is not allowed on a disabled secret."}
	}
	return s.secretBundle(v, true), nil
}

// page returns the items of one page and the next page's link.
func (s *Server) page(kind, name string, items []any, q url.Values) (map[string]any, *vaultError) {
	skip := 0
	if t := q.Get("$skiptoken"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return nil, badParameter("Invalid $skiptoken.")
		}
		skip = n
	}
	skip = min(skip, len(items))
	end := min(skip+s.opts.PageSize, len(items))
	out := map[string]any{"value": items[skip:end], "nextLink": nil}
	if end < len(items) {
		next := url.Values{"api-version": {q.Get("api-version")}, "$skiptoken": {strconv.Itoa(end)}}
		out["nextLink"] = s.VaultURL() + kind + "/" + name + "/versions?" + next.Encode()
	}
	return out, nil
}

func (s *Server) listSecretVersions(name string, q url.Values) (any, *vaultError) {
	o, e := s.liveSecret(name, "")
	if e != nil {
		return nil, e
	}
	items := make([]any, 0, len(o.versions))
	for _, v := range o.versions {
		items = append(items, s.secretBundle(v, false))
	}
	return s.page("secrets", o.name, items, q)
}

func (s *Server) updateSecret(name, version string, body []byte) (any, *vaultError) {
	var in struct {
		ContentType *string           `json:"contentType"`
		Attributes  *attributes       `json:"attributes"`
		Tags        map[string]string `json:"tags"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, badParameter("The request body is not valid JSON: %v", err)
	}
	o, e := s.liveSecret(name, version)
	if e != nil {
		return nil, e
	}
	v := findVersion(o.versions, version, func(v *SecretVersion) string { return v.Version })
	if v == nil {
		return nil, secretNotFound(name, version)
	}
	if in.Tags != nil {
		if e := checkTags(in.Tags); e != nil {
			return nil, e
		}
		v.Tags = in.Tags
	}
	if in.ContentType != nil {
		v.ContentType = *in.ContentType
	}
	if a := in.Attributes; a != nil {
		if a.Enabled != nil {
			v.Enabled = *a.Enabled
		}
		if a.Expires != nil {
			v.Expires = fromUnix(a.Expires)
		}
		if a.NotBefore != nil {
			v.NotBefore = fromUnix(a.NotBefore)
		}
	}
	v.Updated = s.now()
	return s.secretBundle(v, false), nil
}

// ---- certificates ----

const contentTypePEM = "application/x-pem-file"

func (s *Server) certificateBundle(v *CertificateVersion, item bool) map[string]any {
	thumb := sha1.Sum(v.Certificate.Raw)
	out := map[string]any{
		"id":         s.id("certificates", v.Name, v.Version),
		"x5t":        base64.RawURLEncoding.EncodeToString(thumb[:]),
		"attributes": attrs(v.Enabled, v.Certificate.NotBefore, v.Certificate.NotAfter, v.Created, v.Updated),
		"tags":       v.Tags,
	}
	if !item {
		out["kid"] = s.id("keys", v.Name, v.Version)
		out["sid"] = s.id("secrets", v.Name, v.Version)
		out["cer"] = base64.StdEncoding.EncodeToString(v.Certificate.Raw)
		policy := map[string]any{}
		for k, x := range v.Policy {
			policy[k] = x
		}
		policy["id"] = s.VaultURL() + "certificates/" + v.Name + "/policy"
		out["policy"] = policy
	}
	return out
}

func (s *Server) liveCertificate(name string) (*certificateObject, *vaultError) {
	key := strings.ToLower(name)
	o := s.certificates[key]
	if _, gone := s.deleted[key]; gone || o == nil {
		return nil, &vaultError{status: http.StatusNotFound, code: "CertificateNotFound", msg: fmt.Sprintf("A certificate with (name/id) %s was not found in this key vault. If you recently deleted this certificate you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", name)}
	}
	return o, nil
}

func (s *Server) importCertificate(name string, body []byte) (any, *vaultError) {
	var in struct {
		Value      string            `json:"value"`
		Password   string            `json:"pwd"`
		Policy     map[string]any    `json:"policy"`
		Attributes attributes        `json:"attributes"`
		Tags       map[string]string `json:"tags"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, badParameter("The request body is not valid JSON: %v", err)
	}
	if e := s.deletedConflict(name); e != nil {
		return nil, e
	}
	if e := checkTags(in.Tags); e != nil {
		return nil, e
	}
	key := strings.ToLower(name)
	if o := s.secrets[key]; o != nil && len(o.versions) > 0 && !o.versions[0].Managed {
		return nil, &vaultError{status: http.StatusConflict, code: "Conflict", msg: fmt.Sprintf("There is already a secret named %s that no certificate manages; a certificate cannot take its name.", name)}
	}
	contentType := ""
	if sp, ok := in.Policy["secret_props"].(map[string]any); ok {
		contentType, _ = sp["contentType"].(string)
	}
	if contentType != contentTypePEM {
		return nil, badParameter("keyvaultfake imports PEM only (policy.secret_props.contentType %q); PKCS#12 is not parsed by the fake.", contentType)
	}
	chain, priv, err := parsePEM(in.Value)
	if err != nil {
		return nil, badParameter("%v", err)
	}
	if kp, ok := in.Policy["key_props"].(map[string]any); ok {
		kty, _ := kp["kty"].(string)
		_, isRSA := priv.(*rsa.PrivateKey)
		_, isEC := priv.(*ecdsa.PrivateKey)
		switch {
		case kty == "":
		case (kty == "RSA" || kty == "RSA-HSM") && isRSA, (kty == "EC" || kty == "EC-HSM") && isEC:
		default:
			return nil, badParameter("The key type %s in the policy does not match the imported key.", kty)
		}
	}
	now := s.now()
	version := newVersion()
	enabled := in.Attributes.Enabled == nil || *in.Attributes.Enabled
	o := s.certificates[key]
	if o == nil {
		o = &certificateObject{name: name}
		s.certificates[key] = o
	}
	v := &CertificateVersion{
		Name: o.name, Version: version, Certificate: chain[0], Chain: chain, Key: priv, ContentType: contentType,
		Policy: in.Policy, Tags: in.Tags, Enabled: enabled, Created: now, Updated: now,
	}
	o.versions = append(o.versions, v)
	// The managed secret that holds the certificate with its key.
	so := s.secrets[key]
	if so == nil {
		so = &secretObject{name: o.name}
		s.secrets[key] = so
	}
	so.versions = append(so.versions, &SecretVersion{
		Name: o.name, Version: version, Value: in.Value, ContentType: contentType, Tags: cloneMap(in.Tags),
		Enabled: enabled, NotBefore: chain[0].NotBefore.UTC(), Expires: chain[0].NotAfter.UTC(), Created: now, Updated: now, Managed: true,
	})
	return s.certificateBundle(v, false), nil
}

// parsePEM reads certificates and one PKCS#8 private key, as Key Vault
// accepts them, and checks that the key is the leaf's.
func parsePEM(text string) ([]*x509.Certificate, crypto.Signer, error) {
	var (
		chain []*x509.Certificate
		key   crypto.Signer
		rest  = []byte(text)
	)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("a certificate in the PEM cannot be parsed: %v", err)
			}
			chain = append(chain, c)
		case "PRIVATE KEY":
			if key != nil {
				return nil, nil, errors.New("the PEM holds more than one private key")
			}
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("the private key cannot be parsed as PKCS#8: %v", err)
			}
			signer, ok := k.(crypto.Signer)
			if !ok {
				return nil, nil, errors.New("the private key is of an unsupported type")
			}
			key = signer
		case "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			return nil, nil, fmt.Errorf("the private key is a %q block: Key Vault takes an unencrypted PKCS#8 key (PRIVATE KEY)", b.Type)
		default:
			return nil, nil, fmt.Errorf("unexpected PEM block %q", b.Type)
		}
	}
	switch {
	case len(chain) == 0:
		return nil, nil, errors.New("the PEM holds no certificate")
	case key == nil:
		return nil, nil, errors.New("the PEM holds no private key: the certificate to import must contain its private key")
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(chain[0].PublicKey) {
		return nil, nil, errors.New("the private key does not match the certificate's public key")
	}
	return chain, key, nil
}

func (s *Server) getCertificate(name, version string) (any, *vaultError) {
	o, e := s.liveCertificate(name)
	if e != nil {
		return nil, e
	}
	v := findVersion(o.versions, version, func(v *CertificateVersion) string { return v.Version })
	if v == nil {
		return nil, &vaultError{status: http.StatusNotFound, code: "CertificateNotFound", msg: fmt.Sprintf("A certificate with (name/id) %s/%s was not found in this key vault.", name, version)}
	}
	return s.certificateBundle(v, false), nil
}

func (s *Server) listCertificateVersions(name string, q url.Values) (any, *vaultError) {
	o, e := s.liveCertificate(name)
	if e != nil {
		return nil, e
	}
	items := make([]any, 0, len(o.versions))
	for _, v := range o.versions {
		items = append(items, s.certificateBundle(v, true))
	}
	return s.page("certificates", o.name, items, q)
}

func (s *Server) updateCertificate(name, version string, body []byte) (any, *vaultError) {
	var in struct {
		Attributes *attributes       `json:"attributes"`
		Tags       map[string]string `json:"tags"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, badParameter("The request body is not valid JSON: %v", err)
	}
	o, e := s.liveCertificate(name)
	if e != nil {
		return nil, e
	}
	v := findVersion(o.versions, version, func(v *CertificateVersion) string { return v.Version })
	if v == nil {
		return nil, &vaultError{status: http.StatusNotFound, code: "CertificateNotFound", msg: fmt.Sprintf("A certificate with (name/id) %s/%s was not found in this key vault.", name, version)}
	}
	if in.Tags != nil {
		if e := checkTags(in.Tags); e != nil {
			return nil, e
		}
		v.Tags = in.Tags
	}
	if in.Attributes != nil && in.Attributes.Enabled != nil {
		v.Enabled = *in.Attributes.Enabled
		// The backing secret follows its certificate.
		if so := s.secrets[strings.ToLower(name)]; so != nil {
			if sv := findVersion(so.versions, v.Version, func(x *SecretVersion) string { return x.Version }); sv != nil {
				sv.Enabled = v.Enabled
				sv.Updated = s.now()
			}
		}
	}
	v.Updated = s.now()
	return s.certificateBundle(v, false), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("x-ms-request-id", rand.Text())
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
