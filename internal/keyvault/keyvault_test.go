package keyvault_test

import (
	"crypto"
	"encoding/pem"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/keyvault"
	"github.com/appreg-bot/appreg-bot/internal/keyvaultfake"
)

var whereRE = regexp.MustCompile(`^Key Vault appreg-test\.vault\.azure\.net: (secret|certificate) ([a-z0-9-]+), version ([0-9a-f]{32})$`)

// where splits a Delivered.Where into the object's name and version.
func where(t *testing.T, d appreg.Delivered, object string) (name, version string) {
	t.Helper()
	m := whereRE.FindStringSubmatch(d.Where)
	if d.Sink != "keyvault" || m == nil || m[1] != object {
		t.Fatalf("Delivered = %+v, want a %s in the vault", d, object)
	}
	return m[2], m[3]
}

func TestNew(t *testing.T) {
	cred := fakeCredential{}
	for _, tc := range []struct {
		name string
		cfg  keyvault.Config
		want string
	}{
		{"no URL", keyvault.Config{Credential: cred}, "BOT_KEYVAULT_URL is required"},
		{"http", keyvault.Config{VaultURL: "http://v.vault.azure.net/", Credential: cred}, "BOT_KEYVAULT_URL must be"},
		{"path", keyvault.Config{VaultURL: "https://v.vault.azure.net/secrets/x", Credential: cred}, "BOT_KEYVAULT_URL must be"},
		{"no host", keyvault.Config{VaultURL: "https:///", Credential: cred}, "BOT_KEYVAULT_URL must be"},
		{"no identity", keyvault.Config{VaultURL: "https://v.vault.azure.net/"}, "the bot's own identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keyvault.New(tc.cfg)
			wantKind(t, err, appreg.KindInvalid, tc.want)
		})
	}
	s, err := keyvault.New(keyvault.Config{VaultURL: "https://V.vault.azure.net", Credential: cred})
	if err != nil || s.Name() != "keyvault" {
		t.Fatalf("New = %v, %v", s, err)
	}
}

// TestDeliverSecret: a client secret becomes a version of the secret named
// by ObjectName, with its tags, expiry, content type and value.
func TestDeliverSecret(t *testing.T) {
	e := newEnv(t)
	c := secretCredential()
	name, version := where(t, e.deliver(c), "secret")
	if want := keyvault.ObjectName(appreg.KindSecret, tenantDomain, "SBC-Contoso", "teams"); name != want {
		t.Errorf("name = %s, want %s", name, want)
	}
	versions := e.kv.SecretVersions(name)
	if len(versions) != 1 {
		t.Fatalf("versions = %+v", versions)
	}
	v := versions[0]
	wantTags := map[string]string{
		"tenant-id": tenantID, "tenant-domain": tenantDomain, "registration": "SBC-Contoso", "client-id": appClientID,
		"service": "teams", "key-id": c.KeyID, "kind": "secret",
	}
	switch {
	case v.Version != version:
		t.Errorf("version = %s, Delivered says %s", v.Version, version)
	case v.Value != secretText:
		t.Errorf("value = %q", v.Value)
	case v.ContentType != "application/x-appreg-client-secret":
		t.Errorf("content type = %q", v.ContentType)
	case !v.Expires.Equal(expiry):
		t.Errorf("expires = %v, want %v", v.Expires, expiry)
	case !v.Enabled:
		t.Error("not enabled")
	case fmt.Sprint(v.Tags) != fmt.Sprint(wantTags):
		t.Errorf("tags = %v\nwant   %v", v.Tags, wantTags)
	}
	// The bot's identity got one token, for Key Vault, in its own tenant.
	reqs := e.kv.TokenRequests()
	if len(reqs) != 1 || reqs[0].ClientID != botClientID || reqs[0].Tenant != tenantID || !strings.Contains(reqs[0].Scope, "https://vault.azure.net/.default") {
		t.Errorf("token requests = %+v", reqs)
	}
	// It read only metadata, never a value.
	if got := e.kv.Calls(keyvaultfake.OpGetSecret); len(got) != 0 {
		t.Errorf("the sink read a secret: %+v", got)
	}
}

// TestRotation: a new credential for the same service is a new version of
// the same secret; the old one stays enabled until Retire disables it.
func TestRotation(t *testing.T) {
	e := newEnv(t)
	old := secretCredential()
	rotated := secretCredential(keyID("11111111-aaaa-4bbb-8ccc-000000000002"), func(c *appreg.Credential) {
		c.Secret, c.Replaces, c.Expires = "rotated-client-secret-text-91c3", old.KeyID, expiry.AddDate(1, 0, 0)
	})
	name1, v1 := where(t, e.deliver(old), "secret")
	name2, v2 := where(t, e.deliver(rotated), "secret")
	if name1 != name2 || v1 == v2 {
		t.Fatalf("rotation: %s/%s then %s/%s, want the same name and a new version", name1, v1, name2, v2)
	}
	enabled := func() map[string]bool {
		out := map[string]bool{}
		for _, v := range e.kv.SecretVersions(name1) {
			out[v.Version] = v.Enabled
		}
		return out
	}
	if got := enabled(); len(got) != 2 || !got[v1] || !got[v2] {
		t.Fatalf("before Retire: %v", got)
	}
	newest, _ := e.kv.Secret(name1, "")
	if newest.Version != v2 || newest.Value != "rotated-client-secret-text-91c3" || newest.Tags["replaces"] != old.KeyID {
		t.Errorf("newest = %+v", newest)
	}
	e.retire(old)
	if got := enabled(); got[v1] || !got[v2] {
		t.Errorf("after Retire: %v, want only %s disabled", got, v1)
	}
	// Retiring again, or a credential the vault never had, changes nothing.
	updates := len(e.kv.Calls(keyvaultfake.OpUpdateSecret))
	e.retire(old)
	e.retire(secretCredential(keyID("99999999-aaaa-4bbb-8ccc-000000000009")))
	e.retire(secretCredential(service("never-delivered")))
	if n := len(e.kv.Calls(keyvaultfake.OpUpdateSecret)); n != updates {
		t.Errorf("%d updates after retiring nothing, want %d", n, updates)
	}
}

// TestDeliverTwice: delivering a credential the vault has writes nothing
// and names the version that holds it, wherever it is in the list.
func TestDeliverTwice(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rotations int // credentials delivered before
		again     int // which one is delivered again
	}{
		{"the only one", 1, 0},
		{"the newest of several", 5, 4},
		{"an older one after a rotation", 5, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withFake(func(o *keyvaultfake.Options) { o.PageSize = 2 }))
			var creds []appreg.Credential
			var versions []string
			for i := range tc.rotations {
				c := secretCredential(keyID(fmt.Sprintf("11111111-aaaa-4bbb-8ccc-%012d", i)))
				creds = append(creds, c)
				_, v := where(t, e.deliver(c), "secret")
				versions = append(versions, v)
			}
			sets := len(e.kv.Calls(keyvaultfake.OpSetSecret))
			name, v := where(t, e.deliver(creds[tc.again]), "secret")
			if v != versions[tc.again] {
				t.Errorf("again: version %s, want %s", v, versions[tc.again])
			}
			if n := len(e.kv.Calls(keyvaultfake.OpSetSecret)); n != sets {
				t.Errorf("delivering again wrote %d versions", n-sets)
			}
			if n := len(e.kv.SecretVersions(name)); n != tc.rotations {
				t.Errorf("%d versions, want %d", n, tc.rotations)
			}
			if !strings.Contains(e.logs.String(), "already in the vault") {
				t.Error("the log does not say the credential was there already")
			}
		})
	}
	t.Run("a retired one", func(t *testing.T) {
		e := newEnv(t)
		c := secretCredential()
		e.deliver(c)
		e.retire(c)
		_, err := e.sink.Deliver(ctx(t), c)
		wantKind(t, err, appreg.KindConflict, "disabled", "Make a new credential")
	})
}

// TestDeliverCertificate: a certificate is imported with its private key
// (the key the vault keeps is the credential's), named by the same rule
// with "-cert", tagged, once per key id; Retire disables it.
func TestDeliverCertificate(t *testing.T) {
	for _, alg := range []string{"rsa", "ecdsa"} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t)
			c := certificateCredential(t, alg)
			name, version := where(t, e.deliver(c), "certificate")
			if want := keyvault.ObjectName(appreg.KindCertificate, tenantDomain, "SBC-Contoso", "teams"); name != want || !strings.Contains(name, "-cert-") {
				t.Errorf("name = %s, want %s", name, want)
			}
			versions := e.kv.CertificateVersions(name)
			if len(versions) != 1 || versions[0].Version != version {
				t.Fatalf("versions = %+v", versions)
			}
			v := versions[0]
			if !v.Certificate.Equal(c.Certificate) {
				t.Error("the vault holds another certificate")
			}
			// The key the vault keeps is the credential's, and matches the certificate.
			if k, ok := v.Key.(interface{ Equal(crypto.PrivateKey) bool }); !ok || !k.Equal(c.Key.Signer()) {
				t.Error("the vault's key is not the credential's")
			}
			if pub, ok := v.Key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(v.Certificate.PublicKey) {
				t.Error("the vault's key does not match its certificate")
			}
			if v.Tags["key-id"] != c.KeyID || v.Tags["kind"] != "certificate" || v.Tags["client-id"] != appClientID || v.Tags["service"] != "teams" {
				t.Errorf("tags = %v", v.Tags)
			}
			props, _ := v.Policy["key_props"].(map[string]any)
			if props["exportable"] != true || (alg == "rsa") != (props["kty"] == "RSA") {
				t.Errorf("key properties = %v", props)
			}
			// The managed secret holds the PEM with the key, for the service.
			sv, ok := e.kv.Secret(name, version)
			if !ok || !sv.Managed || sv.ContentType != "application/x-pem-file" || !sv.Expires.Equal(expiry) {
				t.Fatalf("backing secret = %+v", sv)
			}
			block, _ := pem.Decode([]byte(sv.Value))
			if block == nil || block.Type != "PRIVATE KEY" {
				t.Fatalf("the PEM starts with %v, want the PKCS#8 key", block)
			}
			// Again: nothing new.
			if _, again := where(t, e.deliver(c), "certificate"); again != version || len(e.kv.CertificateVersions(name)) != 1 {
				t.Errorf("delivering again: version %s, %d versions", again, len(e.kv.CertificateVersions(name)))
			}
			e.retire(c)
			if v := e.kv.CertificateVersions(name)[0]; v.Enabled {
				t.Error("Retire left the certificate enabled")
			}
		})
	}
	t.Run("a key that is not the certificate's", func(t *testing.T) {
		e := newEnv(t)
		c := certificateCredential(t, "ecdsa")
		c.Key = certificateCredential(t, "ecdsa").Key
		_, err := e.sink.Deliver(ctx(t), c)
		wantKind(t, err, appreg.KindInvalid, "private key is not the certificate's")
		if n := len(e.kv.Calls("")); n != 0 {
			t.Errorf("%d vault calls", n)
		}
	})
}

// TestRetireFaults: Retire's failures are Deliver's, saying what it could
// not do.
func TestRetireFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		cert bool
		f    keyvaultfake.Failure
		kind appreg.Kind
		msg  []string
	}{
		{"403 on the update", false, on(keyvaultfake.OpUpdateSecret, keyvaultfake.ForbiddenByAccessPolicy()),
			appreg.KindForbidden, []string{"disable a version of secret " + secretName, "the secret permissions List and Set"}},
		{"403 on a certificate's update", true, on(keyvaultfake.OpUpdateCertificate, keyvaultfake.ForbiddenByRbac()),
			appreg.KindForbidden, []string{"disable a version of certificate " + certName, "Key Vault Certificates Officer"}},
		{"403 on the list", false, on(keyvaultfake.OpListSecretVersions, keyvaultfake.ForbiddenByRbac()),
			appreg.KindForbidden, []string{"read the versions of secret", "Key Vault Secrets Officer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := secretCredential()
			if tc.cert {
				c = certificateCredential(t, "ecdsa")
			}
			e.deliver(c)
			e.kv.FailNext(1, tc.f)
			wantKind(t, e.sink.Retire(ctx(t), c), tc.kind, tc.msg...)
			if !strings.Contains(e.logs.String(), "retiring a credential failed") {
				t.Error("the log does not say so")
			}
		})
	}
}

// TestIncompleteCredential: what cannot be delivered is refused before any
// call.
func TestIncompleteCredential(t *testing.T) {
	cert := certificateCredential(t, "rsa")
	for _, tc := range []struct {
		name string
		c    appreg.Credential
		want string
	}{
		{"no key id", secretCredential(keyID("")), "no key id"},
		{"no secret text", secretCredential(func(c *appreg.Credential) { c.Secret = "" }), "no secret text"},
		{"no service", secretCredential(service("")), "no service"},
		{"no tenant", secretCredential(func(c *appreg.Credential) { c.TenantID = "" }), "no tenant id"},
		{"an unknown kind", secretCredential(func(c *appreg.Credential) { c.Kind = "password" }), `unknown kind "password"`},
		{"a certificate without its key", func() appreg.Credential { c := cert; c.Key = appreg.PrivateKey{}; return c }(), "no certificate with its private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, err := e.sink.Deliver(ctx(t), tc.c)
			wantKind(t, err, appreg.KindInvalid, tc.want)
			if n := len(e.kv.Calls("")); n != 0 {
				t.Errorf("%d vault calls", n)
			}
		})
	}
}
