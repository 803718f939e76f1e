package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// A sign-in handed over by a replica that shut down while waiting for it:
// sealed by the engine, under the conversation's hash tag, expiring with
// the device code.
func handoverKey(id string) string { return "bot:conv:{" + id + "}:signin" }

// handedBackKey counts hand-backs: replicas poll it to notice one at once.
const handedBackKey = "bot:handedback"

// SaveHandover implements appreg.Store.
func (s *Store) SaveHandover(ctx context.Context, conversation string, sealed []byte, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, handoverKey(conversation), sealed, ttl).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Handover implements appreg.Store.
func (s *Store) Handover(ctx context.Context, conversation string) ([]byte, error) {
	data, err := s.rdb.Get(ctx, handoverKey(conversation)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return data, nil
}

// DropHandover implements appreg.Store.
func (s *Store) DropHandover(ctx context.Context, conversation string) error {
	if err := s.rdb.Del(ctx, handoverKey(conversation)).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// HandBack implements appreg.Store: one INCR.
func (s *Store) HandBack(ctx context.Context) error {
	if err := s.rdb.Incr(ctx, handedBackKey).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// HandedBack implements appreg.Store: one GET; 0 before the first HandBack.
func (s *Store) HandedBack(ctx context.Context) (int64, error) {
	n, err := s.rdb.Get(ctx, handedBackKey).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}
