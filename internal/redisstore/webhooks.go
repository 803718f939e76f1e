package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/appreg-bot/appreg-bot/internal/webhook"
)

// Webhook events waiting for their receiver: a hash of the events (their
// payload sealed by the webhook sink) and a sorted set by due time, under
// one hash tag so that every script touches one slot.
const (
	webhookEventsKey = "bot:{webhook}:events"
	webhookDueKey    = "bot:{webhook}:due"
)

// WebhookOutbox is a webhook.Outbox on Redis.
type WebhookOutbox struct{ rdb redis.UniversalClient }

var _ webhook.Outbox = (*WebhookOutbox)(nil)

// NewWebhookOutbox returns the outbox on rdb.
func NewWebhookOutbox(rdb redis.UniversalClient) *WebhookOutbox { return &WebhookOutbox{rdb: rdb} }

// addEventScript records an event unless one of its id is there.
var addEventScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
`)

// Add implements webhook.Outbox.
func (o *WebhookOutbox) Add(ctx context.Context, p webhook.Pending, due time.Time) (bool, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("encode webhook event: %w", err)
	}
	n, err := addEventScript.Run(ctx, o.rdb, []string{webhookEventsKey, webhookDueKey}, p.ID, data, due.UnixMilli()).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// claimEventsScript leases the events due by ARGV[1] until ARGV[2], at most
// ARGV[3] of them, and returns them.
var claimEventsScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local d = redis.call('HGET', KEYS[1], id)
  if d then
    redis.call('ZADD', KEYS[2], ARGV[2], id)
    table.insert(out, d)
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return out
`)

// Claim implements webhook.Outbox.
func (o *WebhookOutbox) Claim(ctx context.Context, now, until time.Time, n int) ([]webhook.Pending, error) {
	raw, err := claimEventsScript.Run(ctx, o.rdb, []string{webhookEventsKey, webhookDueKey}, now.UnixMilli(), until.UnixMilli(), n).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	out := make([]webhook.Pending, 0, len(raw))
	for _, r := range raw {
		var p webhook.Pending
		if err := json.Unmarshal([]byte(r), &p); err != nil {
			return nil, fmt.Errorf("decode webhook event: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// retryEventScript records an attempt of an event that is still there.
var retryEventScript = redis.NewScript(`
local d = redis.call('HGET', KEYS[1], ARGV[1])
if not d then return 0 end
local p = cjson.decode(d)
p['attempts'] = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(p))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
`)

// Retry implements webhook.Outbox.
func (o *WebhookOutbox) Retry(ctx context.Context, id string, attempts int, next time.Time) error {
	if err := retryEventScript.Run(ctx, o.rdb, []string{webhookEventsKey, webhookDueKey}, id, attempts, next.UnixMilli()).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Done implements webhook.Outbox.
func (o *WebhookOutbox) Done(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	_, err := o.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, webhookEventsKey, ids...)
		p.ZRem(ctx, webhookDueKey, members...)
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Due implements webhook.Outbox.
func (o *WebhookOutbox) Due(ctx context.Context, id string) (time.Time, bool, error) {
	score, err := o.rdb.ZScore(ctx, webhookDueKey, id).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, unavailable(err)
	}
	return time.UnixMilli(int64(score)), true, nil
}

// Pending returns how many webhook events wait (the tests read it).
func (o *WebhookOutbox) Pending(ctx context.Context) (int64, error) {
	n, err := o.rdb.HLen(ctx, webhookEventsKey).Result()
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}
