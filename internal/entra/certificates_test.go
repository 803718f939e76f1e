package entra_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/simtenant"
)

func newKey(t *testing.T) appreg.PrivateKey {
	t.Helper()
	k, err := appreg.NewCertificateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCertificateCredentials: a certificate added beside one uploaded in
// the portal keeps that one; Inspect shows both; app-only tokens come with
// a client assertion signed by the new key (after replication) and not with
// another key; removal by key id takes only that certificate, and again is
// no error.
func TestCertificateCredentials(t *testing.T) {
	f := newFixture(t, simtenant.Options{})
	ctx := context.Background()
	sess := f.signIn(t, ga)
	app, err := sess.CreateApplication(ctx, "conv-1", "Contoso-DR", graphPerms())
	f.check(t, "CreateApplication", err)
	_, err = sess.EnsureServicePrincipal(ctx, app.AppID)
	f.check(t, "EnsureServicePrincipal", err)
	portalKey := newKey(t)
	portalCert, err := appreg.SelfSignedCertificate(portalKey, "uploaded", time.Now().Add(-time.Hour), time.Now().Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	uploaded, err := f.sim.AddCertificate(tenantID, app.AppID, "uploaded in the portal", portalCert)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := sess.AddSecret(ctx, app.ObjectID, "sbc0", 90*24*time.Hour)
	f.check(t, "AddSecret", err)

	f.sim.SetReplicationDelay(1)
	key := newKey(t)
	cert, err := sess.AddCertificate(ctx, app.ObjectID, "sbc1", 365*24*time.Hour, key)
	f.check(t, "AddCertificate", err)
	f.sim.SetReplicationDelay(0)
	if !cert.IsCertificate() || cert.Certificate == nil || !appreg.Signs(key, cert.Certificate) || cert.Capped ||
		cert.Certificate.Subject.CommonName != "sbc1" || cert.Thumbprint != appreg.Thumbprint(cert.Certificate) {
		t.Fatalf("AddCertificate = %+v", cert)
	}
	if d := cert.Expires.Sub(time.Now().Add(365 * 24 * time.Hour)); d < -time.Minute || d > time.Minute {
		t.Errorf("expires %v, want a year from now", cert.Expires)
	}
	got := f.sim.Applications(tenantID)[0].Certificates
	if len(got) != 2 || got[0].KeyID != uploaded.KeyID || got[1].KeyID != cert.KeyID || got[1].Thumbprint != cert.Thumbprint {
		t.Fatalf("certificates in the tenant: %+v", got)
	}

	st, err := sess.Inspect(ctx, app.AppID)
	f.check(t, "Inspect", err)
	kinds := map[string]appreg.CredentialKind{}
	for _, s := range st.Secrets {
		kinds[s.KeyID] = s.Kind
		if s.IsCertificate() && s.Thumbprint == "" {
			t.Errorf("certificate %s without thumbprint", s.KeyID)
		}
	}
	if len(st.Secrets) != 3 || kinds[sec.KeyID] != "" || kinds[cert.KeyID] != appreg.KindCertificate || kinds[uploaded.KeyID] != appreg.KindCertificate {
		t.Fatalf("Inspect credentials: %+v", st.Secrets)
	}

	// The first try meets replication; then both resources answer.
	first := f.tenant.CheckCertificate(ctx, tenantID, app.AppID, cert.Certificate, cert.Key)
	if first[0].OK || !strings.HasPrefix(first[0].Reason, "AADSTS700027") {
		t.Errorf("first check (replicating) = %+v", first)
	}
	for _, c := range f.tenant.CheckCertificate(ctx, tenantID, app.AppID, cert.Certificate, cert.Key) {
		if !c.OK {
			t.Errorf("%s: %s", c.Resource, c.Reason)
		}
	}
	// The right certificate with the wrong key, and another certificate.
	other := newKey(t)
	for _, c := range f.tenant.CheckCertificate(ctx, tenantID, app.AppID, cert.Certificate, other) {
		if c.OK {
			t.Errorf("%s accepted an assertion signed by another key", c.Resource)
		}
	}
	otherCert, _ := appreg.SelfSignedCertificate(other, "x", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	for _, c := range f.tenant.CheckCertificate(ctx, tenantID, app.AppID, otherCert, other) {
		if c.OK || !strings.HasPrefix(c.Reason, "AADSTS700027") {
			t.Errorf("unregistered certificate: %+v", c)
		}
	}

	f.check(t, "RemoveSecret(cert)", sess.RemoveSecret(ctx, app.ObjectID, cert.KeyID))
	f.check(t, "RemoveSecret(cert) again", sess.RemoveSecret(ctx, app.ObjectID, cert.KeyID))
	a := f.sim.Applications(tenantID)[0]
	if len(a.Certificates) != 1 || a.Certificates[0].KeyID != uploaded.KeyID || len(a.Secrets) != 1 {
		t.Fatalf("after removal: certificates %+v, secrets %+v", a.Certificates, a.Secrets)
	}
	keyPEM, _ := x509.MarshalPKCS8PrivateKey(key.Signer())
	f.assertNoLeaks(t, sec.Text.Reveal(), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyPEM})))
	if strings.Contains(f.logs.String(), "PRIVATE KEY") {
		t.Error("a private key in the log")
	}
}

func TestCertificateLifetimePolicy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shown bool
		want  time.Duration
	}{
		{"maximum named", true, 60 * 24 * time.Hour},
		{"maximum not named", false, 30 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, simtenant.Options{})
			ctx := context.Background()
			sess := f.signIn(t, ga)
			app, err := sess.CreateApplication(ctx, "conv-1", "Contoso-DR", graphPerms())
			f.check(t, "CreateApplication", err)
			f.sim.SetSecretMaxLifetime(tenantID, 60*24*time.Hour, tc.shown)
			cert, err := sess.AddCertificate(ctx, app.ObjectID, "sbc1", 365*24*time.Hour, newKey(t))
			f.check(t, "AddCertificate", err)
			if d := cert.Expires.Sub(time.Now().Add(tc.want)); !cert.Capped || d < -time.Minute || d > time.Minute {
				t.Errorf("capped %v, expires %v, want about %v from now", cert.Capped, cert.Expires, tc.want)
			}
			if !cert.Certificate.NotAfter.Equal(cert.Expires) {
				t.Errorf("the certificate ends %v, the credential %v", cert.Certificate.NotAfter, cert.Expires)
			}
		})
	}
}
