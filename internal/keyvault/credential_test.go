package keyvault_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/keyvault"
	"github.com/appreg-bot/appreg-bot/internal/keyvaultfake"
)

// sharedEnvironment is what a pod running the bot may also have: the
// sign-in app's AZURE_CLIENT_ID and azidentity's other variables, none of
// which is the bot's identity.
func sharedEnvironment(t *testing.T) {
	t.Setenv("AZURE_CLIENT_ID", signInAppID)
	t.Setenv("AZURE_TENANT_ID", "0a0b0c0d-1111-4222-8333-444455556666")
	t.Setenv("AZURE_CLIENT_SECRET", "not-the-bots-secret-000000")
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", filepath.Join(t.TempDir(), "no-such-file"))
}

func TestNewCredentialConfig(t *testing.T) {
	sharedEnvironment(t)
	for _, tc := range []struct {
		name string
		cfg  keyvault.CredentialConfig
		want string
	}{
		{"a secret without a tenant", keyvault.CredentialConfig{ClientID: botClientID, ClientSecret: botSecret},
			"BOT_AZURE_CLIENT_SECRET is set but BOT_AZURE_TENANT_ID is not"},
		{"a secret without a client id", keyvault.CredentialConfig{TenantID: tenantID, ClientSecret: botSecret},
			"BOT_AZURE_CLIENT_SECRET is set but BOT_AZURE_CLIENT_ID is not"},
		{"a token file without the ids", keyvault.CredentialConfig{FederatedTokenFile: "/var/run/token"},
			"AZURE_FEDERATED_TOKEN_FILE (workload identity) is set but BOT_AZURE_TENANT_ID and BOT_AZURE_CLIENT_ID are not"},
		{"an authority over http", keyvault.CredentialConfig{TenantID: tenantID, ClientID: botClientID, ClientSecret: botSecret, AuthorityHost: "http://login.example/"},
			"AZURE_AUTHORITY_HOST must be an https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keyvault.NewCredential(tc.cfg)
			wantKind(t, err, appreg.KindInvalid, tc.want)
			if strings.Contains(err.Error(), botSecret) {
				t.Errorf("the error holds the secret: %v", err)
			}
		})
	}
}

// TestClientSecretCredential: with BOT_AZURE_CLIENT_SECRET the bot is that
// app, whatever azidentity's variables say.
func TestClientSecretCredential(t *testing.T) {
	sharedEnvironment(t)
	e := newEnv(t) // newEnv builds the credential with NewCredential and a client secret
	e.deliver(secretCredential())
	reqs := e.kv.TokenRequests()
	if len(reqs) != 1 || reqs[0].Method != keyvaultfake.AuthClientSecret || reqs[0].ClientID != botClientID || reqs[0].Tenant != tenantID {
		t.Errorf("token requests = %+v", reqs)
	}
}

// TestWorkloadIdentity: without a secret, the token file is exchanged for
// the bot's own client id and tenant, never AZURE_CLIENT_ID's.
func TestWorkloadIdentity(t *testing.T) {
	sharedEnvironment(t)
	token := "k8s-sa-token-" + rand.Text()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		accepted string // the federated token the fake accepts
		wantErr  []string
	}{
		{name: "accepted", accepted: token},
		{name: "refused", accepted: "another-token", wantErr: []string{"Entra ID refused the bot's own identity", "AADSTS700211"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := keyvaultfake.New(keyvaultfake.Options{ClientID: botClientID, FederatedToken: tc.accepted})
			t.Cleanup(kv.Close)
			cred, err := keyvault.NewCredential(keyvault.CredentialConfig{
				TenantID: kv.TenantID(), ClientID: botClientID, FederatedTokenFile: file,
				AuthorityHost: kv.AuthorityHost(), DisableInstanceDiscovery: true, HTTPClient: kv.Client(),
			})
			if err != nil {
				t.Fatal(err)
			}
			sink, err := keyvault.New(keyvault.Config{VaultURL: kv.VaultURL(), Credential: cred, HTTPClient: kv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = sink.Deliver(ctx(t), secretCredential())
			reqs := kv.TokenRequests()
			if len(reqs) == 0 || reqs[0].Method != keyvaultfake.AuthClientAssertion || reqs[0].ClientID != botClientID || reqs[0].Tenant != tenantID {
				t.Errorf("token requests = %+v, want the bot's client id %s", reqs, botClientID)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantKind(t, err, appreg.KindForbidden, tc.wantErr...)
			if strings.Contains(err.Error(), token) {
				t.Errorf("the error holds the federated token: %v", err)
			}
		})
	}
}

// TestManagedIdentity: without a secret or a token file the bot is its
// managed identity: system-assigned, or the user-assigned one of
// BOT_AZURE_CLIENT_ID; never AZURE_CLIENT_ID's.
func TestManagedIdentity(t *testing.T) {
	const userAssigned = "5e5e5e5e-6f6f-4a7a-8b8b-9c9c9c9c9c9c"
	for _, tc := range []struct {
		name     string
		clientID string
	}{
		{"system-assigned", ""},
		{"user-assigned", userAssigned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := keyvaultfake.New(keyvaultfake.Options{ClientID: botClientID, ManagedIdentityClientID: userAssigned})
			t.Cleanup(kv.Close)
			sharedEnvironment(t)
			t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "")
			t.Setenv("IDENTITY_ENDPOINT", kv.ManagedIdentityEndpoint())
			t.Setenv("IDENTITY_HEADER", keyvaultfake.DefaultIdentityHeader)
			cred, err := keyvault.NewCredential(keyvault.CredentialConfig{
				ClientID: tc.clientID, AuthorityHost: kv.AuthorityHost(), HTTPClient: kv.Client(),
			})
			if err != nil {
				t.Fatal(err)
			}
			// A resource of this run's own: the managed identity's token
			// cache is the process's.
			resource := keyvaultfake.Resource + "/" + strings.ToLower(rand.Text())
			tok, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}})
			if err != nil {
				t.Fatal(err)
			}
			reqs := kv.TokenRequests()
			if len(reqs) != 1 || tok.Token == "" {
				t.Fatalf("token requests = %+v", reqs)
			}
			if r := reqs[0]; r.Method != keyvaultfake.AuthManagedIdentity || r.ClientID != tc.clientID || r.Scope != resource {
				t.Errorf("token request = %+v, want client id %q", r, tc.clientID)
			}
		})
	}
}

// TestIdentityUnavailable: when Entra ID is busy or cannot be reached, the
// delivery may work later; any credential the sink is given is read so.
func TestIdentityUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name      string
		authority func(*keyvaultfake.Server) string
		setup     func(*keyvaultfake.Server)
	}{
		{"503 from Entra ID", func(kv *keyvaultfake.Server) string { return kv.AuthorityHost() },
			func(kv *keyvaultfake.Server) { kv.FailTokens(1, keyvaultfake.Failure{Status: 503, RetryAfter: "1"}) }},
		{"Entra ID unreachable", func(*keyvaultfake.Server) string { return "https://127.0.0.1:1/" }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := keyvaultfake.New(keyvaultfake.Options{ClientID: botClientID, ClientSecret: botSecret})
			t.Cleanup(kv.Close)
			if tc.setup != nil {
				tc.setup(kv)
			}
			// A credential of the caller's own, without retries.
			cred, err := azidentity.NewClientSecretCredential(kv.TenantID(), botClientID, botSecret, &azidentity.ClientSecretCredentialOptions{
				ClientOptions: azcore.ClientOptions{
					Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: tc.authority(kv)},
					Transport: kv.Client(), Retry: policy.RetryOptions{MaxRetries: -1},
				},
				DisableInstanceDiscovery: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			sink, err := keyvault.New(keyvault.Config{VaultURL: kv.VaultURL(), Credential: cred, HTTPClient: kv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = sink.Deliver(ctx(t), secretCredential())
			wantKind(t, err, appreg.KindUnavailable, "could not get a token for Key Vault appreg-test.vault.azure.net", "try again")
		})
	}
}
