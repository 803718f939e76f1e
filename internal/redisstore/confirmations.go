package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Secret deliveries waiting for a confirmation: a sorted set by due time
// and a hash of the deliveries, under one hash tag.
const (
	unconfirmedDueKey  = "bot:{unconfirmed}:due"
	unconfirmedDataKey = "bot:{unconfirmed}:data"
)

// AwaitConfirmation implements appreg.Store.
func (s *Store) AwaitConfirmation(ctx context.Context, d appreg.SecretDelivery, due time.Time) error {
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode secret delivery: %w", err)
	}
	field := d.Key.String()
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, unconfirmedDataKey, field, data)
		p.ZAdd(ctx, unconfirmedDueKey, redis.Z{Score: float64(due.UnixMilli()), Member: field})
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// takeDeliveryScript removes a delivery from the wait and returns it, when
// it is still waiting: of two takers, one gets it.
var takeDeliveryScript = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
local d = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return d
`)

func (s *Store) takeDelivery(ctx context.Context, field string) (appreg.SecretDelivery, bool, error) {
	raw, err := takeDeliveryScript.Run(ctx, s.rdb, []string{unconfirmedDueKey, unconfirmedDataKey}, field).Text()
	if errors.Is(err, redis.Nil) {
		return appreg.SecretDelivery{}, false, nil
	}
	if err != nil {
		return appreg.SecretDelivery{}, false, unavailable(err)
	}
	var d appreg.SecretDelivery
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return appreg.SecretDelivery{}, false, fmt.Errorf("decode secret delivery %s: %w", field, err)
	}
	return d, true, nil
}

// Confirm implements appreg.Store.
func (s *Store) Confirm(ctx context.Context, key appreg.SecretKey) (appreg.SecretDelivery, bool, error) {
	return s.takeDelivery(ctx, key.String())
}

// ClaimUnconfirmed implements appreg.Store.
func (s *Store) ClaimUnconfirmed(ctx context.Context, now time.Time, limit int) ([]appreg.SecretDelivery, error) {
	due, err := s.rdb.ZRangeByScore(ctx, unconfirmedDueKey, &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	var out []appreg.SecretDelivery
	for _, field := range due {
		d, ours, err := s.takeDelivery(ctx, field)
		if err != nil {
			return out, err
		}
		if ours {
			out = append(out, d)
		}
	}
	return out, nil
}
