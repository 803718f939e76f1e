package appreg

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // the thumbprint Entra shows is SHA-1
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// CertificateKeyBits is the size of the RSA keys the bot makes for
// certificate credentials. Entra ID accepts client assertions signed with
// RSA only (PS256 or RS256), so the key is RSA; 2048 bits is what Entra
// asks at least.
const CertificateKeyBits = 2048

// NewCertificateKey makes the key pair of a certificate credential.
func NewCertificateKey() (PrivateKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, CertificateKeyBits)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("make a certificate key: %w", err)
	}
	return NewPrivateKey(k), nil
}

// SelfSignedCertificate makes a self-signed certificate for key, for
// client authentication, named CN=name and valid from start to end.
func SelfSignedCertificate(key PrivateKey, name string, start, end time.Time) (*x509.Certificate, error) {
	if key.IsZero() {
		return nil, fmt.Errorf("self-signed certificate: no key")
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    start.UTC().Truncate(time.Second),
		NotAfter:     end.UTC().Truncate(time.Second),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	signer := key.Signer()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// Thumbprint is a certificate's SHA-1 thumbprint in upper-case hex, as the
// Entra portal shows it.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw) //nolint:gosec // an identifier, not a signature
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// Signs reports whether key is the private key of cert.
func Signs(key PrivateKey, cert *x509.Certificate) bool {
	if key.IsZero() || cert == nil {
		return false
	}
	pub, ok := key.Signer().Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}
