package appreg

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// CredentialKind says what a credential is.
type CredentialKind string

// The kinds of credential the bot makes.
const (
	KindSecret      CredentialKind = "secret"      // a client secret (password credential)
	KindCertificate CredentialKind = "certificate" // a certificate (key credential) and its private key
)

// Credential is a client credential the bot made for a registration, as it
// is handed to a Sink: what identifies it, and the credential itself. The
// credential's material (Secret, Key) redacts itself when printed, logged
// or encoded.
type Credential struct {
	Kind         CredentialKind `json:"kind"`
	TenantID     string         `json:"tenant_id"`
	TenantDomain string         `json:"tenant_domain"`
	Registration string         `json:"registration"`
	ClientID     string         `json:"client_id"` // the application (client) id
	Service      string         `json:"service"`
	KeyID        string         `json:"key_id"`
	Expires      time.Time      `json:"expires"`
	// Replaces is the key id of the credential this one replaces (a
	// rotation), or "".
	Replaces string `json:"replaces,omitempty"`
	// Secret is a secret's text.
	Secret SecretText `json:"-"`
	// Thumbprint is a certificate's SHA-1 thumbprint (upper-case hex).
	Thumbprint string `json:"thumbprint,omitempty"`
	// Certificate is a certificate's public part; Key its private key.
	Certificate *x509.Certificate `json:"-"`
	Key         PrivateKey        `json:"-"`
}

// Noun is what people call a credential of the kind: "certificate" or
// "secret" ("" is a secret).
func (k CredentialKind) Noun() string {
	if k == KindCertificate {
		return "certificate"
	}
	return "secret"
}

// Named is the kind said explicitly: records keep a secret as "", a
// Credential says "secret".
func (k CredentialKind) Named() CredentialKind {
	if k == KindCertificate {
		return k
	}
	return KindSecret
}

// PrivateKey is a certificate's private key (*rsa.PrivateKey or
// *ecdsa.PrivateKey). Printed, logged or encoded it is [REDACTED]; Signer
// gives the key.
type PrivateKey struct{ signer crypto.Signer }

// NewPrivateKey wraps a private key.
func NewPrivateKey(k crypto.Signer) PrivateKey { return PrivateKey{signer: k} }

// Signer returns the key, for the one place that hands it over.
func (k PrivateKey) Signer() crypto.Signer { return k.signer }

// IsZero reports whether there is no key.
func (k PrivateKey) IsZero() bool { return k.signer == nil }

func (k PrivateKey) String() string                { return Redacted }
func (k PrivateKey) GoString() string              { return Redacted }
func (k PrivateKey) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, Redacted) }
func (k PrivateKey) LogValue() slog.Value          { return slog.StringValue(Redacted) }
func (k PrivateKey) MarshalJSON() ([]byte, error)  { return []byte(`"` + Redacted + `"`), nil }

// Delivered says where a sink put a credential, for people: the engineer
// sees it in place of the credential.
type Delivered struct {
	Sink string `json:"sink"` // "keyvault", "webhook"
	// Where names the place: a Key Vault secret's name and version, a
	// webhook delivery's id and address.
	Where string `json:"where"`
}

// Sink delivers credentials straight to where they are used (a Key Vault,
// the provider's platform), so that no person copies them. With sinks
// configured a credential never appears in chat.
//
// Deliver hands a credential over; it returns when the sink has it (after
// the sink's own retries), or an error that says why not: KindUnavailable
// when it may work later, KindForbidden when the bot is not allowed,
// KindInvalid for what retrying will not fix. Delivering the same
// credential again is harmless (the sink de-duplicates by key id).
//
// Retire tells the sink a credential is gone from the tenant (removed,
// replaced, never delivered elsewhere): Key Vault disables its version, the
// webhook sends credential.removed. Retiring one the sink never had is no
// error.
type Sink interface {
	Name() string
	Deliver(ctx context.Context, c Credential) (Delivered, error)
	Retire(ctx context.Context, c Credential) error
}
