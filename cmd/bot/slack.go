package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/appreg-bot/appreg-bot/handlers/slackbot"
	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/metrics"
)

// SlackConfig is Slack's part of the configuration. Slack is on when
// SLACK_BOT_TOKEN is set.
type SlackConfig struct {
	BotToken         string `env:"SLACK_BOT_TOKEN"`       // xoxb-…
	SigningSecret    string `env:"SLACK_SIGNING_SECRET"`  // HTTP mode
	AppToken         string `env:"SLACK_APP_TOKEN"`       // xapp-…: Socket Mode
	APIURL           string `env:"SLACK_API_URL"`         // Web API base URL override
	ApprovalsChannel string `env:"BOT_APPROVALS_CHANNEL"` // role-change requests
	RemindersChannel string `env:"BOT_REMINDERS_CHANNEL"` // reminders instead of threads
}

// loadSlack reads Slack's settings; nil when SLACK_BOT_TOKEN is not set.
func loadSlack(e settings) (*SlackConfig, error) {
	c := &SlackConfig{
		BotToken: e.get("SLACK_BOT_TOKEN", ""), SigningSecret: e.get("SLACK_SIGNING_SECRET", ""),
		AppToken: e.get("SLACK_APP_TOKEN", ""), APIURL: e.get("SLACK_API_URL", ""),
		ApprovalsChannel: e.get("BOT_APPROVALS_CHANNEL", ""), RemindersChannel: e.get("BOT_REMINDERS_CHANNEL", ""),
	}
	if c.BotToken == "" {
		return nil, nil
	}
	fail := func(name string, err error) (*SlackConfig, error) { return nil, fmt.Errorf("%s: %w", name, err) }
	if !strings.HasPrefix(c.BotToken, "xoxb-") {
		return fail("SLACK_BOT_TOKEN", fmt.Errorf("want a bot token (xoxb-…)"))
	}
	if c.SigningSecret == "" && c.AppToken == "" {
		return fail("SLACK_SIGNING_SECRET", fmt.Errorf("required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)"))
	}
	if c.AppToken != "" && !strings.HasPrefix(c.AppToken, "xapp-") {
		return fail("SLACK_APP_TOKEN", fmt.Errorf("want an app-level token (xapp-…)"))
	}
	if err := checkURL(c.APIURL); err != nil {
		return fail("SLACK_API_URL", err)
	}
	return c, nil
}

// slackPlatform is Slack: HTTP mode on the bot's listener, or Socket Mode.
type slackPlatform struct {
	cfg  *SlackConfig
	chat *slackbot.Chat
	log  *slog.Logger
	met  *metrics.Metrics
}

func newSlack(cfg *SlackConfig, log *slog.Logger, met *metrics.Metrics) *slackPlatform {
	return &slackPlatform{cfg: cfg, chat: slackbot.NewChat(cfg.BotToken, cfg.APIURL, log), log: log, met: met}
}

func (p *slackPlatform) Name() string             { return slackbot.Platform }
func (p *slackPlatform) Chat() appreg.Chat        { return p.chat }
func (p *slackPlatform) ApprovalsChannel() string { return p.cfg.ApprovalsChannel }
func (p *slackPlatform) RemindersChannel() string { return p.cfg.RemindersChannel }

// Start serves /slack/ on mux in HTTP mode, and runs Socket Mode when an
// app-level token is set.
func (p *slackPlatform) Start(ctx context.Context, bot appreg.Bot, mux *http.ServeMux, bg *sync.WaitGroup) error {
	in := slackbot.Inbound{Bot: bot, Chat: p.chat, Log: p.log, OnAck: p.met.Ack, OnPanic: p.met.Panic}
	if p.cfg.SigningSecret != "" {
		h, err := slackbot.NewHandler(in, p.cfg.SigningSecret, nil)
		if err != nil {
			return err
		}
		mux.Handle("/slack/", h)
	}
	if p.cfg.AppToken != "" {
		bg.Go(func() {
			if err := slackbot.RunSocketMode(ctx, p.cfg.AppToken, p.cfg.APIURL, in); err != nil {
				p.log.Error("slack socket mode stopped", "err", err)
			}
		})
	}
	return nil
}
