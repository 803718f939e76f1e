package keyvault_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/fakes"
	"github.com/appreg-bot/appreg-bot/internal/keyvault"
	"github.com/appreg-bot/appreg-bot/internal/keyvaultfake"
	"github.com/appreg-bot/appreg-bot/internal/logging"
)

const (
	botClientID = "3c9e5b71-2f4a-4d8b-9c6e-1a7f0b2d4e68"
	// botSecret is the bot's own client secret; not shaped like an Entra
	// secret, so that only the package's own scrubbing can hide it.
	botSecret    = "bot-own-client-secret-value-7d41c2"
	signInAppID  = "aaaaaaaa-1111-4222-8333-bbbbbbbbbbbb" // AZURE_CLIENT_ID: the public sign-in app, never the bot
	tenantID     = keyvaultfake.DefaultTenant
	tenantDomain = "contoso.onmicrosoft.com"
	appClientID  = "0b6f1d2c-9e8a-4b7c-a5d3-e2f1c0b9a877"
	// secretText is a client secret being delivered; also not
	// Entra-shaped.
	secretText = "delivered-client-secret-text-5e0a9b"
)

var expiry = time.Date(2027, 3, 2, 9, 30, 15, 0, time.UTC)

// env is a fake vault, a sink on it with the bot's identity, and the
// sink's log.
type env struct {
	t    *testing.T
	kv   *keyvaultfake.Server
	sink *keyvault.Sink
	logs *fakes.Buffer
}

type envOption func(*keyvaultfake.Options, *keyvault.Config)

func withFake(f func(*keyvaultfake.Options)) envOption {
	return func(o *keyvaultfake.Options, _ *keyvault.Config) { f(o) }
}

func withSink(f func(*keyvault.Config)) envOption {
	return func(_ *keyvaultfake.Options, c *keyvault.Config) { f(c) }
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	o := keyvaultfake.Options{ClientID: botClientID, ClientSecret: botSecret}
	cfg := keyvault.Config{MaxRetries: 2, RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 2 * time.Second}
	for _, f := range opts {
		f(&o, &cfg)
	}
	kv := keyvaultfake.New(o)
	t.Cleanup(kv.Close)
	logs := &fakes.Buffer{}
	if cfg.Credential == nil {
		cred, err := keyvault.NewCredential(keyvault.CredentialConfig{
			TenantID: kv.TenantID(), ClientID: botClientID, ClientSecret: botSecret,
			AuthorityHost: kv.AuthorityHost(), DisableInstanceDiscovery: true, HTTPClient: kv.Client(),
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Credential = cred
	}
	if cfg.VaultURL == "" {
		cfg.VaultURL = kv.VaultURL()
	}
	cfg.HTTPClient = kv.Client()
	cfg.Logger = logging.New(logs, slog.LevelDebug)
	sink, err := keyvault.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, kv: kv, sink: sink, logs: logs}
}

func (e *env) deliver(c appreg.Credential) appreg.Delivered {
	e.t.Helper()
	d, err := e.sink.Deliver(ctx(e.t), c)
	if err != nil {
		e.t.Fatalf("Deliver: %v", err)
	}
	return d
}

func (e *env) retire(c appreg.Credential) {
	e.t.Helper()
	if err := e.sink.Retire(ctx(e.t), c); err != nil {
		e.t.Fatalf("Retire: %v", err)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// secretCredential is a client secret for service "teams" of registration
// "SBC-Contoso"; options change it.
func secretCredential(opts ...func(*appreg.Credential)) appreg.Credential {
	c := appreg.Credential{
		Kind: appreg.KindSecret, TenantID: tenantID, TenantDomain: tenantDomain, Registration: "SBC-Contoso",
		ClientID: appClientID, Service: "teams", KeyID: "11111111-aaaa-4bbb-8ccc-000000000001", Expires: expiry,
		Secret: secretText,
	}
	for _, f := range opts {
		f(&c)
	}
	return c
}

func keyID(id string) func(*appreg.Credential) {
	return func(c *appreg.Credential) { c.KeyID = id }
}

func service(s string) func(*appreg.Credential) {
	return func(c *appreg.Credential) { c.Service = s }
}

// certificateCredential is a certificate credential with a fresh key of the
// given algorithm ("rsa" or "ecdsa").
func certificateCredential(t *testing.T, alg string, opts ...func(*appreg.Credential)) appreg.Credential {
	t.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "SBC-Contoso teams"},
		NotBefore: time.Now().Add(-time.Hour).Truncate(time.Second), NotAfter: expiry,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	c := secretCredential(func(c *appreg.Credential) {
		c.Kind, c.Secret, c.Certificate, c.Key = appreg.KindCertificate, "", cert, appreg.NewPrivateKey(key)
		c.KeyID = "22222222-aaaa-4bbb-8ccc-000000000001"
	})
	for _, f := range opts {
		f(&c)
	}
	return c
}

// wantKind fails unless err is an *appreg.Error of kind whose message
// contains every one of parts.
func wantKind(t *testing.T, err error, kind appreg.Kind, parts ...string) {
	t.Helper()
	var ae *appreg.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want an *appreg.Error", err, err)
	}
	if ae.Kind != kind {
		t.Errorf("kind = %s, want %s (%v)", ae.Kind, kind, err)
	}
	for _, p := range parts {
		if !strings.Contains(ae.Message, p) {
			t.Errorf("message %q lacks %q", ae.Message, p)
		}
	}
}

// fakeCredential gives a token without asking anyone.
type fakeCredential struct{}

func (fakeCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "fake-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}
