// Command bot runs appreg-bot on every chat platform that is configured
// (Slack: SLACK_BOT_TOKEN, in HTTP mode or Socket Mode), or as a chat in
// the terminal when none is. Every setting is an environment variable; see
// README.md.
//
// This package only reads the configuration and wires the adapters together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/appreg-bot/appreg-bot/handlers/console"
	"github.com/appreg-bot/appreg-bot/handlers/ops"
	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/entra"
	"github.com/appreg-bot/appreg-bot/internal/logging"
	"github.com/appreg-bot/appreg-bot/internal/metrics"
	"github.com/appreg-bot/appreg-bot/internal/panics"
	"github.com/appreg-bot/appreg-bot/internal/redisstore"
	"github.com/appreg-bot/appreg-bot/internal/reminders"
	"github.com/appreg-bot/appreg-bot/internal/simtenant"
	"github.com/appreg-bot/appreg-bot/internal/wizard"
)

func main() {
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "appreg-bot: configuration:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Config: cfg, Stdin: os.Stdin, Stdout: os.Stdout, LogOutput: os.Stderr}
	if cfg.Console() {
		// The console is a chat: its log goes to a file, named in the banner.
		f, err := openConsoleLog()
		if err != nil {
			fmt.Fprintln(os.Stderr, "appreg-bot: console log:", err)
			os.Exit(1)
		}
		defer f.Close()
		m.LogOutput, m.logPath = f, f.Name()
	}
	if err := m.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "appreg-bot:", err)
		os.Exit(1)
	}
	// Every other logger of the process (the standard library's, go-redis's)
	// goes through the same redaction.
	slog.SetDefault(m.log)
	redisstore.RouteLogs(m.log)
	select {
	case <-ctx.Done():
	case <-m.Done():
	}
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "appreg-bot: shutdown:", err)
		os.Exit(1)
	}
}

// Main is the running bot. Tests start it with BOT_LISTEN_ADDR 127.0.0.1:0.
type Main struct {
	Config    Config
	Stdin     io.Reader // the console's input
	Stdout    io.Writer // the console's output
	LogOutput io.Writer // JSON log lines

	// Tenant, when set, replaces the tenant adapter the configuration
	// names: tests give several replicas one stand-in.
	Tenant appreg.Tenant
	// Simulated is the stand-in tenant when Config.SimulatedTenant is set.
	Simulated *simtenant.Server

	// reminderScan overrides the reminder scan interval (tests).
	reminderScan time.Duration
	// keyVaultClient, when set, sends the Key Vault sink's requests and its
	// identity's token requests (tests: a fake vault), and skips Entra's
	// instance discovery.
	keyVaultClient *http.Client
	// extraPlatforms run beside the configured ones (tests).
	extraPlatforms []platform
	// logPath names the file LogOutput writes to, for the console's banner.
	logPath string
	// store is kept for the console's goodbye.
	store *redisstore.Store

	log         *slog.Logger
	wizard      *wizard.Wizard
	servers     []*http.Server
	listener    net.Listener
	opsListener net.Listener // BOT_OPS_ADDR, when set
	metrics     *metrics.Metrics
	limits      HTTPLimits // zero: DefaultHTTPLimits (tests shorten them)
	cancel      context.CancelFunc
	done        <-chan struct{}
	bg          sync.WaitGroup
	closers     []func()
	platforms   []platform
}

// Start connects the store, the chat platforms and the tenant, starts the
// HTTP server and the conversation engine, and returns. Done is closed when
// the console ends.
func (m *Main) Start(ctx context.Context) error {
	cfg := m.Config
	m.log = logging.New(m.LogOutput, cfg.LogLevel, cfg.secrets()...)
	ctx, m.cancel = context.WithCancel(ctx)

	rdb, closeRedis, err := redisstore.Connect(redisstore.Options{URL: cfg.RedisURL, Addrs: cfg.RedisAddrs, MasterName: cfg.RedisMasterName}, m.log)
	if err != nil {
		return err
	}
	m.closers = append(m.closers, closeRedis)
	// Keys outlive the idle timeout, so that the sweep sees an idle
	// conversation and ends it with a message rather than have it vanish.
	store := redisstore.New(rdb, 2*cfg.IdleTimeout, nil)
	m.store = store
	if err := store.Ping(ctx); err != nil {
		m.log.Warn("redis is not answering yet; the bot keeps trying and /readyz fails until it does", "err", err)
	}

	tenant := m.Tenant
	if tenant == nil {
		if tenant, err = m.tenant(); err != nil {
			return err
		}
	}

	var w *wizard.Wizard
	met := metrics.New(func(ctx context.Context) (map[appreg.State]int, error) { return w.CountByState(ctx) })
	m.metrics = met
	m.platforms = m.choosePlatforms(met, rdb)
	chats := appreg.Chats{Default: m.platforms[0].Name(), ByPlatform: map[string]appreg.Chat{}}
	approvals, reminderChannels := map[string]string{}, map[string]string{}
	for _, p := range m.platforms {
		chats.ByPlatform[p.Name()] = p.Chat()
		if ch := p.ApprovalsChannel(); ch != "" {
			approvals[p.Name()] = ch
		}
		if ch := p.RemindersChannel(); ch != "" {
			reminderChannels[p.Name()] = ch
			if p.Name() == chats.Default {
				reminderChannels[""] = ch // secrets tracked before platforms were named
			}
		}
	}
	operators := cfg.Operators
	if cfg.Console() {
		operators = []string{wizard.Everyone} // the person at the keyboard runs the process anyway
	} else if slices.Contains(operators, wizard.Everyone) {
		m.log.Warn("BOT_OPERATORS is *: everyone on the chat platforms may use the bot")
	}
	approvers := cfg.Approvers
	if cfg.Console() && len(approvers) == 0 {
		approvers = []string{console.Approver} // the console's second person
	}
	if len(approvals) > 0 && len(approvers) == 0 {
		m.log.Warn("BOT_APPROVERS is empty: role-change requests can be made but nobody can approve them")
	}
	if cfg.StateKey == nil {
		m.log.Info("BOT_STATE_KEY is not set: an admin's session stays in this process; a conversation that moves to another replica asks for a new sign-in")
	}

	sched, err := reminders.New(reminders.Config{
		Thresholds: cfg.ReminderDays, TimeOfDay: cfg.ReminderTime, Location: cfg.Location,
		Channels: reminderChannels, ChannelRate: cfg.ReminderRate, ScanInterval: m.reminderScan,
	}, reminders.Deps{Store: redisstore.NewReminderStore(rdb), Chat: chats, Observer: met, Logger: m.log})
	if err != nil {
		return err
	}
	sinks, err := m.sinks(ctx, rdb)
	if err != nil {
		return err
	}
	w, err = wizard.New(wizard.Config{
		Operators: operators, DefaultService: cfg.DefaultService, Permissions: cfg.PermissionList(),
		NeededRoles: cfg.NeededRoles, SecretLifetime: cfg.SecretLifetime, Credential: cfg.Sinks.Credential,
		ValidationAttempts: cfg.ValidationAttempts, ValidationBackoff: cfg.ValidationBackoff,
		IdleTimeout: cfg.IdleTimeout, StateKey: cfg.StateKey, Location: cfg.Location, SimulatedTenant: cfg.SimulatedTenant,
		Roles: cfg.Roles, Approvers: approvers, Approvals: approvals, ApprovalTTL: cfg.ApprovalTTL, ConfirmTTL: cfg.ConfirmTTL,
	}, wizard.Deps{Store: store, Chat: chats, Tenant: tenant, Logger: m.log, Observer: met,
		Reminders: sched, Snoozer: sched, Schedule: schedule{sched}, Sinks: sinks})
	if err != nil {
		return err
	}
	m.wizard = w
	w.Start()
	m.bg.Go(func() {
		if err := sched.Run(ctx); err != nil {
			m.log.Error("reminder scheduler stopped", "err", err)
		}
	})

	mux, opsMux := http.NewServeMux(), http.NewServeMux()
	if cfg.OpsAddr == "" {
		opsMux = mux
	}
	ops.Register(opsMux, store, met.Registry)
	ops.RegisterAudit(opsMux, cfg.AdminToken, store)
	if err := m.listen(); err != nil {
		return err
	}
	names := make([]string, 0, len(m.platforms))
	for _, p := range m.platforms {
		if err := p.Start(ctx, w, mux, &m.bg); err != nil {
			return fmt.Errorf("%s: %w", p.Name(), err)
		}
		names = append(names, p.Name())
	}
	m.serve(m.listener, mux)
	if cfg.OpsAddr != "" {
		l, err := net.Listen("tcp", cfg.OpsAddr)
		if err != nil {
			return fmt.Errorf("BOT_OPS_ADDR %s: %w", cfg.OpsAddr, err)
		}
		m.opsListener = l
		m.serve(l, opsMux)
	}
	m.log.Info("appreg-bot started", "platforms", names, "listen", m.listener.Addr().String(), "simulated_tenant", cfg.SimulatedTenant)
	return nil
}

// HTTPLimits bound what a client may take of a listener: slow or idle
// clients are cut off, headers and bodies are capped (the handlers cap
// bodies themselves).
type HTTPLimits struct {
	ReadHeader, Read, Write, Idle time.Duration
	MaxHeaderBytes                int
}

// DefaultHTTPLimits suit a chat platform's deliveries: small requests
// answered within seconds.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{ReadHeader: 5 * time.Second, Read: 10 * time.Second, Write: 20 * time.Second, Idle: 30 * time.Second, MaxHeaderBytes: 64 << 10}
}

// serve runs an HTTP server with the limits on l until Close.
func (m *Main) serve(l net.Listener, h http.Handler) {
	lim := m.limits
	if lim == (HTTPLimits{}) {
		lim = DefaultHTTPLimits()
	}
	srv := &http.Server{Handler: panics.Middleware(m.log, m.metrics.Panic, h), ReadHeaderTimeout: lim.ReadHeader, ReadTimeout: lim.Read, WriteTimeout: lim.Write,
		IdleTimeout: lim.Idle, MaxHeaderBytes: lim.MaxHeaderBytes, ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelWarn)}
	m.servers = append(m.servers, srv)
	m.bg.Go(func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("http server stopped", "err", err)
		}
	})
}

// listen opens the HTTP listener. In the console a busy port is no reason
// to stop: it takes a free one and the banner says which.
func (m *Main) listen() error {
	addr := m.Config.ListenAddr
	l, err := net.Listen("tcp", addr)
	if err != nil && m.Config.Console() {
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
			m.note(fmt.Sprintf("%s is busy; health, readiness and metrics are on http://%s instead.", addr, l.Addr()))
		}
	} else if err == nil && m.Config.Console() {
		m.note(fmt.Sprintf("Health, readiness and metrics: http://%s/healthz, /readyz, /metrics", l.Addr()))
	}
	if err != nil {
		return fmt.Errorf("BOT_LISTEN_ADDR %s: %w", addr, err)
	}
	m.listener = l
	return nil
}

// note adds a line to the console's banner.
func (m *Main) note(line string) {
	for _, p := range m.platforms {
		if c, ok := p.(*consolePlatform); ok {
			c.notes = append(c.notes, line)
		}
	}
}

// choosePlatforms returns the configured chat platforms, or the console
// when none is.
func (m *Main) choosePlatforms(met *metrics.Metrics, rdb redisstore.Client) []platform {
	var ps []platform
	if c := m.Config.Slack; c != nil {
		ps = append(ps, newSlack(c, m.log, met))
	}
	if c := m.Config.Teams; c != nil {
		ps = append(ps, m.newTeams(c, rdb, met))
	}
	ps = append(ps, m.extraPlatforms...)
	if len(ps) > 0 {
		m.done = make(chan struct{}) // never closed: the bot runs until stopped
		return ps
	}
	con := newConsole(m.Stdin, m.Stdout, m.Simulated, m.log)
	if m.logPath != "" {
		con.notes = append(con.notes, "Log: "+m.logPath)
	}
	m.done = con.done
	return []platform{con}
}

// tenant builds the tenant adapter: on Microsoft Entra ID and Graph, or on
// the in-process stand-in.
func (m *Main) tenant() (appreg.Tenant, error) {
	cfg := m.Config
	ec := entra.Config{ClientID: cfg.AzureClientID, AuthorityHost: cfg.AzureAuthorityHost, GraphEndpoint: cfg.GraphEndpoint, Logger: m.log}
	if cfg.SimulatedTenant {
		m.log.Warn("BOT_SIMULATED_TENANT=true: talking to an in-process stand-in for Entra ID and Graph, not to Microsoft. Not for production.")
		sim := simtenant.New(simtenant.Options{SignInHelp: demoHelp()})
		demoTenant(sim)
		m.Simulated = sim
		m.closers = append(m.closers, sim.Close)
		ec.ClientID, ec.AuthorityHost, ec.GraphEndpoint, ec.HTTPClient = sim.ClientID(), sim.URL(), sim.URL(), sim.Client()
	}
	return entra.New(ec)
}

// Addr is the HTTP server's address.
func (m *Main) Addr() string { return m.listener.Addr().String() }

// OpsAddr is the address of the operational endpoints: BOT_OPS_ADDR's
// listener, or the HTTP server's.
func (m *Main) OpsAddr() string {
	if m.opsListener != nil {
		return m.opsListener.Addr().String()
	}
	return m.Addr()
}

// Done is closed when the console ends.
func (m *Main) Done() <-chan struct{} { return m.done }

// Close shuts down gracefully, within about 15 s: the listeners stop taking
// requests and those being acknowledged finish (5 s at most), jobs stop and
// hand their conversations back to the other replicas (10 s at most, see
// wizard.Close), connections close.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	for _, srv := range m.servers {
		err = errors.Join(err, srv.Shutdown(ctx))
	}
	m.cancel()
	if m.wizard != nil {
		m.wizard.Close()
	}
	m.bg.Wait()
	m.sayGoodbye()
	for i := len(m.closers) - 1; i >= 0; i-- {
		m.closers[i]()
	}
	m.log.Info("appreg-bot stopped")
	return err
}

// sayGoodbye tells the person at the console that what is under way is
// lost with the embedded Redis, which keeps nothing after the process.
func (m *Main) sayGoodbye() {
	if !m.Config.Console() || m.Config.RedisURL != "" || m.store == nil || m.Stdout == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if live, err := m.store.LiveConversations(ctx); err == nil && len(live) > 0 {
		fmt.Fprintf(m.Stdout, "\nStopped with %d conversation(s) under way. They are lost: the console keeps its state in an embedded Redis, which ends with it (set REDIS_URL to keep state).\n", len(live))
	}
}

// schedule lists the scheduler's reminders for /appreg reminders.
type schedule struct{ s *reminders.Scheduler }

func (s schedule) Upcoming(ctx context.Context, limit int) ([]wizard.Upcoming, int, error) {
	next, total, err := s.s.Upcoming(ctx, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]wizard.Upcoming, 0, len(next))
	for _, u := range next {
		what := "snoozed"
		if days, ok := u.Slot.Threshold(); ok {
			switch days {
			case 0:
				what = "on the expiry date"
			case 1:
				what = "1 day before expiry"
			default:
				what = fmt.Sprintf("%d days before expiry", days)
			}
		}
		out = append(out, wizard.Upcoming{Secret: u.Secret, What: what, Due: u.Due})
	}
	return out, total, nil
}
