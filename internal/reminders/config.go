package reminders

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Config says when reminders are due and how they are delivered. The zero
// value of every field means its default.
type Config struct {
	// Thresholds are the days before expiry at which a reminder is due.
	// Default 30, 14, 7, 3, 1, 0. Threshold 0 is the final alert on the
	// expiry date.
	Thresholds []int
	// TimeOfDay is when reminders are due on their day, "15:04" in
	// Location. Default "09:00".
	TimeOfDay string
	// Location is the time zone of TimeOfDay and of the dates shown.
	// Default UTC.
	Location *time.Location
	// Channels, by platform, receive the reminders of the registrations on
	// that platform instead of their creation threads.
	Channels map[string]string

	// LeaseTTL is how long the scanning replica's lease lasts without
	// renewal; another replica takes over after it. Default 1 minute.
	LeaseTTL time.Duration
	// ScanInterval is how often the lease holder scans for due reminders
	// (and renews its lease). Default 15 seconds; at most LeaseTTL/2.
	ScanInterval time.Duration
	// BatchSize is how many reminders one claim, and one take from the
	// delivery queue, handle at most. Default 100.
	BatchSize int
	// MaxHeld is how many deliveries a replica holds in memory at most,
	// across all channels. Default 1000.
	MaxHeld int

	// Visibility is how long a delivery taken from the queue stays
	// invisible to other replicas without being extended: the time after
	// which a dead replica's deliveries are retried. It must exceed the
	// longest post (the Slack adapter waits out up to three rate limits).
	// Default 5 minutes.
	Visibility time.Duration
	// PollInterval is how often the lease holder looks for deliveries
	// that became visible (retries, deliveries left by a dead replica).
	// Default 1 second.
	PollInterval time.Duration
	// ChannelRate is the number of messages per second posted to one
	// channel at most. Default 1 (Slack's chat.postMessage limit).
	ChannelRate float64
	// ChannelBurst is how many messages may go to one channel at once
	// before ChannelRate applies. Default 1.
	ChannelBurst int
	// MaxBackoff caps the wait between retries of a delivery the chat
	// refused as unavailable without saying how long to wait. Default 1
	// minute.
	MaxBackoff time.Duration

	// Replica names this replica in the lease and in delivery tokens.
	// Default a random name.
	Replica string
}

// withDefaults returns c with defaults filled in and the time of day
// parsed, or a KindInvalid error that names the bad setting.
func (c Config) withDefaults() (Config, time.Duration, error) {
	if len(c.Thresholds) == 0 {
		c.Thresholds = []int{30, 14, 7, 3, 1, 0}
	}
	th := slices.Clone(c.Thresholds)
	slices.Sort(th)
	th = slices.Compact(th)
	if th[0] < 0 {
		return c, 0, appreg.Errorf(appreg.KindInvalid, "reminder thresholds must be 0 or more days, got %d", th[0])
	}
	slices.Reverse(th) // least urgent first
	c.Thresholds = th
	if c.TimeOfDay == "" {
		c.TimeOfDay = "09:00"
	}
	tod, err := ParseTimeOfDay(c.TimeOfDay)
	if err != nil {
		return c, 0, err
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = time.Minute
	}
	if c.ScanInterval <= 0 {
		c.ScanInterval = min(15*time.Second, c.LeaseTTL/2)
	}
	if c.ScanInterval > c.LeaseTTL/2 {
		return c, 0, appreg.Errorf(appreg.KindInvalid, "the reminder scan interval (%s) must be at most half the lease TTL (%s)", c.ScanInterval, c.LeaseTTL)
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = 1000
	}
	if c.Visibility <= 0 {
		c.Visibility = 5 * time.Minute
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.ChannelRate <= 0 {
		c.ChannelRate = 1
	}
	if c.ChannelBurst <= 0 {
		c.ChannelBurst = 1
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Minute
	}
	if c.Replica == "" {
		c.Replica = newReplicaName()
	}
	return c, tod, nil
}

// ParseTimeOfDay parses "15:04" (24-hour clock) into the time since
// midnight. KindInvalid for anything else.
func ParseTimeOfDay(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, appreg.Wrap(appreg.KindInvalid, err, fmt.Sprintf("The reminder time of day %q is not HH:MM.", s))
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Due is one scheduled reminder of a secret.
type Due struct {
	Slot Slot
	At   time.Time
}

// dueTimes returns the reminders of a secret expiring at expires, least
// urgent (earliest) first: for each threshold, the expiry date minus the
// threshold in days, at tod in loc.
func dueTimes(expires time.Time, thresholds []int, tod time.Duration, loc *time.Location) []Due {
	y, m, d := expires.In(loc).Date()
	out := make([]Due, 0, len(thresholds))
	for _, t := range thresholds {
		day := time.Date(y, m, d-t, 0, 0, 0, 0, loc)
		// Add the time of day on the wall clock, so that 09:00 stays 09:00
		// across a daylight-saving change.
		at := time.Date(day.Year(), day.Month(), day.Day(), int(tod/time.Hour), int(tod%time.Hour/time.Minute), 0, 0, loc)
		out = append(out, Due{Slot: ThresholdSlot(t), At: at})
	}
	slices.SortStableFunc(out, func(a, b Due) int { return a.At.Compare(b.At) })
	return out
}

// daysLeft is the number of calendar days in loc from now's date to the
// expiry date: 0 on the expiry date, negative after it.
func daysLeft(now, expires time.Time, loc *time.Location) int {
	y1, m1, d1 := now.In(loc).Date()
	y2, m2, d2 := expires.In(loc).Date()
	a := time.Date(y1, m1, d1, 12, 0, 0, 0, time.UTC)
	b := time.Date(y2, m2, d2, 12, 0, 0, 0, time.UTC)
	return int(b.Sub(a).Round(24*time.Hour) / (24 * time.Hour))
}
