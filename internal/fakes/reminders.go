package fakes

import (
	"context"
	"sync"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Reminders is a recording appreg.Reminders: the set of tracked secrets.
type Reminders struct {
	mu      sync.Mutex
	tracked map[string]appreg.SecretRef // by key id
}

var _ appreg.Reminders = (*Reminders)(nil)

// NewReminders returns an empty schedule.
func NewReminders() *Reminders { return &Reminders{tracked: map[string]appreg.SecretRef{}} }

// Track implements appreg.Reminders: one reminder a week and one a day
// before the expiry.
func (r *Reminders) Track(ctx context.Context, s appreg.SecretRef) (appreg.ReminderPlan, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tracked[s.KeyID] = s
	return appreg.ReminderPlan{Due: []time.Time{s.Expires.AddDate(0, 0, -7), s.Expires.AddDate(0, 0, -1)}}, nil
}

// Untrack implements appreg.Reminders.
func (r *Reminders) Untrack(ctx context.Context, tenantID, appID, keyID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tracked, keyID)
	return nil
}

// Tracked returns the tracked secret with that key id, if any.
func (r *Reminders) Tracked(keyID string) (appreg.SecretRef, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.tracked[keyID]
	return s, ok
}

// Len is the number of tracked secrets.
func (r *Reminders) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tracked)
}
