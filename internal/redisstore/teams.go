package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// TeamsRefs keeps the Teams adapter's references: for each conversation
// and user the bot has heard from, the few fields it needs to write there
// later (the service URL, the tenant, the user's Teams id, the personal
// chat's id). Each reference is one hash, bot:teams:{kind}:{id}, under its
// own hash tag, so it works on a Redis Cluster; it expires after the
// configured time without use, and every save or read renews that.
//
// Values are stored as given: the adapter decides what they mean. No
// secret is ever one of them.
type TeamsRefs struct {
	rdb redis.UniversalClient
	ttl time.Duration
}

// DefaultTeamsRefTTL is how long a reference nobody uses is kept: longer
// than a year, so that the yearly reminder of a secret still finds its
// conversation.
const DefaultTeamsRefTTL = 400 * 24 * time.Hour

// NewTeamsRefs returns the references on rdb, each kept ttl after its last
// use (DefaultTeamsRefTTL when ttl is 0).
func NewTeamsRefs(rdb redis.UniversalClient, ttl time.Duration) *TeamsRefs {
	if ttl <= 0 {
		ttl = DefaultTeamsRefTTL
	}
	return &TeamsRefs{rdb: rdb, ttl: ttl}
}

func teamsRefKey(kind, id string) string { return "bot:teams:" + kind + ":{" + id + "}" }

// SaveReference sets the non-empty fields of the reference kind/id (fields
// with an empty value keep what is stored) and renews its expiry, in one
// round trip. KindUnavailable when Redis cannot be reached.
func (r *TeamsRefs) SaveReference(ctx context.Context, kind, id string, fields map[string]string) error {
	key := teamsRefKey(kind, id)
	set := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		if v != "" {
			set = append(set, k, v)
		}
	}
	if len(set) == 0 {
		return nil
	}
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, set...)
		p.Expire(ctx, key, r.ttl)
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Reference returns the fields of the reference kind/id, an empty map when
// there is none, and renews its expiry. KindUnavailable when Redis cannot
// be reached.
func (r *TeamsRefs) Reference(ctx context.Context, kind, id string) (map[string]string, error) {
	key := teamsRefKey(kind, id)
	var get *redis.MapStringStringCmd
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.HGetAll(ctx, key)
		p.Expire(ctx, key, r.ttl)
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return get.Val(), nil
}

// ForgetField removes one field of a reference (a personal chat that is
// gone), keeping the rest.
func (r *TeamsRefs) ForgetField(ctx context.Context, kind, id, field string) error {
	if err := r.rdb.HDel(ctx, teamsRefKey(kind, id), field).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}
