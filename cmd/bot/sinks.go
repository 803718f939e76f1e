package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/keyvault"
	"github.com/appreg-bot/appreg-bot/internal/redisstore"
	"github.com/appreg-bot/appreg-bot/internal/seal"
	"github.com/appreg-bot/appreg-bot/internal/webhook"
)

// SinkConfig says where new credentials go (BOT_SECRET_SINKS): to the
// requester in chat, or straight to where they are used.
type SinkConfig struct {
	Names []string `env:"BOT_SECRET_SINKS"` // "chat", or keyvault and/or webhook

	WebhookURL    string `env:"BOT_WEBHOOK_URL"`
	WebhookSecret string `env:"BOT_WEBHOOK_SECRET"` // whsec_…

	KeyVaultURL string `env:"BOT_KEYVAULT_URL"`
	// The bot's own identity for Key Vault, separate from the sign-in app
	// of AZURE_CLIENT_ID: a client secret, or (without one) workload
	// identity when AZURE_FEDERATED_TOKEN_FILE is set, else managed
	// identity (user-assigned when BOT_AZURE_CLIENT_ID is set).
	AzureTenantID      string `env:"BOT_AZURE_TENANT_ID"`
	AzureClientID      string `env:"BOT_AZURE_CLIENT_ID"`
	AzureClientSecret  string `env:"BOT_AZURE_CLIENT_SECRET"`
	FederatedTokenFile string `env:"AZURE_FEDERATED_TOKEN_FILE"`

	// Credential is the kind of credential made when a request does not
	// say: "" (a client secret) or a certificate.
	Credential appreg.CredentialKind `env:"BOT_CREDENTIAL"`
}

// The sinks a credential can go to.
const (
	sinkChat     = "chat"
	sinkWebhook  = "webhook"
	sinkKeyVault = "keyvault"
)

var knownSinks = []string{sinkChat, sinkKeyVault, sinkWebhook}

// Chat reports whether credentials are shown to the requester in chat.
func (s SinkConfig) Chat() bool {
	return len(s.Names) == 0 || slices.Equal(s.Names, []string{sinkChat})
}

// Has reports whether a sink is configured.
func (s SinkConfig) Has(name string) bool { return slices.Contains(s.Names, name) }

// loadSinks reads and checks BOT_SECRET_SINKS and the settings of each sink
// it names.
func loadSinks(e settings, stateKey []byte) (SinkConfig, error) {
	var s SinkConfig
	for _, n := range e.list("BOT_SECRET_SINKS", sinkChat) {
		n = strings.ToLower(n)
		if !slices.Contains(knownSinks, n) {
			return s, fmt.Errorf("BOT_SECRET_SINKS: unknown sink %q (want chat, or keyvault and/or webhook, comma-separated)", n)
		}
		if !slices.Contains(s.Names, n) {
			s.Names = append(s.Names, n)
		}
	}
	if len(s.Names) > 1 && s.Has(sinkChat) {
		return s, fmt.Errorf("BOT_SECRET_SINKS: chat cannot be combined with another sink: with a sink, a credential never appears in chat")
	}
	switch strings.ToLower(e.get("BOT_CREDENTIAL", "secret")) {
	case "secret":
	case "certificate":
		if s.Chat() {
			return s, fmt.Errorf("BOT_CREDENTIAL: certificate needs BOT_SECRET_SINKS keyvault or webhook: a certificate's private key is never shown in chat")
		}
		s.Credential = appreg.KindCertificate
	default:
		return s, fmt.Errorf("BOT_CREDENTIAL: want secret or certificate")
	}
	if s.Has(sinkKeyVault) {
		s.KeyVaultURL = e.get("BOT_KEYVAULT_URL", "")
		s.AzureTenantID, s.AzureClientID, s.AzureClientSecret = e.get("BOT_AZURE_TENANT_ID", ""), e.get("BOT_AZURE_CLIENT_ID", ""), e.get("BOT_AZURE_CLIENT_SECRET", "")
		s.FederatedTokenFile = e.get("AZURE_FEDERATED_TOKEN_FILE", "")
		if s.KeyVaultURL == "" {
			return s, fmt.Errorf("BOT_KEYVAULT_URL: required with the keyvault sink: the vault's URI, https://<vault name>.vault.azure.net/")
		}
		if _, err := keyvault.ParseVaultURL(s.KeyVaultURL); err != nil {
			return s, fmt.Errorf("BOT_KEYVAULT_URL: %w", err)
		}
		if s.AzureClientSecret != "" && (s.AzureTenantID == "" || s.AzureClientID == "") {
			return s, fmt.Errorf("BOT_AZURE_CLIENT_SECRET: needs BOT_AZURE_TENANT_ID and BOT_AZURE_CLIENT_ID (the bot's own app registration, not the sign-in app)")
		}
		if s.FederatedTokenFile != "" && s.AzureClientSecret == "" && (s.AzureTenantID == "" || s.AzureClientID == "") {
			return s, fmt.Errorf("BOT_AZURE_CLIENT_ID: workload identity (AZURE_FEDERATED_TOKEN_FILE) needs BOT_AZURE_TENANT_ID and BOT_AZURE_CLIENT_ID (the identity's client id; AZURE_CLIENT_ID is the sign-in app's)")
		}
	}
	if s.Has(sinkWebhook) {
		s.WebhookURL, s.WebhookSecret = e.get("BOT_WEBHOOK_URL", ""), e.get("BOT_WEBHOOK_SECRET", "")
		if s.WebhookURL == "" {
			return s, fmt.Errorf("BOT_WEBHOOK_URL: required with the webhook sink: the https address of the provider's platform")
		}
		if err := checkURL(s.WebhookURL); err != nil {
			return s, fmt.Errorf("BOT_WEBHOOK_URL: %w", err)
		}
		if s.WebhookSecret == "" {
			return s, fmt.Errorf("BOT_WEBHOOK_SECRET: required with the webhook sink: the signing secret the receiver verifies with")
		}
		if err := webhook.ParseSecret(s.WebhookSecret); err != nil {
			return s, fmt.Errorf("BOT_WEBHOOK_SECRET: %w", err)
		}
		if stateKey == nil {
			return s, fmt.Errorf("BOT_STATE_KEY: required with the webhook sink: events waiting for the receiver carry the credential and are kept sealed in Redis (openssl rand -base64 32)")
		}
	}
	return s, nil
}

// sinks builds the configured sinks and starts their background work. No
// sink means chat.
func (m *Main) sinks(ctx context.Context, rdb redisstore.Client) ([]appreg.Sink, error) {
	cfg := m.Config
	var out []appreg.Sink
	for _, name := range cfg.Sinks.Names {
		switch name {
		case sinkWebhook:
			sealer, err := seal.New(cfg.StateKey)
			if err != nil {
				return nil, fmt.Errorf("BOT_STATE_KEY: %w", err)
			}
			s, err := webhook.New(webhook.Options{URL: cfg.Sinks.WebhookURL, Secret: cfg.Sinks.WebhookSecret, Sealer: sealer,
				Outbox: redisstore.NewWebhookOutbox(rdb), Log: m.log.With("sink", sinkWebhook), Panic: m.metrics.Panic})
			if err != nil {
				return nil, err
			}
			m.bg.Go(func() { s.Run(ctx) })
			out = append(out, s)
		case sinkKeyVault:
			cred, err := keyvault.NewCredential(keyvault.CredentialConfig{TenantID: cfg.Sinks.AzureTenantID, ClientID: cfg.Sinks.AzureClientID,
				ClientSecret: appreg.SecretText(cfg.Sinks.AzureClientSecret), FederatedTokenFile: cfg.Sinks.FederatedTokenFile,
				AuthorityHost: cfg.AzureAuthorityHost, HTTPClient: m.keyVaultClient, DisableInstanceDiscovery: m.keyVaultClient != nil})
			if err != nil {
				return nil, fmt.Errorf("keyvault sink: %s", appreg.ErrorMessage(err))
			}
			s, err := keyvault.New(keyvault.Config{VaultURL: cfg.Sinks.KeyVaultURL, Credential: cred, HTTPClient: m.keyVaultClient,
				Logger: m.log.With("sink", sinkKeyVault)})
			if err != nil {
				return nil, fmt.Errorf("keyvault sink: %s", appreg.ErrorMessage(err))
			}
			out = append(out, s)
		case sinkChat:
		default:
			return nil, fmt.Errorf("BOT_SECRET_SINKS: the %s sink is not built into this bot", name)
		}
	}
	return out, nil
}
