package keyvault

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// DefaultAuthorityHost is Entra ID's host in Azure's public cloud.
const DefaultAuthorityHost = "https://login.microsoftonline.com/"

// CredentialConfig says who the bot is when it talks to Key Vault: an
// identity of its own, separate from the public sign-in app of
// AZURE_CLIENT_ID that customers' admins sign in to. Nothing here is read
// from the environment: the caller maps its settings (named per field) onto
// it, and azidentity's own environment defaults are never used.
type CredentialConfig struct {
	// TenantID is the bot's identity's tenant (BOT_AZURE_TENANT_ID).
	TenantID string
	// ClientID is the bot's identity's client id (BOT_AZURE_CLIENT_ID): the
	// app registration of a client secret or workload identity, or a
	// user-assigned managed identity.
	ClientID string
	// ClientSecret is its client secret (BOT_AZURE_CLIENT_SECRET); with it
	// the identity is that app and secret, and TenantID and ClientID are
	// required.
	ClientSecret appreg.SecretText
	// FederatedTokenFile is the workload identity's token file
	// (AZURE_FEDERATED_TOKEN_FILE, which the AKS workload identity webhook
	// sets); used with TenantID and ClientID when there is no ClientSecret.
	FederatedTokenFile string
	// AuthorityHost is Entra ID's host (AZURE_AUTHORITY_HOST; default
	// DefaultAuthorityHost); https.
	AuthorityHost string
	// DisableInstanceDiscovery skips Entra ID's instance discovery, for
	// disconnected clouds and tests.
	DisableInstanceDiscovery bool
	// HTTPClient sends the token requests (default: azcore's client).
	HTTPClient *http.Client
}

// NewCredential returns the bot's own identity for Key Vault:
//
//   - with ClientSecret: a client-secret credential for TenantID and
//     ClientID;
//   - otherwise a chain that tries, in order, workload identity (when
//     FederatedTokenFile is set: the file's token exchanged for TenantID
//     and ClientID) and managed identity (user-assigned with ClientID when
//     it is set, system-assigned otherwise). The chain moves on only when a
//     source is not available here; a source that is refused ends it.
//
// The identity gets tokens for its own tenant only: a vault in another
// tenant is refused (Deliver says so). Its errors never hold its client
// secret or token, whatever Entra ID answered. Errors are of KindInvalid
// and name the setting that is missing or wrong.
func NewCredential(cfg CredentialConfig) (azcore.TokenCredential, error) {
	authority := strings.TrimSpace(cfg.AuthorityHost)
	if authority == "" {
		authority = DefaultAuthorityHost
	}
	if u, err := url.Parse(authority); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, appreg.Errorf(appreg.KindInvalid, "AZURE_AUTHORITY_HOST must be an https URL, such as %s.", DefaultAuthorityHost)
	}
	authority = strings.TrimSuffix(authority, "/") + "/"
	opts := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: authority}}
	if cfg.HTTPClient != nil {
		opts.Transport = cfg.HTTPClient
	}
	secret := cfg.ClientSecret.Reveal()

	if secret != "" {
		if err := need(cfg, "BOT_AZURE_CLIENT_SECRET"); err != nil {
			return nil, err
		}
		cred, err := azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: opts, DisableInstanceDiscovery: cfg.DisableInstanceDiscovery,
		})
		if err != nil {
			return nil, appreg.Errorf(appreg.KindInvalid, "The bot's identity cannot be made from BOT_AZURE_TENANT_ID, BOT_AZURE_CLIENT_ID and BOT_AZURE_CLIENT_SECRET: %s", scrub(err.Error(), secret))
		}
		return scrubbed{cred, []string{secret}}, nil
	}

	var sources []azcore.TokenCredential
	if cfg.FederatedTokenFile != "" {
		if err := need(cfg, "AZURE_FEDERATED_TOKEN_FILE (workload identity)"); err != nil {
			return nil, err
		}
		// Every value given, so that azidentity reads none of
		// AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE
		// itself: AZURE_CLIENT_ID is the sign-in app's.
		wi, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, ClientID: cfg.ClientID, TenantID: cfg.TenantID, TokenFilePath: cfg.FederatedTokenFile,
			DisableInstanceDiscovery: cfg.DisableInstanceDiscovery,
		})
		if err != nil {
			return nil, appreg.Errorf(appreg.KindInvalid, "The bot's workload identity cannot be made: %s", scrub(err.Error()))
		}
		sources = append(sources, wi)
	}
	miOpts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
	if cfg.ClientID != "" {
		miOpts.ID = azidentity.ClientID(cfg.ClientID)
	}
	mi, err := azidentity.NewManagedIdentityCredential(miOpts)
	if err != nil {
		return nil, appreg.Errorf(appreg.KindInvalid, "The bot's managed identity cannot be made: %s", scrub(err.Error()))
	}
	sources = append(sources, mi)
	chain, err := azidentity.NewChainedTokenCredential(sources, nil)
	if err != nil {
		return nil, appreg.Errorf(appreg.KindInvalid, "The bot's identity cannot be made: %s", scrub(err.Error()))
	}
	return scrubbed{cred: chain}, nil
}

// need checks that TenantID and ClientID are given along with what.
func need(cfg CredentialConfig, with string) error {
	var missing []string
	if cfg.TenantID == "" {
		missing = append(missing, "BOT_AZURE_TENANT_ID")
	}
	if cfg.ClientID == "" {
		missing = append(missing, "BOT_AZURE_CLIENT_ID")
	}
	if len(missing) == 0 {
		return nil
	}
	verb := "is"
	if len(missing) > 1 {
		verb = "are"
	}
	return appreg.Errorf(appreg.KindInvalid, "%s is set but %s %s not: the bot's identity needs both its tenant and its client id (AZURE_CLIENT_ID is the sign-in app's, never the bot's).",
		with, strings.Join(missing, " and "), verb)
}

// scrubbed is a credential whose errors hold nothing of its secrets.
type scrubbed struct {
	cred  azcore.TokenCredential
	known []string
}

func (s scrubbed) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := s.cred.GetToken(ctx, opts)
	if err != nil {
		return tok, newIdentityError(err, s.known...)
	}
	return tok, nil
}
