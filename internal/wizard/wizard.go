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
//   - Everything the bot says is written in messages.go.
package wizard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Config holds the wizard's settings. Zero values take the defaults of
// (*Config).defaults.
type Config struct {
	// Operators are chat user ids and user-group ids allowed to run commands;
	// empty allows everyone.
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
	// SimulatedTenant labels the tenant as a stand-in in the help.
	SimulatedTenant bool
	// Roles are the directory roles a role change may name.
	Roles []string
	// Approvers are chat user ids and user-group ids who may decide role
	// changes; resolved at decision time.
	Approvers []string
	// ApprovalsChannel is where role-change requests are posted.
	ApprovalsChannel string
	// ApprovalTTL ends a request nobody decided within that time.
	ApprovalTTL time.Duration
}

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
	if len(c.Roles) == 0 {
		c.Roles = DefaultRoles()
	}
	if c.ApprovalTTL == 0 {
		c.ApprovalTTL = 24 * time.Hour
	}
}

// Observer receives the events the metrics count. All methods must be cheap
// and safe for concurrent use.
type Observer interface {
	Command(name string)
	Transition(from, to appreg.State)
	Error(kind appreg.Kind)
}

type nopObserver struct{}

func (nopObserver) Command(string)                        {}
func (nopObserver) Transition(appreg.State, appreg.State) {}
func (nopObserver) Error(appreg.Kind)                     {}

// Wizard is the conversation engine. It implements appreg.Bot.
type Wizard struct {
	cfg    Config
	store  appreg.Store
	chat   appreg.Chat
	tenant appreg.Tenant
	// reminders schedules expiry reminders; nil schedules none.
	reminders appreg.Reminders
	snoozer   Snoozer
	schedule  Schedule
	log       *slog.Logger
	goJob     func(func())
	obs       Observer
	now       func() time.Time
	owner     string // this replica's name in leases
	sealer    *sealer

	ctx  context.Context // parent of all jobs; cancelled by Close
	stop context.CancelFunc
	jobs sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]appreg.Session // by conversation id
	groups   map[string]groupCache
}

var _ appreg.Bot = (*Wizard)(nil)

type groupCache struct {
	members map[string]bool
	at      time.Time
}

// Snoozer postpones a secret's next reminder: the "Snooze 1 day" button.
type Snoozer interface {
	Snooze(ctx context.Context, ref string, by appreg.Caller) error
}

// Upcoming is a scheduled reminder, for /appreg reminders.
type Upcoming struct {
	Secret appreg.SecretRef
	What   string // e.g. "7 days before expiry", "snoozed"
	Due    time.Time
}

// Schedule lists the reminders due next.
type Schedule interface {
	Upcoming(ctx context.Context, limit int) ([]Upcoming, error)
}

// Deps are the wizard's ports and tools. Reminders, Snoozer, Logger,
// Observer and Now may be nil.
type Deps struct {
	Store     appreg.Store
	Chat      appreg.Chat
	Tenant    appreg.Tenant
	Reminders appreg.Reminders
	Snoozer   Snoozer
	Schedule  Schedule
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
	var s *sealer
	if cfg.StateKey != nil {
		var err error
		if s, err = newSealer(cfg.StateKey); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Wizard{
		cfg: cfg, store: d.Store, chat: d.Chat, tenant: d.Tenant, reminders: d.Reminders, snoozer: d.Snoozer, schedule: d.Schedule,
		log: d.Logger, obs: d.Observer, now: d.Now, goJob: d.Go,
		owner: newID(), sealer: s, ctx: ctx, stop: cancel,
		sessions: map[string]appreg.Session{}, groups: map[string]groupCache{},
	}, nil
}

// Start runs the recovery sweep now and then every RecoveryInterval until
// Close.
func (w *Wizard) Start() {
	w.jobs.Add(1)
	go func() {
		defer w.jobs.Done()
		t := time.NewTicker(w.cfg.RecoveryInterval)
		defer t.Stop()
		for {
			w.Sweep(w.ctx)
			select {
			case <-w.ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops all jobs and waits for them. Conversations stay as stored:
// a sign-in being waited for is picked up by the next sweep of any replica,
// which tells the user to get a new code; a creation resumes where it
// stopped.
func (w *Wizard) Close() {
	w.stop()
	w.jobs.Wait()
}

func newID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// spawn runs job for a conversation in the background while holding the
// conversation's lease, so that one job at a time works on a conversation
// across all replicas. When another job holds the lease, spawn waits for it
// up to LeaseTTL (a job that is just finishing), then leaves the
// conversation to the sweep. Jobs check the conversation's state when they
// run, so a job that waited and finds its step done does nothing.
func (w *Wizard) spawn(id string, job func(ctx context.Context, c *appreg.Conversation) error) {
	w.run(id, job, w.cfg.LeaseTTL)
}

// run is spawn with a bound on the wait for the lease; 0 tries once, as the
// sweep does: a busy conversation has its job.
func (w *Wizard) run(id string, job func(ctx context.Context, c *appreg.Conversation) error, wait time.Duration) {
	// The owner names this job, not just this replica: a second job for the
	// same conversation in this process must not share the lease.
	lease, owner := "conv:"+id, w.owner+":"+newID()
	w.jobs.Add(1)
	w.goJob(func() {
		defer w.jobs.Done()
		if !w.acquire(lease, owner, wait) {
			return
		}
		ctx, cancel := context.WithCancel(w.ctx)
		defer cancel()
		go w.renew(ctx, cancel, lease, owner)
		defer func() {
			// A fresh context: the job's own may be cancelled by Close.
			rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer rcancel()
			_ = w.store.ReleaseLease(rctx, lease, owner)
		}()
		c, err := w.store.Conversation(ctx, id)
		if err == nil {
			err = job(ctx, c)
		}
		if err != nil && ctx.Err() == nil {
			w.jobFailed(id, err)
		}
	})
}

// acquire takes a job's lease, waiting up to wait for another holder.
func (w *Wizard) acquire(lease, owner string, wait time.Duration) bool {
	deadline := time.Now().Add(wait) // real time: it paces real polling
	for {
		ok, err := w.store.AcquireLease(w.ctx, lease, owner, w.cfg.LeaseTTL)
		if ok {
			return true
		}
		if err != nil {
			w.log.Warn("lease not taken", "lease", lease, "err", err)
			return false
		}
		if !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-w.ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// renew keeps a lease while its job runs, and stops the job when the lease
// is lost to another owner.
func (w *Wizard) renew(ctx context.Context, stop context.CancelFunc, lease, owner string) {
	t := time.NewTicker(w.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ok, err := w.store.AcquireLease(ctx, lease, owner, w.cfg.LeaseTTL)
			if err == nil && !ok {
				w.log.Warn("lease lost; stopping job", "lease", lease)
				stop()
				return
			}
		}
	}
}

// jobFailed reports an error that ended a job, in the conversation's thread.
func (w *Wizard) jobFailed(id string, err error) {
	w.obs.Error(appreg.ErrorKind(err))
	w.log.Error("conversation step failed", "conversation", id, "kind", appreg.ErrorKind(err), "err", err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, lerr := w.store.Conversation(ctx, id)
	if lerr != nil || c.State.Terminal() || c.Status.TS == "" {
		return
	}
	if c.State == appreg.StateCreating {
		// Recorded so that the sweep waits for the user's Retry.
		c.Reason = appreg.ErrorMessage(err)
		if w.save(ctx, c) != nil {
			return
		}
		w.updateStatus(ctx, c)
	}
	w.post(ctx, c, msgStepFailed(c, err))
}

// save stores c (a compare-and-set). On a conflict it returns the error;
// the caller's job stops, and whoever won carries on.
func (w *Wizard) save(ctx context.Context, c *appreg.Conversation) error {
	return w.store.UpdateConversation(ctx, c)
}

// move moves c to state to, applying change first, and updates the status
// message. It returns a KindConflict error when the step is not allowed
// from c's state or another change came first.
func (w *Wizard) move(ctx context.Context, c *appreg.Conversation, to appreg.State, change func(*appreg.Conversation)) error {
	from := c.State
	if !from.CanMoveTo(to) {
		return appreg.Errorf(appreg.KindConflict, "This conversation is %s and cannot go to %s.", describeState(from), describeState(to))
	}
	next := *c
	if change != nil {
		change(&next)
	}
	next.State = to
	if err := w.save(ctx, &next); err != nil {
		return err
	}
	*c = next
	w.obs.Transition(from, to)
	w.log.Info("conversation moved", "conversation", c.ID, "from", from, "to", to, "version", c.Version)
	if to.Terminal() {
		if c.Name != "" && to != appreg.StateDone {
			_ = w.store.ReleaseName(ctx, c.Service, c.Name, c.ID)
		}
		_ = w.store.SetActiveConversation(ctx, c.Requester.Channel, c.Requester.User.ID, "")
		w.forgetSession(ctx, c.ID)
	}
	w.updateStatus(ctx, c)
	return nil
}

func (w *Wizard) updateStatus(ctx context.Context, c *appreg.Conversation) {
	if c.Status.TS == "" {
		return
	}
	if err := w.chat.Update(ctx, c.Status, statusMessage(c, w.cfg.Location)); err != nil {
		w.log.Warn("status message not updated", "conversation", c.ID, "err", err)
	}
}

// post posts msg in the conversation's thread; a failure is logged.
func (w *Wizard) post(ctx context.Context, c *appreg.Conversation, msg appreg.Message) {
	if _, err := w.chat.Post(ctx, c.Thread(), msg); err != nil {
		w.log.Warn("thread message not posted", "conversation", c.ID, "err", err)
	}
}

// tell posts msg privately, in the conversation's thread, to whoever signs
// in: the requester, or the approver of a role change.
func (w *Wizard) tell(ctx context.Context, c *appreg.Conversation, msg appreg.Message) error {
	return w.chat.PostPrivate(ctx, c.Thread(), signer(c).User.ID, msg)
}

// cannotPost handles a thread that cannot be opened: when the bot may not
// post there (not a member, archived, unknown channel) the conversation
// fails and the requester hears why in a direct message; other errors are
// returned, and the sweep tries again.
func (w *Wizard) cannotPost(ctx context.Context, c *appreg.Conversation, err error, reason string) error {
	if k := appreg.ErrorKind(err); k != appreg.KindForbidden && k != appreg.KindNotFound {
		return err
	}
	w.log.Warn("thread not opened", "conversation", c.ID, "channel", c.Requester.Channel, "err", err)
	if merr := w.move(ctx, c, appreg.StateFailed, func(c *appreg.Conversation) { c.Reason = reason }); merr != nil {
		return merr
	}
	if _, derr := w.chat.Post(ctx, appreg.Place{Channel: c.Requester.User.ID}, appreg.Message{Text: ":warning: " + reason}); derr != nil {
		w.log.Warn("requester not told", "conversation", c.ID, "err", derr)
	}
	return nil
}

// authorized reports whether the caller may use the bot.
func (w *Wizard) authorized(ctx context.Context, caller appreg.Caller) (bool, error) {
	if len(w.cfg.Operators) == 0 || caller.Platform == "console" {
		return true, nil
	}
	var groups []string
	for _, op := range w.cfg.Operators {
		if op == caller.User.ID {
			return true, nil
		}
		if isGroupID(op) {
			groups = append(groups, op)
		}
	}
	var firstErr error
	for _, g := range groups {
		members, err := w.groupMembers(ctx, g)
		if err != nil {
			firstErr = errors.Join(firstErr, err)
			continue
		}
		if members[caller.User.ID] {
			return true, nil
		}
	}
	return false, firstErr
}

// isGroupID reports whether an operator entry is a Slack user-group id.
func isGroupID(id string) bool { return len(id) > 1 && id[0] == 'S' }

const groupCacheTTL = time.Minute

func (w *Wizard) groupMembers(ctx context.Context, group string) (map[string]bool, error) {
	w.mu.Lock()
	gc, ok := w.groups[group]
	w.mu.Unlock()
	if ok && w.now().Sub(gc.at) < groupCacheTTL {
		return gc.members, nil
	}
	ids, err := w.chat.GroupMembers(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", group, err)
	}
	members := make(map[string]bool, len(ids))
	for _, id := range ids {
		members[id] = true
	}
	w.mu.Lock()
	w.groups[group] = groupCache{members: members, at: w.now()}
	w.mu.Unlock()
	return members, nil
}

// CountByState counts the live conversations by state, for the metrics.
func (w *Wizard) CountByState(ctx context.Context) (map[appreg.State]int, error) {
	ids, err := w.store.LiveConversations(ctx)
	if err != nil {
		return nil, err
	}
	counts := map[appreg.State]int{}
	for _, id := range ids {
		c, err := w.store.Conversation(ctx, id)
		if appreg.ErrorKind(err) == appreg.KindNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		counts[c.State]++
	}
	return counts, nil
}

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
