package entra

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Certificate credentials are the application's keyCredentials. Graph's
// addKey action needs a proof of possession signed by a key the application
// already has, so an application without one cannot use it; the bot
// updates the application instead (PATCH), which replaces the whole
// collection: every key credential the application has goes back with its
// keyId and no key (Graph keeps those as they are), beside the new one.

const (
	keyTypeX509  = "AsymmetricX509Cert"
	keyUsageAuth = "Verify"
)

// keyCredentials reads an application's key credentials (without keys).
func (s *session) keyCredentials(ctx context.Context, appObjectID string) ([]models.KeyCredentialable, error) {
	app, err := applications.NewApplicationsRequestBuilderInternal(s.params(), s.graph).ByApplicationId(appObjectID).Get(ctx,
		&applications.ApplicationItemRequestBuilderGetRequestConfiguration{QueryParameters: &applications.ApplicationItemRequestBuilderGetQueryParameters{
			Select: []string{"id", "keyCredentials"}}})
	if err != nil {
		return nil, s.graphError(ctx, "read the registration's certificates", err)
	}
	return app.GetKeyCredentials(), nil
}

// kept is a key credential as it goes back in an update: as Graph showed
// it, without its key.
func kept(k models.KeyCredentialable) models.KeyCredentialable {
	out := models.NewKeyCredential()
	out.SetKeyId(k.GetKeyId())
	out.SetTypeEscaped(k.GetTypeEscaped())
	out.SetUsage(k.GetUsage())
	out.SetDisplayName(k.GetDisplayName())
	out.SetCustomKeyIdentifier(k.GetCustomKeyIdentifier())
	out.SetStartDateTime(k.GetStartDateTime())
	out.SetEndDateTime(k.GetEndDateTime())
	return out
}

// setKeyCredentials replaces an application's key credentials.
func (s *session) setKeyCredentials(ctx context.Context, appObjectID string, keys []models.KeyCredentialable) error {
	body := models.NewApplication()
	body.SetKeyCredentials(keys)
	_, err := applications.NewApplicationsRequestBuilderInternal(s.params(), s.graph).ByApplicationId(appObjectID).Patch(ctx, body, nil)
	return err
}

// AddCertificate adds a self-signed certificate for key to the
// application's key credentials. When a tenant policy refuses the lifetime
// it makes the certificate again with the policy's maximum if the refusal
// names it, else with 180, 90 and 30 days, and sets Capped.
func (s *session) AddCertificate(ctx context.Context, appObjectID, name string, lifetime time.Duration, key appreg.PrivateKey) (appreg.Secret, error) {
	existing, err := s.keyCredentials(ctx, appObjectID)
	if err != nil {
		return appreg.Secret{}, err
	}
	l := lifetime
	for {
		start := s.t.cfg.Now().Add(-5 * time.Minute).UTC() // clock skew
		cert, err := appreg.SelfSignedCertificate(key, name, start, s.t.cfg.Now().Add(l).UTC())
		if err != nil {
			return appreg.Secret{}, appreg.Wrap(appreg.KindInternal, err, "The certificate could not be made.")
		}
		keyID := uuid.New()
		thumb, _ := hex.DecodeString(appreg.Thumbprint(cert))
		k := models.NewKeyCredential()
		k.SetKeyId(&keyID)
		k.SetTypeEscaped(ptr(keyTypeX509))
		k.SetUsage(ptr(keyUsageAuth))
		k.SetKey(cert.Raw)
		k.SetDisplayName(&name)
		k.SetCustomKeyIdentifier(thumb)
		k.SetStartDateTime(&cert.NotBefore)
		k.SetEndDateTime(&cert.NotAfter)
		keys := make([]models.KeyCredentialable, 0, len(existing)+1)
		for _, e := range existing {
			keys = append(keys, kept(e))
		}
		err = s.setKeyCredentials(ctx, appObjectID, append(keys, k))
		if err == nil {
			sec := appreg.Secret{Kind: appreg.KindCertificate, KeyID: keyID.String(), Name: name, Expires: cert.NotAfter, Capped: l != lifetime,
				Certificate: cert, Key: key, Thumbprint: appreg.Thumbprint(cert)}
			s.log.InfoContext(ctx, "certificate added", "object", appObjectID, "key", sec.KeyID, "thumbprint", sec.Thumbprint, "expires", sec.Expires, "capped", sec.Capped)
			return sec, nil
		}
		next, refused := s.policyLifetime(err, l)
		if !refused {
			return appreg.Secret{}, s.graphError(ctx, "add a certificate", err)
		}
		s.log.InfoContext(ctx, "certificate lifetime refused by tenant policy", "object", appObjectID, "requested", l, "next", next)
		if next == 0 {
			return appreg.Secret{}, appreg.Wrap(appreg.KindForbidden, err, "The tenant's credential policy refuses even a 30-day certificate.")
		}
		l = next
	}
}

// removeCertificate removes a key credential by key id; it reports false
// when the application has none of that id.
func (s *session) removeCertificate(ctx context.Context, appObjectID, keyID string) (bool, error) {
	existing, err := s.keyCredentials(ctx, appObjectID)
	if err != nil {
		return false, err
	}
	keys := make([]models.KeyCredentialable, 0, len(existing))
	found := false
	for _, e := range existing {
		if strings.EqualFold(uuidString(e.GetKeyId()), keyID) {
			found = true
			continue
		}
		keys = append(keys, kept(e))
	}
	if !found {
		return false, nil
	}
	if err := s.setKeyCredentials(ctx, appObjectID, keys); err != nil {
		return false, s.graphError(ctx, "remove the certificate", err)
	}
	s.log.InfoContext(ctx, "certificate removed", "object", appObjectID, "key", keyID)
	return true, nil
}

// certificates are an application's key credentials as credentials.
func certificates(keys []models.KeyCredentialable) []appreg.Secret {
	var out []appreg.Secret
	for _, k := range keys {
		if deref(k.GetUsage()) != keyUsageAuth {
			continue // a signing key, not a credential
		}
		out = append(out, appreg.Secret{Kind: appreg.KindCertificate, KeyID: uuidString(k.GetKeyId()), Name: deref(k.GetDisplayName()),
			Expires: deref(k.GetEndDateTime()), Thumbprint: strings.ToUpper(hex.EncodeToString(k.GetCustomKeyIdentifier()))})
	}
	return out
}

// CheckCertificate acquires an app-only token with a client assertion
// signed by key, for Microsoft Graph and for the Skype and Teams Tenant
// Admin API, once each, without retrying.
func (t *Tenant) CheckCertificate(ctx context.Context, tenantID, clientID string, cert *x509.Certificate, key appreg.PrivateKey) []appreg.CredentialCheck {
	if key.IsZero() || cert == nil {
		return failedChecks("the certificate or its key is missing")
	}
	cred, err := azidentity.NewClientCertificateCredential(tenantID, clientID, []*x509.Certificate{cert}, key.Signer(),
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: t.checkOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		return failedChecks("the certificate or the ids are not valid")
	}
	return t.tokenChecks(ctx, tenantID, clientID, cred, "")
}
