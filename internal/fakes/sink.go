package fakes

import (
	"context"
	"sync"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Sink is a recording appreg.Sink. Safe for concurrent use.
type Sink struct {
	name string
	// OnDeliver, when set, runs first in every Deliver, outside the lock:
	// a test can hold a delivery in flight.
	OnDeliver func(appreg.Credential)

	mu        sync.Mutex
	delivered []appreg.Credential
	retired   []appreg.Credential
	fail      []error
}

var _ appreg.Sink = (*Sink)(nil)

// NewSink returns a sink of that name.
func NewSink(name string) *Sink { return &Sink{name: name} }

// Name implements appreg.Sink.
func (s *Sink) Name() string { return s.name }

// FailNext makes the next deliveries fail with errs.
func (s *Sink) FailNext(errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, errs...)
}

// Deliver implements appreg.Sink.
func (s *Sink) Deliver(ctx context.Context, c appreg.Credential) (appreg.Delivered, error) {
	if s.OnDeliver != nil {
		s.OnDeliver(c)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fail) > 0 {
		err := s.fail[0]
		s.fail = s.fail[1:]
		return appreg.Delivered{}, err
	}
	s.delivered = append(s.delivered, c)
	return appreg.Delivered{Sink: s.name, Where: s.name + " " + c.KeyID}, nil
}

// Retire implements appreg.Sink.
func (s *Sink) Retire(ctx context.Context, c appreg.Credential) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired = append(s.retired, c)
	return nil
}

// Delivered returns the credentials delivered so far.
func (s *Sink) Delivered() []appreg.Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]appreg.Credential(nil), s.delivered...)
}

// Retired returns the credentials retired so far.
func (s *Sink) Retired() []appreg.Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]appreg.Credential(nil), s.retired...)
}
