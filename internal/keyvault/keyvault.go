// Package keyvault delivers the credentials the bot makes to an Azure Key
// Vault: the appreg.Sink named "keyvault".
//
// One Key Vault object holds the credentials of one service on one
// registration: a secret for client secrets, a certificate for
// certificates, named by ObjectName from the tenant's domain, the
// registration and the service (a certificate's name ends in "-cert" before
// its hash, because a Key Vault certificate owns a secret of its own name).
// A rotation adds a version to it; Retire
// disables the version of a credential that is gone from the tenant. Each
// version carries tags that say whose it is (tenant-id, tenant-domain,
// registration, client-id, service, key-id, kind, and replaces for a
// rotation), and its expiry: the secret's expires attribute, or the
// certificate's own end. A client secret's content type is
// ContentTypeClientSecret; a certificate is imported as PEM (the
// certificate and its PKCS#8 private key, content type
// application/x-pem-file, key exportable, issuer "Unknown" so that Key
// Vault never renews it with a key Entra ID does not know).
//
// Delivering is idempotent by key id: before writing, the sink lists the
// object's versions (metadata only, never values) and, when one carries
// the credential's key id, answers with that version; when the newest
// version carries no tags of the bot's for this tenant, it refuses to add
// to an object it did not write. Two replicas delivering the same
// credential at the same moment can still both write, and so can a retried
// write whose first answer was lost; the extra version holds the same
// credential and Retire disables it with the other.
//
// The bot's identity needs, on the vault: for secrets, the secret
// permissions List and Set (access policy) or the role Key Vault Secrets
// Officer (Azure RBAC); for certificates, the certificate permissions List,
// Import and Update, or Key Vault Certificates Officer. It never reads a
// value back, so Get is not needed.
//
// The clients are azsecrets and azcertificates, with Key Vault's challenge
// authentication (the resource the vault names must be a parent domain of
// the vault's host) and azcore's retry policy: 408, 429, 500, 502, 503 and
// 504 answers and transport errors are retried up to Config.MaxRetries
// times, waiting as Retry-After says when it says so; a Retry-After longer
// than Config.MaxRetryDelay ends the retries at once. Every error is an
// *appreg.Error whose message says what to do (see Deliver); its detail
// holds status, codes, request id and Key Vault's own message scrubbed of
// the credential and of anything shaped like a credential, never the SDK's
// error, whose text repeats the response body.
package keyvault

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// SinkName is the sink's name in BOT_SECRET_SINKS.
const SinkName = "keyvault"

// ContentTypeClientSecret is the content type of a Key Vault secret that
// holds a client secret's text.
const ContentTypeClientSecret = "application/x-appreg-client-secret"

// contentTypePEM is the content type of an imported certificate's secret.
const contentTypePEM = "application/x-pem-file"

// The tags of every version the sink writes.
const (
	TagTenantID     = "tenant-id"
	TagTenantDomain = "tenant-domain"
	TagRegistration = "registration"
	TagClientID     = "client-id"
	TagService      = "service"
	TagKeyID        = "key-id"
	TagKind         = "kind"
	TagReplaces     = "replaces" // the key id a rotation replaces
)

// maxTagValue is Key Vault's limit on a tag's value, in characters.
const maxTagValue = 256

// Defaults of Config.
const (
	DefaultMaxRetries    = 3
	DefaultRetryDelay    = time.Second
	DefaultMaxRetryDelay = 30 * time.Second
	DefaultTryTimeout    = 30 * time.Second
)

// Config configures a Sink.
type Config struct {
	// VaultURL is the vault's URI (BOT_KEYVAULT_URL), e.g.
	// https://contoso-appreg.vault.azure.net/; required, https, no path.
	VaultURL string
	// Credential is the bot's own identity (NewCredential); required.
	Credential azcore.TokenCredential
	// HTTPClient sends the requests (default: azcore's client). Tests
	// point it at a fake.
	HTTPClient *http.Client
	// Logger gets a line for every delivery and retirement (default: none).
	Logger *slog.Logger
	// MaxRetries is how many times a call is retried after a 408, 429, 5xx
	// or transport error (default DefaultMaxRetries; negative: none).
	MaxRetries int
	// RetryDelay is the first wait between tries when the vault names none;
	// it doubles each time (default DefaultRetryDelay).
	RetryDelay time.Duration
	// MaxRetryDelay caps a wait (default DefaultMaxRetryDelay). A
	// Retry-After longer than this ends the retries at once.
	MaxRetryDelay time.Duration
	// TryTimeout bounds one try (default DefaultTryTimeout).
	TryTimeout time.Duration
	// DisableChallengeResourceVerification lets the vault's challenge name
	// a resource that is not a parent domain of the vault's host. Only for
	// a vault reached under a host name outside its cloud's Key Vault
	// domain; with it, a server at VaultURL can get a token for anything
	// the bot's identity may access.
	DisableChallengeResourceVerification bool
}

// Sink delivers credentials to one Key Vault. It is safe for concurrent
// use.
type Sink struct {
	secrets *azsecrets.Client
	certs   *azcertificates.Client
	host    string // the vault's host
	vault   string // the vault's name, the first label of its host
	log     *slog.Logger
}

var _ appreg.Sink = (*Sink)(nil)

// ParseVaultURL parses a vault's URI: https, a host, and no path, user,
// query or fragment. Its error says what the URI must be.
func ParseVaultURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("must be a vault's URI, https://<vault name>.vault.azure.net/ (or its national cloud's), with no path")
	}
	return u, nil
}

// New returns a Sink for the vault at cfg.VaultURL. It makes no call; the
// first delivery finds out whether the vault and the identity work. Errors
// are of KindInvalid and name the setting.
func New(cfg Config) (*Sink, error) {
	u, err := ParseVaultURL(cfg.VaultURL)
	switch {
	case cfg.VaultURL == "":
		return nil, appreg.Errorf(appreg.KindInvalid, "BOT_KEYVAULT_URL is required for the keyvault sink: the vault's URI, e.g. https://<vault name>.vault.azure.net/.")
	case err != nil:
		return nil, appreg.Errorf(appreg.KindInvalid, "BOT_KEYVAULT_URL %s.", err)
	case cfg.Credential == nil:
		return nil, appreg.Errorf(appreg.KindInvalid, "The keyvault sink needs the bot's own identity (BOT_AZURE_TENANT_ID, BOT_AZURE_CLIENT_ID and BOT_AZURE_CLIENT_SECRET, or a workload or managed identity).")
	}
	host := strings.ToLower(u.Host)
	vaultURL := "https://" + host + "/"
	name, _, _ := strings.Cut(u.Hostname(), ".")

	opts := azcore.ClientOptions{
		Retry: policy.RetryOptions{
			MaxRetries:    int32(cfg.MaxRetries),
			RetryDelay:    cmp.Or(cfg.RetryDelay, DefaultRetryDelay),
			MaxRetryDelay: cmp.Or(cfg.MaxRetryDelay, DefaultMaxRetryDelay),
			TryTimeout:    cmp.Or(cfg.TryTimeout, DefaultTryTimeout),
		},
		Telemetry: policy.TelemetryOptions{ApplicationID: "appreg-bot"},
	}
	if cfg.MaxRetries == 0 {
		opts.Retry.MaxRetries = DefaultMaxRetries
	}
	if cfg.HTTPClient != nil {
		opts.Transport = cfg.HTTPClient
	}
	cred := tokenSource{cfg.Credential}
	secrets, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{
		ClientOptions: opts, DisableChallengeResourceVerification: cfg.DisableChallengeResourceVerification,
	})
	if err != nil {
		return nil, appreg.Wrap(appreg.KindInvalid, err, "The Key Vault secrets client cannot be made for BOT_KEYVAULT_URL.")
	}
	certs, err := azcertificates.NewClient(vaultURL, cred, &azcertificates.ClientOptions{
		ClientOptions: opts, DisableChallengeResourceVerification: cfg.DisableChallengeResourceVerification,
	})
	if err != nil {
		return nil, appreg.Wrap(appreg.KindInvalid, err, "The Key Vault certificates client cannot be made for BOT_KEYVAULT_URL.")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sink{secrets: secrets, certs: certs, host: host, vault: name, log: log.With("sink", SinkName, "vault", host)}, nil
}

// tokenSource hands the SDK the bot's tokens and turns every failure to get
// one into an *identityError, so that no credential's error text (which may
// repeat what Entra ID answered) travels further.
type tokenSource struct{ cred azcore.TokenCredential }

func (t tokenSource) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := t.cred.GetToken(ctx, opts)
	if err != nil {
		return tok, newIdentityError(err)
	}
	return tok, nil
}

// Name returns "keyvault".
func (s *Sink) Name() string { return SinkName }

// Deliver writes the credential to the vault: a client secret as a new
// version of the secret ObjectName names, a certificate (c.Certificate and
// c.Key) as a new version of the certificate it names, with the package's
// tags and expiry. When a version already carries c.KeyID it writes nothing
// and names that version. Delivered.Where is "Key Vault <host>: secret
// <name>, version <version>" (or "certificate …").
//
// Errors, all *appreg.Error; their messages never hold the credential:
//   - KindInvalid: the credential is incomplete (no key id, no secret, a
//     key that is not the certificate's), Key Vault refused it as invalid
//     (400), or the vault asked for a token meant for another service.
//   - KindForbidden: Entra ID refused the bot's identity a token, the vault
//     is in another tenant, the vault refused the identity's token (401),
//     or it lacks a permission (403: the message names the access-policy
//     permissions or the RBAC role), or the vault's firewall refused it.
//   - KindConflict: a soft-deleted object holds the name (recover or purge
//     it: the message gives both commands), the name holds something the
//     bot did not write, or the credential's version was retired.
//   - KindNotFound: no vault at the URL (the name does not resolve, or 404).
//   - KindUnavailable: 408, 429 or 5xx after the retries, no answer, or
//     Entra ID busy or unreachable; an *appreg.Throttled in the chain
//     carries the vault's Retry-After.
//   - KindInternal: an answer the bot did not expect.
func (s *Sink) Deliver(ctx context.Context, c appreg.Credential) (appreg.Delivered, error) {
	kind := c.Kind.Named()
	name := ObjectName(kind, tenantDomain(c), c.Registration, c.Service)
	d, err := s.deliver(ctx, c, kind, name)
	if err != nil {
		s.log.WarnContext(ctx, "keyvault: delivering a credential failed", s.attrs(c, name, "", err)...)
	}
	return d, err
}

func (s *Sink) deliver(ctx context.Context, c appreg.Credential, kind appreg.CredentialKind, name string) (appreg.Delivered, error) {
	if err := checkCredential(c, true); err != nil {
		return appreg.Delivered{}, err
	}
	if kind == appreg.KindCertificate {
		return s.deliverCertificate(ctx, c, name)
	}
	return s.deliverSecret(ctx, c, name)
}

// Retire disables every enabled version that carries c.KeyID in the
// secret (or certificate, by c.Kind) ObjectName names. Nothing to disable,
// or no such object, is no error. Errors are those of Deliver.
func (s *Sink) Retire(ctx context.Context, c appreg.Credential) error {
	kind := c.Kind.Named()
	name := ObjectName(kind, tenantDomain(c), c.Registration, c.Service)
	err := s.retire(ctx, c, kind, name)
	if err != nil {
		s.log.WarnContext(ctx, "keyvault: retiring a credential failed", s.attrs(c, name, "", err)...)
	}
	return err
}

func (s *Sink) retire(ctx context.Context, c appreg.Credential, kind appreg.CredentialKind, name string) error {
	if err := checkCredential(c, false); err != nil {
		return err
	}
	versions, err := s.versions(ctx, kind, name)
	if err != nil {
		return err
	}
	disabled := 0
	for _, v := range versions {
		if !v.enabled || !strings.EqualFold(v.tags[TagKeyID], c.KeyID) {
			continue
		}
		off := false
		op := s.op("disable a version of", kind, name)
		if kind == appreg.KindCertificate {
			_, err = s.certs.UpdateCertificate(ctx, name, v.version, azcertificates.UpdateCertificateParameters{
				CertificateAttributes: &azcertificates.CertificateAttributes{Enabled: &off},
			}, nil)
			op.api = "UpdateCertificate"
		} else {
			_, err = s.secrets.UpdateSecretProperties(ctx, name, v.version, azsecrets.UpdateSecretPropertiesParameters{
				SecretAttributes: &azsecrets.SecretAttributes{Enabled: &off},
			}, nil)
			op.api = "UpdateSecretProperties"
		}
		if err != nil {
			return classify(ctx, err, op)
		}
		disabled++
		s.log.InfoContext(ctx, "keyvault: credential retired, version disabled", s.attrs(c, name, v.version, nil)...)
	}
	if disabled == 0 {
		s.log.DebugContext(ctx, "keyvault: nothing to retire", s.attrs(c, name, "", nil)...)
	}
	return nil
}

func (s *Sink) deliverSecret(ctx context.Context, c appreg.Credential, name string) (appreg.Delivered, error) {
	if d, done, err := s.existing(ctx, c, appreg.KindSecret, name); done || err != nil {
		return d, err
	}
	text := c.Secret.Reveal()
	params := azsecrets.SetSecretParameters{
		Value:            &text,
		ContentType:      ptr(ContentTypeClientSecret),
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: ptr(true), Expires: expires(c.Expires)},
		Tags:             tags(c),
	}
	resp, err := s.secrets.SetSecret(ctx, name, params, nil)
	if err != nil {
		return appreg.Delivered{}, classify(ctx, err, s.op("write", appreg.KindSecret, name).with("SetSecret"), text)
	}
	version := ""
	if resp.ID != nil {
		version = resp.ID.Version()
	}
	s.log.InfoContext(ctx, "keyvault: credential delivered", s.attrs(c, name, version, nil)...)
	return s.delivered(appreg.KindSecret, name, version), nil
}

func (s *Sink) deliverCertificate(ctx context.Context, c appreg.Credential, name string) (appreg.Delivered, error) {
	pemText, keyProps, err := encodeCertificate(c)
	if err != nil {
		return appreg.Delivered{}, err
	}
	if d, done, err := s.existing(ctx, c, appreg.KindCertificate, name); done || err != nil {
		return d, err
	}
	params := azcertificates.ImportCertificateParameters{
		Base64EncodedCertificate: &pemText, // PEM text, as Key Vault takes it with this content type
		CertificatePolicy: &azcertificates.CertificatePolicy{
			KeyProperties:    keyProps,
			SecretProperties: &azcertificates.SecretProperties{ContentType: ptr(contentTypePEM)},
			IssuerParameters: &azcertificates.IssuerParameters{Name: ptr("Unknown")},
		},
		CertificateAttributes: &azcertificates.CertificateAttributes{Enabled: ptr(true)},
		Tags:                  tags(c),
	}
	resp, err := s.certs.ImportCertificate(ctx, name, params, nil)
	if err != nil {
		return appreg.Delivered{}, classify(ctx, err, s.op("write", appreg.KindCertificate, name).with("ImportCertificate"), pemText)
	}
	version := ""
	if resp.ID != nil {
		version = resp.ID.Version()
	}
	s.log.InfoContext(ctx, "keyvault: credential delivered", s.attrs(c, name, version, nil)...)
	return s.delivered(appreg.KindCertificate, name, version), nil
}

// existing looks for the credential among the object's versions: done is
// true when one carries its key id (d names it). It fails when the object
// holds something the bot did not write, or the credential's version was
// retired.
func (s *Sink) existing(ctx context.Context, c appreg.Credential, kind appreg.CredentialKind, name string) (d appreg.Delivered, done bool, err error) {
	versions, err := s.versions(ctx, kind, name)
	if err != nil {
		return appreg.Delivered{}, false, err
	}
	object := s.op("", kind, name).object()
	for _, v := range versions {
		if !strings.EqualFold(v.tags[TagKeyID], c.KeyID) {
			continue
		}
		if !v.enabled {
			return appreg.Delivered{}, false, appreg.Errorf(appreg.KindConflict,
				"Key Vault %s holds this credential (key id %s) in %s %s, version %s, which is disabled: it was retired. Make a new credential.",
				s.host, c.KeyID, object, name, v.version)
		}
		s.log.InfoContext(ctx, "keyvault: credential already in the vault, nothing written", s.attrs(c, name, v.version, nil)...)
		return s.delivered(kind, name, v.version), true, nil
	}
	if newest := newestVersion(versions); newest != nil {
		if newest.tags[TagKind] != string(kind) || !strings.EqualFold(newest.tags[TagTenantID], c.TenantID) {
			why := "it carries none of the bot's tags"
			if t := newest.tags[TagTenantID]; t != "" {
				why = "its newest version is tagged for tenant " + t
			}
			return appreg.Delivered{}, false, appreg.Errorf(appreg.KindConflict,
				"Key Vault %s already holds a %s named %s that the bot did not write for this tenant (%s): remove or rename it, or use another vault.",
				s.host, object, name, why)
		}
	}
	return appreg.Delivered{}, false, nil
}

// version is what the sink reads of an object's version: metadata only.
type version struct {
	version string
	enabled bool
	created time.Time
	tags    map[string]string
}

func newestVersion(vs []version) *version {
	var newest *version
	for i := range vs {
		if newest == nil || !vs[i].created.Before(newest.created) {
			newest = &vs[i]
		}
	}
	return newest
}

// versions lists an object's versions; none when there is no such object.
func (s *Sink) versions(ctx context.Context, kind appreg.CredentialKind, name string) ([]version, error) {
	var (
		out []version
		err error
	)
	if kind == appreg.KindCertificate {
		out, err = collect(ctx, s.certs.NewListCertificatePropertiesVersionsPager(name, nil),
			func(page azcertificates.ListCertificatePropertiesVersionsResponse) (vs []version) {
				for _, p := range page.Value {
					if p != nil && p.ID != nil {
						var enabled *bool
						var created *time.Time
						if a := p.Attributes; a != nil {
							enabled, created = a.Enabled, a.Created
						}
						vs = append(vs, newVersion(p.ID.Version(), p.Tags, enabled, created))
					}
				}
				return vs
			})
		if err != nil {
			return nil, s.listError(ctx, err, kind, name, "CertificateNotFound")
		}
		return out, nil
	}
	out, err = collect(ctx, s.secrets.NewListSecretPropertiesVersionsPager(name, nil),
		func(page azsecrets.ListSecretPropertiesVersionsResponse) (vs []version) {
			for _, p := range page.Value {
				if p != nil && p.ID != nil {
					var enabled *bool
					var created *time.Time
					if a := p.Attributes; a != nil {
						enabled, created = a.Enabled, a.Created
					}
					vs = append(vs, newVersion(p.ID.Version(), p.Tags, enabled, created))
				}
			}
			return vs
		})
	if err != nil {
		return nil, s.listError(ctx, err, kind, name, "SecretNotFound")
	}
	return out, nil
}

// collect reads every page of a pager.
func collect[P any](ctx context.Context, pager *runtime.Pager[P], read func(P) []version) ([]version, error) {
	var out []version
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, read(page)...)
	}
	return out, nil
}

func newVersion(id string, tags map[string]*string, enabled *bool, created *time.Time) version {
	v := version{version: id, tags: deref(tags), enabled: enabled == nil || *enabled}
	if created != nil {
		v.created = *created
	}
	return v
}

// listError is nil for "no such object", the classified error otherwise.
func (s *Sink) listError(ctx context.Context, err error, kind appreg.CredentialKind, name, notFound string) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode == notFound {
		return nil
	}
	api := "ListSecretPropertiesVersions"
	if kind == appreg.KindCertificate {
		api = "ListCertificatePropertiesVersions"
	}
	return classify(ctx, err, s.op("read the versions of", kind, name).with(api))
}

func (s *Sink) op(verb string, kind appreg.CredentialKind, name string) operation {
	return operation{verb: verb, kind: kind, name: name, vault: s.host, vaultN: s.vault}
}

func (o operation) with(api string) operation { o.api = api; return o }

func (s *Sink) delivered(kind appreg.CredentialKind, name, version string) appreg.Delivered {
	object := "secret"
	if kind == appreg.KindCertificate {
		object = "certificate"
	}
	return appreg.Delivered{Sink: SinkName, Where: fmt.Sprintf("Key Vault %s: %s %s, version %s", s.host, object, name, version)}
}

// attrs are the log attributes of a delivery: who and where, never the
// credential ("name", not a key with "secret" in it, which the log
// handler drops).
func (s *Sink) attrs(c appreg.Credential, name, version string, err error) []any {
	out := []any{
		"kind", string(c.Kind.Named()), "name", name, "tenant_id", c.TenantID, "registration", c.Registration,
		"client_id", c.ClientID, "service", c.Service, "key_id", c.KeyID,
	}
	if version != "" {
		out = append(out, "version", version)
	}
	if !c.Expires.IsZero() {
		out = append(out, "expires", c.Expires.UTC())
	}
	if err != nil {
		out = append(out, "kind_of_error", string(appreg.ErrorKind(err)), "err", err)
	}
	return out
}

// tenantDomain is the tenant's domain, or its id when the domain is not
// known.
func tenantDomain(c appreg.Credential) string { return cmp.Or(c.TenantDomain, c.TenantID) }

// checkCredential checks what a delivery (full) or a retirement needs.
func checkCredential(c appreg.Credential, full bool) error {
	missing := func(what string) error {
		return appreg.Errorf(appreg.KindInvalid, "The credential cannot go to Key Vault: it has no %s.", what)
	}
	switch {
	case c.Kind != "" && c.Kind != appreg.KindSecret && c.Kind != appreg.KindCertificate:
		return appreg.Errorf(appreg.KindInvalid, "The credential cannot go to Key Vault: unknown kind %q.", c.Kind)
	case c.TenantID == "":
		return missing("tenant id")
	case c.Registration == "":
		return missing("registration name")
	case c.Service == "":
		return missing("service")
	case c.KeyID == "":
		return missing("key id")
	case !full:
		return nil
	case c.Kind.Named() == appreg.KindSecret && c.Secret == "":
		return missing("secret text")
	case c.Kind == appreg.KindCertificate && (c.Certificate == nil || c.Key.IsZero()):
		return missing("certificate with its private key")
	}
	return nil
}

// encodeCertificate makes the PEM Key Vault imports (the PKCS#8 private key
// and the certificate) and the policy's key properties.
func encodeCertificate(c appreg.Credential) (string, *azcertificates.KeyProperties, error) {
	signer := c.Key.Signer()
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(c.Certificate.PublicKey) {
		return "", nil, appreg.Errorf(appreg.KindInvalid, "The credential cannot go to Key Vault: its private key is not the certificate's.")
	}
	props := &azcertificates.KeyProperties{Exportable: ptr(true), ReuseKey: ptr(false)}
	switch k := signer.(type) {
	case *rsa.PrivateKey:
		props.KeyType = ptr(azcertificates.KeyTypeRSA)
		props.KeySize = ptr(int32(k.N.BitLen()))
	case *ecdsa.PrivateKey:
		props.KeyType = ptr(azcertificates.KeyTypeEC)
		switch k.Curve {
		case elliptic.P256():
			props.Curve = ptr(azcertificates.CurveNameP256)
		case elliptic.P384():
			props.Curve = ptr(azcertificates.CurveNameP384)
		case elliptic.P521():
			props.Curve = ptr(azcertificates.CurveNameP521)
		default:
			return "", nil, appreg.Errorf(appreg.KindInvalid, "The credential cannot go to Key Vault: its elliptic curve is not one Key Vault takes (P-256, P-384, P-521).")
		}
	default:
		return "", nil, appreg.Errorf(appreg.KindInvalid, "The credential cannot go to Key Vault: its key is neither RSA nor ECDSA.")
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return "", nil, appreg.Errorf(appreg.KindInvalid, "The credential cannot go to Key Vault: its private key cannot be encoded.")
	}
	var b strings.Builder
	_ = pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate.Raw})
	return b.String(), props, nil
}

// tags are the tags of a credential's version, each within Key Vault's
// 256 characters.
func tags(c appreg.Credential) map[string]*string {
	t := map[string]*string{
		TagTenantID:     tagValue(c.TenantID),
		TagTenantDomain: tagValue(tenantDomain(c)),
		TagRegistration: tagValue(c.Registration),
		TagClientID:     tagValue(c.ClientID),
		TagService:      tagValue(c.Service),
		TagKeyID:        tagValue(c.KeyID),
		TagKind:         tagValue(string(c.Kind.Named())),
	}
	if c.Replaces != "" {
		t[TagReplaces] = tagValue(c.Replaces)
	}
	return t
}

func tagValue(s string) *string {
	if utf8.RuneCountInString(s) > maxTagValue {
		s = string([]rune(s)[:maxTagValue])
	}
	return &s
}

func expires(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func ptr[T any](v T) *T { return &v }

func deref(m map[string]*string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}
