package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/appreg-bot/appreg-bot/handlers/teams"
	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/metrics"
	"github.com/appreg-bot/appreg-bot/internal/redisstore"
	"github.com/appreg-bot/appreg-bot/internal/safeurl"
)

// TeamsConfig is Microsoft Teams' part of the configuration. Teams is on
// when TEAMS_APP_ID is set.
type TeamsConfig struct {
	AppID              string `env:"TEAMS_APP_ID"`              // the Azure Bot's Microsoft app id
	AppPassword        string `env:"TEAMS_APP_PASSWORD"`        // its client secret
	TenantID           string `env:"TEAMS_APP_TENANT_ID"`       // token tenant: botframework.com, or the bot's own (single-tenant)
	MetadataURL        string `env:"TEAMS_OPENID_METADATA_URL"` // Bot Framework OpenID metadata
	ApprovalsChannel   string `env:"TEAMS_APPROVALS_CHANNEL"`   // a channel's conversation id: role-change requests
	RemindersChannel   string `env:"TEAMS_REMINDERS_CHANNEL"`   // reminders instead of threads
	DevUnauthenticated bool   `env:"TEAMS_DEV_UNAUTHENTICATED"` // accept unauthenticated activities (loopback only)
	AuthorityHost      string `env:"AZURE_AUTHORITY_HOST"`      // Entra ID host of the connector's token

	// HTTPClient, when set, makes every call of the Teams adapter (keys,
	// token, connector) and skips MSAL's instance discovery: tests point it
	// at a fake. LoadConfig never sets it.
	HTTPClient *http.Client
}

// loadTeams reads Teams' settings; nil when TEAMS_APP_ID is not set.
func loadTeams(e settings) (*TeamsConfig, error) {
	c := &TeamsConfig{
		AppID: e.get("TEAMS_APP_ID", ""), AppPassword: e.get("TEAMS_APP_PASSWORD", ""),
		TenantID:         e.get("TEAMS_APP_TENANT_ID", teams.DefaultTenant),
		MetadataURL:      e.get("TEAMS_OPENID_METADATA_URL", teams.DefaultMetadataURL),
		ApprovalsChannel: e.get("TEAMS_APPROVALS_CHANNEL", ""), RemindersChannel: e.get("TEAMS_REMINDERS_CHANNEL", ""),
		AuthorityHost: e.get("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/"),
	}
	if c.AppID == "" {
		return nil, nil
	}
	fail := func(name string, err error) (*TeamsConfig, error) { return nil, fmt.Errorf("%s: %w", name, err) }
	var err error
	if c.DevUnauthenticated, err = strconv.ParseBool(e.get("TEAMS_DEV_UNAUTHENTICATED", "false")); err != nil {
		return fail("TEAMS_DEV_UNAUTHENTICATED", fmt.Errorf("want true or false"))
	}
	if listen := e.get("BOT_LISTEN_ADDR", ":3000"); c.DevUnauthenticated && !loopbackAddr(listen) {
		return fail("TEAMS_DEV_UNAUTHENTICATED", fmt.Errorf("accepts unauthenticated requests, so only with BOT_LISTEN_ADDR on a loopback address (e.g. 127.0.0.1:3978), not %q", listen))
	}
	if c.AppPassword == "" && !c.DevUnauthenticated {
		return fail("TEAMS_APP_PASSWORD", fmt.Errorf("required with TEAMS_APP_ID (the client secret of the bot's app registration)"))
	}
	if err := checkURL(c.MetadataURL); err != nil {
		return fail("TEAMS_OPENID_METADATA_URL", err)
	}
	return c, nil
}

// loopbackAddr reports whether a listen address (host:port) binds to a
// loopback address only; an empty host binds to all.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	return safeurl.Loopback(host)
}

// teamsPlatform is Microsoft Teams: POST /api/messages on the bot's
// listener, and the Bot Connector for everything the bot says.
type teamsPlatform struct {
	cfg  *TeamsConfig
	chat *teams.Chat
	refs teams.References
	auth *teams.Authenticator
	log  *slog.Logger
	met  *metrics.Metrics
	err  error // of the set-up, reported by Start
}

// newTeams builds the platform. Its conversation references live in the
// bot's Redis.
func (m *Main) newTeams(cfg *TeamsConfig, rdb redisstore.Client, met *metrics.Metrics) *teamsPlatform {
	p := &teamsPlatform{cfg: cfg, log: m.log, refs: redisstore.NewTeamsRefs(rdb, 0), met: met}
	cc := teams.ConnectorConfig{
		AppID: cfg.AppID, AppPassword: cfg.AppPassword, Tenant: cfg.TenantID, AuthorityHost: cfg.AuthorityHost,
		HTTPClient: cfg.HTTPClient, DisableInstanceDiscovery: cfg.HTTPClient != nil, Logger: m.log,
	}
	if cfg.DevUnauthenticated {
		cc.Credential = teams.UnauthenticatedCredential()
		if m.Simulated != nil {
			// Nobody can sign in to the stand-in from a browser: the demo
			// admin approves every code after a moment.
			m.Simulated.AutoApprove(demoAdmin, 5*time.Second)
		}
	}
	conn, err := teams.NewConnector(cc)
	p.err = err
	if !cfg.DevUnauthenticated {
		p.auth, err = teams.NewAuthenticator(teams.AuthConfig{AppID: cfg.AppID, MetadataURL: cfg.MetadataURL, HTTPClient: cfg.HTTPClient, Logger: m.log})
		p.err = errors.Join(p.err, err)
	}
	if p.refs != nil && conn != nil {
		p.chat = teams.NewChat(conn, p.refs, m.log)
	}
	return p
}

func (p *teamsPlatform) Name() string { return teams.Platform }
func (p *teamsPlatform) Chat() appreg.Chat {
	if p.chat == nil {
		return nil
	}
	return p.chat
}
func (p *teamsPlatform) ApprovalsChannel() string { return p.cfg.ApprovalsChannel }
func (p *teamsPlatform) RemindersChannel() string { return p.cfg.RemindersChannel }

// Start serves POST /api/messages on mux.
func (p *teamsPlatform) Start(ctx context.Context, bot appreg.Bot, mux *http.ServeMux, bg *sync.WaitGroup) error {
	if p.err != nil {
		return p.err
	}
	h, err := teams.NewHandler(teams.HandlerConfig{Bot: bot, Chat: p.chat, Refs: p.refs, Auth: p.auth, OnPanic: p.met.Panic,
		DevUnauthenticated: p.cfg.DevUnauthenticated, Log: p.log})
	if err != nil {
		return err
	}
	if p.cfg.DevUnauthenticated {
		p.log.Warn("TEAMS_DEV_UNAUTHENTICATED=true: /api/messages accepts UNAUTHENTICATED activities from loopback service URLs and sends replies without a token, for Microsoft 365 Agents Playground. NOT FOR PRODUCTION.")
	}
	mux.Handle("POST /api/messages", h)
	bg.Go(func() {
		<-ctx.Done()
		h.Wait()
	})
	return nil
}
