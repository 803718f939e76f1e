package main

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/reminders"
	"github.com/appreg-bot/appreg-bot/internal/safeurl"
	"github.com/appreg-bot/appreg-bot/internal/wizard"
)

// Config is every setting of the bot. Each field comes from the environment
// variable named in its tag; LoadConfig applies the defaults and checks
// everything in one place. Each chat platform's settings are its own
// (SlackConfig); a platform whose settings are absent is off, and with none
// on the bot runs in the console.
type Config struct {
	Slack *SlackConfig // nil: Slack is off
	Teams *TeamsConfig // nil: Teams is off
	Sinks SinkConfig   // where new credentials go

	RedisURL           string         `env:"REDIS_URL"`          // redis:// or rediss://; empty: embedded
	RedisAddrs         []string       `env:"REDIS_ADDRS"`        // more nodes: Cluster, or sentinels
	RedisMasterName    string         `env:"REDIS_MASTER_NAME"`  // Sentinel
	EmbeddedRedis      bool           `env:"BOT_EMBEDDED_REDIS"` // accept the in-process Redis with a chat platform
	ListenAddr         string         `env:"BOT_LISTEN_ADDR"`
	OpsAddr            string         `env:"BOT_OPS_ADDR"` // /metrics, /audit, /healthz, /readyz on a listener of their own
	Operators          []string       `env:"BOT_OPERATORS"`
	IdleTimeout        time.Duration  `env:"BOT_IDLE_TIMEOUT"`
	StateKey           []byte         `env:"BOT_STATE_KEY"`
	LogLevel           slog.Level     `env:"BOT_LOG_LEVEL"`
	DefaultService     string         `env:"BOT_DEFAULT_SERVICE"`
	Permissions        []string       `env:"BOT_PERMISSIONS"`
	NeededRoles        []string       `env:"BOT_NEEDED_ROLES"`
	SecretLifetime     time.Duration  `env:"BOT_SECRET_LIFETIME"`
	ValidationAttempts int            `env:"BOT_VALIDATION_ATTEMPTS"`
	ValidationBackoff  time.Duration  `env:"BOT_VALIDATION_BACKOFF"`
	Location           *time.Location `env:"BOT_TIMEZONE"`
	SimulatedTenant    bool           `env:"BOT_SIMULATED_TENANT"`
	Roles              []string       `env:"BOT_ROLES"`
	Approvers          []string       `env:"BOT_APPROVERS"`
	ApprovalTTL        time.Duration  `env:"BOT_APPROVAL_TTL"`
	ConfirmTTL         time.Duration  `env:"BOT_SECRET_CONFIRM_TTL"`
	AdminToken         string         `env:"BOT_ADMIN_TOKEN"`
	ReminderDays       []int          `env:"BOT_REMINDER_DAYS"`
	ReminderTime       string         `env:"BOT_REMINDER_TIME"`
	ReminderRate       float64        `env:"BOT_REMINDER_RATE"`
	AzureClientID      string         `env:"AZURE_CLIENT_ID"`
	AzureAuthorityHost string         `env:"AZURE_AUTHORITY_HOST"`
	GraphEndpoint      string         `env:"GRAPH_ENDPOINT"`
}

// LocalTry reports whether the bot runs only to be tried on this machine:
// Teams' loopback-only development mode, with no other platform.
func (c Config) LocalTry() bool {
	return c.Slack == nil && c.Teams != nil && c.Teams.DevUnauthenticated
}

// Console reports whether the bot talks in the terminal: no chat platform
// is configured.
func (c Config) Console() bool { return c.Slack == nil && c.Teams == nil }

// GraphAppID is Microsoft Graph's application id: the resource of the
// default permissions.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// PermissionList is the permission profile as the wizard takes it.
func (c Config) PermissionList() []appreg.Permission {
	out := make([]appreg.Permission, 0, len(c.Permissions))
	for _, p := range c.Permissions {
		out = append(out, appreg.Permission{Resource: GraphAppID, Name: p})
	}
	return out
}

// LoadConfig reads the settings through getenv, applies the defaults and
// validates them. The error is one line that names the setting.
func LoadConfig(getenv func(string) string) (Config, error) {
	e := settings(getenv)
	get, list := e.get, e.list
	c := Config{
		RedisURL: get("REDIS_URL", ""), RedisAddrs: list("REDIS_ADDRS", ""), RedisMasterName: get("REDIS_MASTER_NAME", ""),
		ListenAddr: get("BOT_LISTEN_ADDR", ""), OpsAddr: get("BOT_OPS_ADDR", ""), Operators: list("BOT_OPERATORS", ""),
		DefaultService:     get("BOT_DEFAULT_SERVICE", "default"),
		Permissions:        list("BOT_PERMISSIONS", "Organization.Read.All,User.Read.All,Group.Read.All"),
		NeededRoles:        list("BOT_NEEDED_ROLES", "Teams Administrator"),
		AzureClientID:      get("AZURE_CLIENT_ID", ""),
		Roles:              list("BOT_ROLES", strings.Join(wizard.DefaultRoles(), ",")),
		Approvers:          list("BOT_APPROVERS", ""),
		AdminToken:         get("BOT_ADMIN_TOKEN", ""),
		ReminderTime:       get("BOT_REMINDER_TIME", "09:00"),
		AzureAuthorityHost: get("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/"),
		GraphEndpoint:      get("GRAPH_ENDPOINT", "https://graph.microsoft.com"),
	}
	var err error
	fail := func(name string, err error) (Config, error) { return Config{}, fmt.Errorf("%s: %w", name, err) }
	if c.Slack, err = loadSlack(e); err != nil {
		return Config{}, err
	}
	if c.Teams, err = loadTeams(e); err != nil {
		return Config{}, err
	}
	if c.IdleTimeout, err = duration(get("BOT_IDLE_TIMEOUT", "24h")); err != nil || c.IdleTimeout < time.Minute {
		return fail("BOT_IDLE_TIMEOUT", orMsg(err, "must be at least 1m"))
	}
	if c.ApprovalTTL, err = duration(get("BOT_APPROVAL_TTL", "24h")); err != nil || c.ApprovalTTL < time.Minute || c.ApprovalTTL > c.IdleTimeout {
		return fail("BOT_APPROVAL_TTL", orMsg(err, "must be at least 1m and at most BOT_IDLE_TIMEOUT"))
	}
	if c.ConfirmTTL, err = duration(get("BOT_SECRET_CONFIRM_TTL", "2h")); err != nil || c.ConfirmTTL < time.Minute {
		return fail("BOT_SECRET_CONFIRM_TTL", orMsg(err, "must be at least 1m"))
	}
	for _, d := range list("BOT_REMINDER_DAYS", "30,14,7,3,1,0") {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 365 {
			return fail("BOT_REMINDER_DAYS", fmt.Errorf("want days before expiry, comma-separated, 0 to 365 (e.g. 30,14,7,3,1,0)"))
		}
		c.ReminderDays = append(c.ReminderDays, n)
	}
	if _, err := reminders.ParseTimeOfDay(c.ReminderTime); err != nil {
		return fail("BOT_REMINDER_TIME", fmt.Errorf("want a time of day such as 09:00"))
	}
	if c.ReminderRate, err = strconv.ParseFloat(get("BOT_REMINDER_RATE", "1"), 64); err != nil || c.ReminderRate <= 0 || c.ReminderRate > 50 {
		return fail("BOT_REMINDER_RATE", fmt.Errorf("want messages per second per channel, above 0 and at most 50"))
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		return fail("BOT_ADMIN_TOKEN", fmt.Errorf("use at least 16 random characters"))
	}
	if c.SecretLifetime, err = duration(get("BOT_SECRET_LIFETIME", "365d")); err != nil || c.SecretLifetime < 24*time.Hour || c.SecretLifetime > 730*24*time.Hour {
		return fail("BOT_SECRET_LIFETIME", orMsg(err, "must be between 1d and 730d (24 months, the portal's maximum)"))
	}
	if c.ValidationBackoff, err = duration(get("BOT_VALIDATION_BACKOFF", "5s")); err != nil || c.ValidationBackoff <= 0 {
		return fail("BOT_VALIDATION_BACKOFF", orMsg(err, "must be positive"))
	}
	if c.ValidationAttempts, err = strconv.Atoi(get("BOT_VALIDATION_ATTEMPTS", "6")); err != nil || c.ValidationAttempts < 1 || c.ValidationAttempts > 20 {
		return fail("BOT_VALIDATION_ATTEMPTS", orMsg(err, "must be a number from 1 to 20"))
	}
	if err = c.LogLevel.UnmarshalText([]byte(get("BOT_LOG_LEVEL", "info"))); err != nil {
		return fail("BOT_LOG_LEVEL", fmt.Errorf("want debug, info, warn or error"))
	}
	if c.Location, err = time.LoadLocation(get("BOT_TIMEZONE", "UTC")); err != nil {
		return fail("BOT_TIMEZONE", fmt.Errorf("unknown time zone (want an IANA name such as Europe/Berlin)"))
	}
	if c.SimulatedTenant, err = strconv.ParseBool(get("BOT_SIMULATED_TENANT", "false")); err != nil {
		return fail("BOT_SIMULATED_TENANT", fmt.Errorf("want true or false"))
	}
	if c.EmbeddedRedis, err = strconv.ParseBool(get("BOT_EMBEDDED_REDIS", "false")); err != nil {
		return fail("BOT_EMBEDDED_REDIS", fmt.Errorf("want true or false"))
	}
	if key := get("BOT_STATE_KEY", ""); key != "" {
		if c.StateKey, err = base64.StdEncoding.DecodeString(key); err != nil || len(c.StateKey) != 32 {
			return fail("BOT_STATE_KEY", fmt.Errorf("want 32 random bytes in base64 (openssl rand -base64 32)"))
		}
	}
	if c.Sinks, err = loadSinks(e, c.StateKey); err != nil {
		return Config{}, err
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return fail("REDIS_URL", fmt.Errorf("want a redis:// or rediss:// URL"))
		}
	}
	for name, v := range map[string]string{"AZURE_AUTHORITY_HOST": c.AzureAuthorityHost, "GRAPH_ENDPOINT": c.GraphEndpoint} {
		if err := checkURL(v); err != nil {
			return fail(name, err)
		}
	}
	if c.LocalTry() {
		// Teams' development mode answers only on loopback, like the
		// console: everyone at this machine, in-process state.
		if len(c.Operators) == 0 {
			c.Operators = []string{"*"}
		}
		c.EmbeddedRedis = true
	}
	if !c.Console() {
		if len(c.Operators) == 0 {
			return fail("BOT_OPERATORS", fmt.Errorf("required with a chat platform: the Slack user ids and user-group ids, or Teams users' Entra object ids, allowed to use the bot; * for everyone"))
		}
		if c.RedisURL == "" && len(c.RedisAddrs) == 0 && !c.EmbeddedRedis {
			return fail("REDIS_URL", fmt.Errorf("required with a chat platform: an embedded Redis loses every conversation and record on restart (set BOT_EMBEDDED_REDIS=true to accept that)"))
		}
		if c.AzureClientID == "" && !c.SimulatedTenant {
			return fail("AZURE_CLIENT_ID", fmt.Errorf("required with a chat platform (or set BOT_SIMULATED_TENANT=true to try the bot against the stand-in)"))
		}
	} else if c.AzureClientID == "" {
		// The zero-configuration console walks through the wizard against
		// the stand-in.
		c.SimulatedTenant = true
	}
	if c.ListenAddr == "" {
		c.ListenAddr = ":3000"
		if c.Console() {
			c.ListenAddr = "127.0.0.1:3000" // the console is for one person at this machine
		}
	}
	if len(c.Permissions) == 0 {
		return fail("BOT_PERMISSIONS", fmt.Errorf("name at least one permission"))
	}
	if !wizard.ValidService(c.DefaultService) {
		return fail("BOT_DEFAULT_SERVICE", fmt.Errorf("use letters, digits, dots, dashes or underscores"))
	}
	return c, nil
}

// settings reads the environment variables.
type settings func(string) string

// get returns the trimmed value of a variable, or def when it is empty.
func (e settings) get(name, def string) string {
	if v := strings.TrimSpace(e(name)); v != "" {
		return v
	}
	return def
}

// list returns the comma-separated items of a variable (or of def).
func (e settings) list(name, def string) []string {
	var out []string
	for _, s := range strings.Split(e.get(name, def), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkURL accepts an empty value, an https URL, or an http URL to a
// loopback host (a local fake or proxy): nothing secret travels in clear
// text over a network.
func checkURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || !safeurl.Allowed(u) {
		return fmt.Errorf("want an https URL (http only to a loopback address)")
	}
	return nil
}

// secrets are the configured values that must never reach a log line, for
// the logger to mask wherever they appear.
func (c Config) secrets() []string {
	out := []string{c.AdminToken, base64.StdEncoding.EncodeToString(c.StateKey), c.Sinks.WebhookSecret, c.Sinks.AzureClientSecret}
	if u, err := url.Parse(c.RedisURL); err == nil && u.User != nil {
		p, _ := u.User.Password()
		out = append(out, p)
	}
	if c.Slack != nil {
		out = append(out, c.Slack.BotToken, c.Slack.AppToken, c.Slack.SigningSecret)
	}
	if c.Teams != nil {
		out = append(out, c.Teams.AppPassword)
	}
	return out
}

// duration parses a Go duration, or a whole number of days such as "365d".
func duration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 90s, 15m, 24h, 365d)", s)
	}
	return d, nil
}

func orMsg(err error, msg string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s", msg)
}
