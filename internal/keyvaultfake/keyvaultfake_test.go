package keyvaultfake_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/appreg-bot/appreg-bot/internal/keyvaultfake"
)

const (
	clientID = "3c9e5b71-2f4a-4d8b-9c6e-1a7f0b2d4e68"
	secret   = "fake-bot-secret-0123456789"
)

func newServer(t *testing.T, o keyvaultfake.Options) *keyvaultfake.Server {
	t.Helper()
	o.ClientID, o.ClientSecret = clientID, secret
	s := keyvaultfake.New(o)
	t.Cleanup(s.Close)
	return s
}

func clientOptions(s *keyvaultfake.Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Transport: s.Client(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

func credential(t *testing.T, s *keyvaultfake.Server) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(s.TenantID(), clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.AuthorityHost()},
			Transport: s.Client(),
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func secretsClient(t *testing.T, s *keyvaultfake.Server) *azsecrets.Client {
	t.Helper()
	c, err := azsecrets.NewClient(s.VaultURL(), credential(t, s), &azsecrets.ClientOptions{ClientOptions: clientOptions(s)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func ptr[T any](v T) *T { return &v }

// TestChallenge: a request without a token gets Key Vault's challenge, in
// the form the SDK parses.
func TestChallenge(t *testing.T) {
	s := newServer(t, keyvaultfake.Options{})
	resp, err := s.Client().Get(s.VaultURL() + "secrets/x/versions?api-version=2026-04-01")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `Bearer authorization="` + s.URL() + `/` + s.TenantID() + `", resource="https://vault.azure.net"`
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != want {
		t.Fatalf("%d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}
	if !strings.Contains(string(body), "AKV10000") {
		t.Errorf("body = %s", body)
	}
	if calls := s.Calls(keyvaultfake.OpListSecretVersions); len(calls) != 1 || calls[0].Token != "" || calls[0].Status != 401 {
		t.Errorf("calls = %+v", calls)
	}
}

// TestClientReachesOnlyTheFake: the vault's host is the fake; other vault
// hosts do not resolve; nothing off the machine is dialled.
func TestClientReachesOnlyTheFake(t *testing.T) {
	s := newServer(t, keyvaultfake.Options{})
	_, err := s.Client().Get("https://other.vault.azure.net/secrets")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("other vault: %v, want a not-found DNS error", err)
	}
	if _, err := s.Client().Get("https://login.microsoftonline.com/"); err == nil || !strings.Contains(err.Error(), "dials only the fake") {
		t.Errorf("internet: %v", err)
	}
}

// TestSecretsWithTheSDK: the real azsecrets client sets, reads, pages and
// updates through the challenge.
func TestSecretsWithTheSDK(t *testing.T) {
	s := newServer(t, keyvaultfake.Options{PageSize: 2})
	c := secretsClient(t, s)
	exp := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	var last string
	for i := range 5 {
		resp, err := c.SetSecret(ctx(t), "db-password", azsecrets.SetSecretParameters{
			Value: ptr("v" + string(rune('0'+i))), ContentType: ptr("text/plain"),
			SecretAttributes: &azsecrets.SecretAttributes{Expires: &exp}, Tags: map[string]*string{"n": ptr("x")},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		last = resp.ID.Version()
	}
	got, err := c.GetSecret(ctx(t), "db-password", "", nil)
	if err != nil || *got.Value != "v4" || got.ID.Version() != last || !got.Attributes.Expires.Equal(exp) {
		t.Fatalf("GetSecret = %+v, %v", got, err)
	}
	n := 0
	for pager := c.NewListSecretPropertiesVersionsPager("db-password", nil); pager.More(); {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 5 {
		t.Errorf("listed %d versions, want 5", n)
	}
	if _, err := c.UpdateSecretProperties(ctx(t), "db-password", last, azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: ptr(false)},
	}, nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Secret("db-password", last); v.Enabled {
		t.Error("the version is still enabled")
	}
	// One challenge, one token for all of it.
	if n := len(s.TokenRequests()); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	if challenged := s.Calls(""); challenged[0].Status != 401 || challenged[1].Token == "" {
		t.Errorf("first calls = %+v", challenged[:2])
	}
}

// TestLimits: Key Vault's name and tag rules are enforced.
func TestLimits(t *testing.T) {
	s := newServer(t, keyvaultfake.Options{})
	c := secretsClient(t, s)
	many := map[string]*string{}
	for i := range 16 {
		many[string(rune('a'+i))] = ptr("v")
	}
	for name, p := range map[string]azsecrets.SetSecretParameters{
		"bad_name": {Value: ptr("v")},
		"too-many": {Value: ptr("v"), Tags: many},
		"long-tag": {Value: ptr("v"), Tags: map[string]*string{"t": ptr(strings.Repeat("x", 257))}},
	} {
		_, err := c.SetSecret(ctx(t), name, p, nil)
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "BadParameter" {
			t.Errorf("%s: %v, want 400 BadParameter", name, err)
		}
	}
}

// TestFaults: injected failures and the soft-deleted state answer as Key
// Vault does; a failure can echo the request's credentials.
func TestFaults(t *testing.T) {
	s := newServer(t, keyvaultfake.Options{})
	c := secretsClient(t, s)
	set := func(name string) *azcore.ResponseError {
		t.Helper()
		_, err := c.SetSecret(ctx(t), name, azsecrets.SetSecretParameters{Value: ptr("the-value-1234")}, nil)
		var re *azcore.ResponseError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("%v", err)
		}
		return re
	}
	if re := set("warm-up"); re != nil { // the challenge happens here
		t.Fatal(re)
	}

	s.FailNext(1, keyvaultfake.TooManyRequests("7"))
	re := set("a")
	if re == nil || re.StatusCode != 429 || re.RawResponse.Header.Get("Retry-After") != "7" {
		t.Errorf("429: %v", re)
	}
	s.FailNext(1, keyvaultfake.ForbiddenByRbac())
	if re := set("a"); re == nil || re.StatusCode != 403 || !strings.Contains(body(re), "ForbiddenByRbac") || !strings.Contains(body(re), "secrets/setSecret/action") {
		t.Errorf("403: %v", re)
	}
	s.FailNext(1, keyvaultfake.Failure{Status: 400, EchoCredentials: true})
	if re := set("a"); re == nil || !strings.Contains(body(re), "the-value-1234") || !strings.Contains(body(re), "Bearer ") {
		t.Errorf("echo: %v", re)
	}
	s.SoftDelete("warm-up")
	if re := set("warm-up"); re == nil || re.StatusCode != 409 || !strings.Contains(body(re), "ObjectIsDeletedButRecoverable") {
		t.Errorf("deleted: %v", re)
	}
	s.Recover("warm-up")
	if re := set("warm-up"); re != nil {
		t.Errorf("recovered: %v", re)
	}
	if n := len(s.SecretVersions("warm-up")); n != 2 {
		t.Errorf("%d versions after recovery, want 2", n)
	}
	s.SoftDelete("warm-up")
	s.Purge("warm-up")
	if re := set("warm-up"); re != nil || len(s.SecretVersions("warm-up")) != 1 {
		t.Errorf("purged: %v, %d versions", re, len(s.SecretVersions("warm-up")))
	}
}

// body is the error's text, which holds the response's body.
func body(re *azcore.ResponseError) string { return re.Error() }

// TestImportCertificate: a PEM import keeps the key, answers the bundle and
// makes the managed secret; a key in the wrong format is refused.
func TestImportCertificate(t *testing.T) {
	s := newServer(t, keyvaultfake.Options{})
	c, err := azcertificates.NewClient(s.VaultURL(), credential(t, s), &azcertificates.ClientOptions{ClientOptions: clientOptions(s)})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	sec1, _ := x509.MarshalECPrivateKey(key)
	cert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	good := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})) + cert
	bad := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})) + cert
	policy := &azcertificates.CertificatePolicy{
		SecretProperties: &azcertificates.SecretProperties{ContentType: ptr("application/x-pem-file")},
		KeyProperties:    &azcertificates.KeyProperties{KeyType: ptr(azcertificates.KeyTypeEC), Exportable: ptr(true)},
	}
	if _, err := c.ImportCertificate(ctx(t), "bad", azcertificates.ImportCertificateParameters{Base64EncodedCertificate: &bad, CertificatePolicy: policy}, nil); err == nil || !strings.Contains(err.Error(), "PKCS#8") {
		t.Errorf("SEC 1 key: %v", err)
	}
	resp, err := c.ImportCertificate(ctx(t), "good", azcertificates.ImportCertificateParameters{
		Base64EncodedCertificate: &good, CertificatePolicy: policy, Tags: map[string]*string{"k": ptr("v")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.CER) != string(der) || resp.ID.Version() == "" || *resp.Tags["k"] != "v" || len(resp.X509Thumbprint) != 20 {
		t.Errorf("bundle = %+v", resp.Certificate)
	}
	versions := s.CertificateVersions("good")
	if len(versions) != 1 || !key.Equal(versions[0].Key) {
		t.Fatalf("versions = %+v", versions)
	}
	if sv, ok := s.Secret("good", resp.ID.Version()); !ok || !sv.Managed || sv.Value != good {
		t.Errorf("backing secret = %+v", sv)
	}
	if _, err := c.UpdateCertificate(ctx(t), "good", resp.ID.Version(), azcertificates.UpdateCertificateParameters{
		CertificateAttributes: &azcertificates.CertificateAttributes{Enabled: ptr(false)},
	}, nil); err != nil {
		t.Fatal(err)
	}
	if sv, _ := s.Secret("good", resp.ID.Version()); sv.Enabled || s.CertificateVersions("good")[0].Enabled {
		t.Error("disabling the certificate left it or its secret enabled")
	}
}

// TestTokens: the token endpoint takes the bot's secret or its federated
// token, and refuses others the way Entra ID does.
func TestTokens(t *testing.T) {
	s := newServer(t, keyvaultfake.Options{FederatedToken: "k8s-service-account-token"})
	post := func(form url.Values) (int, map[string]any) {
		resp, err := s.Client().PostForm(s.URL()+"/"+s.TenantID()+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	base := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {"https://vault.azure.net/.default"}}
	with := func(k, v string, kv ...string) url.Values {
		f := url.Values{}
		for key, vals := range base {
			f[key] = vals
		}
		f.Set(k, v)
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		err    string
	}{
		{"secret", with("client_secret", secret), 200, ""},
		{"assertion", with("client_assertion", "k8s-service-account-token", "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), 200, ""},
		{"wrong secret", with("client_secret", "nope"), 401, "invalid_client"},
		{"wrong assertion", with("client_assertion", "nope", "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), 400, "invalid_client"},
		{"other client", with("client_secret", secret, "client_id", "someone-else"), 400, "unauthorized_client"},
		{"other scope", with("client_secret", secret, "scope", "https://graph.microsoft.com/.default"), 400, "invalid_scope"},
	} {
		status, out := post(tc.form)
		if status != tc.status || (tc.err != "" && out["error"] != tc.err) || (tc.err == "" && out["access_token"] == nil) {
			t.Errorf("%s: %d %v", tc.name, status, out)
		}
	}
	if reqs := s.TokenRequests(); len(reqs) != 6 || reqs[1].Method != keyvaultfake.AuthClientAssertion {
		t.Errorf("token requests = %+v", reqs)
	}
}

// TestWaitFor: WaitFor returns the first matching call, or gives up with
// the context.
func TestWaitFor(t *testing.T) {
	s := newServer(t, keyvaultfake.Options{})
	go func() { _, _ = s.Client().Get(s.VaultURL() + "secrets/x/versions?api-version=1") }()
	call, err := s.WaitFor(ctx(t), keyvaultfake.OpListSecretVersions, func(c keyvaultfake.Call) bool { return c.Name == "x" })
	if err != nil || call.Status != http.StatusUnauthorized {
		t.Fatalf("WaitFor = %+v, %v", call, err)
	}
	short, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.WaitFor(short, keyvaultfake.OpSetSecret, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor with nothing to find = %v", err)
	}
}
