package reminders

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Store is the reminder schedule and delivery queue, shared by all
// replicas. Every method returns KindUnavailable when the store cannot be
// reached. Implementations must make ClaimDue, Snooze and the delivery
// methods atomic: the exactly-once guarantees of the package rest on them.
// package redisstore implements it on Redis (redisstore.ReminderStore).
type Store interface {
	// Schedule replaces the schedule of s.Secret with s.Reminders (given
	// least urgent first). Reminders due at or before s.Now are skipped
	// except the most urgent of them, and so is any reminder already sent
	// for the same secret, slot and expiry. When the expiry is unchanged,
	// pending snoozes survive; when it changed, the record of what was sent
	// is forgotten. It returns how many reminders are now scheduled.
	Schedule(ctx context.Context, s Schedule) (int, error)
	// Unschedule drops a secret's reminders and its record. It reports
	// whether the secret was tracked.
	Unschedule(ctx context.Context, id SecretID) (bool, error)
	// ClaimDue claims at most limit reminders due at or before now, in due
	// order. For each secret met, only the most urgent due reminder is
	// claimed (and recorded as sent); its other due reminders are dropped.
	// A claimed reminder is enqueued as one Delivery per message: to the
	// thread when the secret has a thread or toChannel is set, to the
	// engineer when the secret names one. Claim.Examined == limit means
	// more may be due.
	ClaimDue(ctx context.Context, now time.Time, limit int, toChannel bool) (Claim, error)
	// Snooze postpones the secret's next reminder to after past the last
	// reminder sent (after past now when that is already over, or when
	// nothing was sent yet), and drops the reminders due before it. A second
	// snooze of the same sent reminder changes nothing and reports Already.
	// KindNotFound when the secret is not tracked.
	Snooze(ctx context.Context, id SecretID, now time.Time, after time.Duration) (Snoozed, error)
	// Upcoming returns the next limit scheduled reminders, soonest first.
	Upcoming(ctx context.Context, limit int) ([]Upcoming, error)

	// TakeDeliveries takes at most limit deliveries visible at now: each is
	// made invisible until now+visibility and given a new token for holder.
	TakeDeliveries(ctx context.Context, now time.Time, visibility time.Duration, limit int, holder string) ([]Delivery, error)
	// HoldDelivery confirms that d is still held with d.Token and makes it
	// invisible until until. Stale when d's secret is no longer tracked
	// with the expiry it was claimed for (the caller acknowledges it
	// without posting); Lost when another token holds it (the caller
	// leaves it).
	HoldDelivery(ctx context.Context, d Delivery, until time.Time) (Hold, error)
	// ExtendDeliveries makes the deliveries still held with their tokens
	// invisible until until.
	ExtendDeliveries(ctx context.Context, ds []Delivery, until time.Time) error
	// ReleaseDelivery makes d, if still held with its token, visible again
	// at at, for any replica.
	ReleaseDelivery(ctx context.Context, d Delivery, at time.Time) error
	// AckDelivery deletes d: it was posted, or can never be. It reports
	// false when another token held it meanwhile.
	AckDelivery(ctx context.Context, d Delivery) (bool, error)

	// AcquireLease takes the scanning lease for owner, or renews it when
	// owner holds it. It reports false when another owner holds it.
	AcquireLease(ctx context.Context, owner string, ttl time.Duration) (bool, error)
	// ReleaseLease gives up the lease if owner holds it.
	ReleaseLease(ctx context.Context, owner string) error
}

// SecretID names a tracked secret: tenant id, application (client) id and
// the secret's key id.
type SecretID = appreg.SecretKey

// IDOf returns the id of a secret.
func IDOf(s appreg.SecretRef) SecretID { return s.Key() }

// Ref returns the reminder reference of a secret, "tenantID/appID/keyID":
// the Value of the Rotate and Snooze buttons.
func Ref(s appreg.SecretRef) string { return s.Key().String() }

// ParseRef parses a reminder reference made by Ref. KindInvalid when it is
// not one.
func ParseRef(ref string) (SecretID, error) { return appreg.ParseSecretKey(ref) }

// Slot names one reminder of a secret: "t<days>" for the reminder due that
// many days before expiry, "s<n>" for the n-th snooze.
type Slot string

// ThresholdSlot returns the slot of the reminder due days before expiry.
func ThresholdSlot(days int) Slot { return Slot("t" + strconv.Itoa(days)) }

// Threshold returns the days before expiry of a threshold slot; false for a
// snooze.
func (s Slot) Threshold() (int, bool) {
	if !strings.HasPrefix(string(s), "t") {
		return 0, false
	}
	n, err := strconv.Atoi(string(s[1:]))
	return n, err == nil
}

// Snooze reports whether the slot is a snoozed reminder.
func (s Slot) Snooze() bool { return strings.HasPrefix(string(s), "s") }

// Schedule is what Store.Schedule stores.
type Schedule struct {
	Secret    appreg.SecretRef
	Reminders []Due // least urgent first
	Now       time.Time
}

// Claim is the outcome of one Store.ClaimDue.
type Claim struct {
	Examined int // due reminders looked at
	Claimed  int // reminders claimed and enqueued
	Dropped  int // older due reminders dropped for a more urgent one
}

// Snoozed is the outcome of Store.Snooze.
type Snoozed struct {
	Secret  appreg.SecretRef
	Next    time.Time // when the next reminder is due
	Already bool      // the reminder had been snoozed before
}

// Upcoming is one scheduled reminder, for the `/appreg reminders` listing.
type Upcoming struct {
	Secret appreg.SecretRef
	Slot   Slot
	Due    time.Time
}

// Dest says which message of a reminder a delivery posts.
type Dest string

// The messages of one reminder.
const (
	DestThread   Dest = "thread" // the registration's thread, or Config.Channel
	DestEngineer Dest = "dm"     // a direct message to the engineer
)

// Delivery is one message of a claimed reminder, waiting in the queue.
type Delivery struct {
	ID        string
	Token     string // proves who holds it; changes on every take
	Secret    appreg.SecretRef
	Slot      Slot
	Dest      Dest
	ClaimedAt time.Time
	Attempt   int // how many times it was taken, this time included
}

// Hold is the outcome of Store.HoldDelivery.
type Hold int

// The outcomes of Store.HoldDelivery.
const (
	Held  Hold = iota // still ours: post it
	Lost              // another holder took it: leave it
	Stale             // its secret is gone or changed: acknowledge without posting
)
