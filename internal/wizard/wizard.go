// Package wizard is the onboarding conversation engine: it turns commands,
// clicks and form submissions from any chat into steps of the state machine
// declared in package appreg, and drives the customer's tenant through the
// Tenant port.
//
// Design:
//   - Every step is a compare-and-set on the conversation's version
//     (Store.UpdateConversation). Whoever loses a race reloads and finds the
//     step done: double clicks, retried deliveries and two replicas never
//     apply a step twice.
//   - Slow work (waiting for the admin's sign-in, creating the registration)
//     runs in jobs, one at a time per conversation across all replicas: a job
//     holds the conversation's lease in the store and renews it while it runs.
//     User actions (cancel, a name) do not need the lease; jobs notice them
//     when their own next compare-and-set fails.
//   - A sweep, at start-up and then every RecoveryInterval, picks up live
//     conversations whose job died with its replica and either continues them
//     or tells the user exactly what to do next.
//   - The admin's session stays in memory; with a state key configured it is
//     also stored encrypted (AES-256-GCM) so another replica can continue.
//     Without one, a conversation that meets another replica asks for a new
//     sign-in.
//   - A replica that shuts down hands its conversations back at once, and a
//     sign-in being waited for is handed over sealed with the state key, so
//     that another replica goes on waiting for the same code (handover.go).
//   - The store may go away for a while: deliveries are answered within
//     AckTimeout, and jobs wait for the store and continue rather than fail
//     (outage.go).
//   - Everything the engine says is written in messages.go, as structured
//     text (appreg.Text): no platform's markup, ids or idioms are known here.
//     The chat port says things by intent (post, reply in a thread, update,
//     tell one person privately, send a direct message) and answers whether
//     a user is one of the operators or approvers.
//
// Files: commands.go (what people type), actions.go (what they click and
// submit), signin.go, onboard.go, registration.go and roles.go (the flows),
// sweep.go (recovery), jobs.go (leases and steps), session.go (the admin's
// session), handover.go (rolling restarts), outage.go (store outages),
// refs.go (action ids and button values), messages.go.
package wizard

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/panics"
	"github.com/appreg-bot/appreg-bot/internal/seal"
)

// Config holds the wizard's settings. Zero values take the defaults of
// (*Config).defaults.
type Config struct {
	// Operators are the users allowed to use the bot, as their platforms
	// know them (user ids, user-group ids); "*" allows everyone, and
	// empty allows nobody.
	Operators []string
	// DefaultService names the service when a command gives none.
	DefaultService string
	// Permissions are the application permissions the registration needs.
	Permissions []appreg.Permission
	// NeededRoles are the directory roles the registration still needs after
	// onboarding, for the report.
	NeededRoles []string
	// SecretLifetime is the first client secret's lifetime.
	SecretLifetime time.Duration
	// Credential is the kind of credential made when a request does not
	// say (--secret, --certificate): a secret ("") or a certificate. A
	// certificate needs Deps.Sinks: its private key never goes to chat.
	Credential appreg.CredentialKind
	// ValidationAttempts and ValidationBackoff bound the credential check
	// that waits for a new secret to replicate; the wait doubles each time.
	ValidationAttempts int
	ValidationBackoff  time.Duration
	// IdleTimeout ends a conversation nobody has touched for that long.
	IdleTimeout time.Duration
	// StateKey, 32 bytes, encrypts admin sessions stored for other replicas.
	// Nil keeps sessions in this process only.
	StateKey []byte
	// Location is the time zone of times shown to people.
	Location *time.Location
	// LeaseTTL is how long a job's lease lasts without renewal.
	LeaseTTL time.Duration
	// RecoveryInterval is how often the sweep runs.
	RecoveryInterval time.Duration
	// HandBackPoll is how often the engine checks whether another replica
	// handed conversations back (it shut down), to sweep at once.
	HandBackPoll time.Duration
	// AckTimeout bounds the store time of a command, click or form
	// submission, so that it is answered within the chat platform's
	// deadline (Slack's 3 s) even when the store does not answer.
	AckTimeout time.Duration
	// CloseTimeout bounds how long Close waits for jobs to stop.
	CloseTimeout time.Duration
	// SimulatedTenant labels the tenant as a stand-in in the help.
	SimulatedTenant bool
	// Roles are the directory roles a role change may name.
	Roles []string
	// Approvers are the users who may decide role changes, as their
	// platforms know them; resolved at decision time.
	Approvers []string
	// Approvals is the channel where role-change requests are posted, by
	// platform: a request goes to the channel of its requester's platform.
	Approvals map[string]string
	// ApprovalTTL ends a request nobody decided within that time.
	ApprovalTTL time.Duration
	// ConfirmTTL is how long the person shown a secret has to confirm they
	// stored it before the thread says nobody did and offers to replace it.
	ConfirmTTL time.Duration
}

// approvals is the approvals channel of a platform; "" when role changes
// are off there.
func (c *Config) approvals(platform string) string { return c.Approvals[platform] }

func (c *Config) defaults() {
	if c.DefaultService == "" {
		c.DefaultService = "default"
	}
	if c.SecretLifetime == 0 {
		c.SecretLifetime = 365 * 24 * time.Hour
	}
	if c.ValidationAttempts == 0 {
		c.ValidationAttempts = 6
	}
	if c.ValidationBackoff == 0 {
		c.ValidationBackoff = 5 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 24 * time.Hour
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 30 * time.Second
	}
	if c.RecoveryInterval == 0 {
		c.RecoveryInterval = time.Minute
	}
	if c.HandBackPoll == 0 {
		c.HandBackPoll = 2 * time.Second
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 2 * time.Second
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 10 * time.Second
	}
	if len(c.Roles) == 0 {
		c.Roles = DefaultRoles()
	}
	if c.ApprovalTTL == 0 {
		c.ApprovalTTL = 24 * time.Hour
	}
	if c.ConfirmTTL == 0 {
		c.ConfirmTTL = 2 * time.Hour
	}
}

// Observer receives the events the metrics count. All methods must be cheap
// and safe for concurrent use.
type Observer interface {
	Command(name string)
	Transition(from, to appreg.State)
	Error(kind appreg.Kind)
	// Panic counts a panic recovered in one of the engine's goroutines.
	Panic()
}

type nopObserver struct{}

func (nopObserver) Command(string)                        {}
func (nopObserver) Transition(appreg.State, appreg.State) {}
func (nopObserver) Error(appreg.Kind)                     {}
func (nopObserver) Panic()                                {}

// Wizard is the conversation engine. It implements appreg.Bot.
type Wizard struct {
	cfg    Config
	store  appreg.Store
	chat   appreg.Chat
	tenant appreg.Tenant
	// reminders schedules expiry reminders; nil schedules none.
	reminders appreg.Reminders
	// sinks take credentials instead of the chat; none: the chat.
	sinks    []appreg.Sink
	snoozer  Snoozer
	schedule Schedule
	log      *slog.Logger
	goJob    func(func())
	obs      Observer
	now      func() time.Time
	owner    string // this replica's name in leases
	sealer   *seal.Sealer

	ctx  context.Context // parent of all jobs; cancelled by Close
	stop context.CancelFunc
	jobs sync.WaitGroup

	clickTable map[string]click

	mu        sync.Mutex
	sessions  map[string]appreg.Session // by conversation id
	signIns   map[string]appreg.Session // made, not yet recorded (outage.go)
	operators map[string]membership     // by platform and user id
}

var _ appreg.Bot = (*Wizard)(nil)

// membership is a cached answer to "is this user an operator".
type membership struct {
	ok bool
	at time.Time
}

// Snoozer postpones a secret's next reminder: the "Snooze 1 day" button.
// It returns what to tell the person who clicked.
type Snoozer interface {
	Snooze(ctx context.Context, ref string, by appreg.Caller) (appreg.Message, error)
}

// Upcoming is a scheduled reminder, for /appreg reminders.
type Upcoming struct {
	Secret appreg.SecretRef
	What   string // e.g. "7 days before expiry", "snoozed"
	Due    time.Time
}

// Schedule lists the reminders due next.
type Schedule interface {
	// Upcoming returns the next limit reminders, and how many are
	// scheduled in all.
	Upcoming(ctx context.Context, limit int) ([]Upcoming, int, error)
}

// Deps are the wizard's ports and tools. Reminders, Snoozer, Logger,
// Observer and Now may be nil.
type Deps struct {
	Store     appreg.Store
	Chat      appreg.Chat
	Tenant    appreg.Tenant
	Reminders appreg.Reminders
	// Sinks deliver credentials to where they are used; with any, a
	// credential never appears in chat. None: the requester's private
	// message.
	Sinks    []appreg.Sink
	Snoozer  Snoozer
	Schedule Schedule
	// Go starts a job; nil starts a goroutine. A benchmark of the
	// acknowledgement path holds jobs here to measure the path alone.
	Go       func(job func())
	Logger   *slog.Logger
	Observer Observer
	Now      func() time.Time
}

// New returns a Wizard. It starts nothing; call Start.
func New(cfg Config, d Deps) (*Wizard, error) {
	cfg.defaults()
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Observer == nil {
		d.Observer = nopObserver{}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Go == nil {
		d.Go = func(job func()) { go job() }
	}
	var s *seal.Sealer
	if cfg.StateKey != nil {
		var err error
		if s, err = seal.New(cfg.StateKey); err != nil {
			return nil, fmt.Errorf("state key: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Wizard{
		cfg: cfg, store: d.Store, chat: d.Chat, tenant: d.Tenant, reminders: d.Reminders, sinks: d.Sinks, snoozer: d.Snoozer, schedule: d.Schedule,
		log: d.Logger, obs: d.Observer, now: d.Now, goJob: d.Go,
		owner: newID(), sealer: s, ctx: ctx, stop: cancel,
		sessions: map[string]appreg.Session{}, signIns: map[string]appreg.Session{}, operators: map[string]membership{},
	}
	w.clickTable = w.clicks()
	return w, nil
}

// Start runs the recovery sweep now and then every RecoveryInterval until
// Close, and sweeps within HandBackPoll of another replica handing
// conversations back.
func (w *Wizard) Start() {
	last, known := w.handBacks()
	w.jobs.Go(func() { w.watchHandBacks(last, known) })
	w.jobs.Add(1)
	go func() {
		defer w.jobs.Done()
		t := time.NewTicker(w.cfg.RecoveryInterval)
		defer t.Stop()
		for {
			// A panic in one sweep leaves the next to run.
			func() {
				defer panics.Guard(w.log, w.obs.Panic, nil, "job", "sweep")
				w.Sweep(w.ctx)
			}()
			select {
			case <-w.ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops all jobs, waits for them (at most CloseTimeout) and tells the
// other replicas that it handed its conversations back. Every job releases
// its conversation's lease as it stops, so another replica's sweep continues
// it within HandBackPoll: a sign-in being waited for goes on being waited
// for there when it could be handed over (a state key is configured), or
// else the user is asked to get a new code; a creation resumes where it
// stopped.
func (w *Wizard) Close() {
	w.stop()
	done := make(chan struct{})
	go func() { w.jobs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.CloseTimeout):
		w.log.Warn("jobs still stopping at shutdown; their leases expire by themselves", "waited", w.cfg.CloseTimeout)
	}
	w.handBack()
}

// authorized reports whether the caller may use the bot. The platform's
// answer is kept for a minute, so that a command does not cost a user-group
// lookup each time.
func (w *Wizard) authorized(ctx context.Context, caller appreg.Caller) (bool, error) {
	if slices.Contains(w.cfg.Operators, Everyone) {
		return true, nil
	}
	key := caller.Platform + "\x00" + caller.User.ID
	w.mu.Lock()
	m, ok := w.operators[key]
	w.mu.Unlock()
	if ok && w.now().Sub(m.at) < membershipTTL {
		return m.ok, nil
	}
	is, err := w.chat.IsOneOf(ctx, caller.Platform, caller.User.ID, w.cfg.Operators)
	if err == nil {
		w.mu.Lock()
		w.operators[key] = membership{ok: is, at: w.now()}
		w.mu.Unlock()
	}
	return is, err
}

const membershipTTL = time.Minute

// Everyone, as an operator, allows every user of the platforms.
const Everyone = "*"

// CountByState counts the live conversations by state, for the metrics:
// one store round trip, however many there are.
func (w *Wizard) CountByState(ctx context.Context) (map[appreg.State]int, error) {
	return w.store.StateCounts(ctx)
}

// localNow is the time in the bot's time zone: dates and days shown to
// people are counted there.
func (w *Wizard) localNow() time.Time { return w.now().In(w.cfg.Location) }

// audit appends a record to the audit log; a failure is logged, never fatal.
func (w *Wizard) audit(ctx context.Context, r appreg.AuditRecord) {
	r.At = w.now().UTC()
	if r.Outcome == "" {
		r.Outcome = "ok"
	}
	w.log.Info("audit", "actor", r.Actor, "action", r.Action, "tenant", r.Tenant, "target", r.Target, "outcome", r.Outcome)
	if err := w.store.Audit(ctx, r); err != nil {
		w.log.Error("audit record not stored", "action", r.Action, "err", err)
	}
}
