// Package redisstore implements appreg.Store on Redis through go-redis.
//
// Every conversation is one hash, bot:conv:{id}, holding the conversation as
// JSON ("d") beside its version ("v"). Updates are a compare-and-set in a Lua
// script on that one key, so they are atomic on a single server, a Sentinel
// pair and a Cluster alike; keys that belong to one conversation share its
// hash tag {id}. The hash expires after the configured idle time and every
// update renews it: a conversation nobody touches goes away by itself.
//
// Indexes that span conversations (the live set, the registry) are written
// after the conversation itself and are repaired by readers: a live entry
// whose conversation is gone is dropped when met.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Store is an appreg.Store on Redis. It is safe for concurrent use.
type Store struct {
	rdb  redis.UniversalClient
	idle time.Duration
	now  func() time.Time
}

var _ appreg.Store = (*Store)(nil)

// New returns a Store on rdb. Conversations expire after idle without a
// change. now may be nil (time.Now).
func New(rdb redis.UniversalClient, idle time.Duration, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{rdb: rdb, idle: idle, now: now}
}

// Key names. Keys of one conversation share the hash tag {id}.
func convKey(id string) string    { return "bot:conv:{" + id + "}" }
func sessionKey(id string) string { return "bot:conv:{" + id + "}:session" }

const (
	liveKey          = "bot:live"
	registrationsKey = "bot:registrations"
)

func activeKey(channel, user string) string { return "bot:active:" + channel + ":" + user }

// deliveryTTL is how long a delivery's idempotency key is kept: longer than
// any platform retries.
const deliveryTTL = 10 * time.Minute

func seenKey(key string) string   { return "bot:seen:" + key }
func leaseKey(name string) string { return "bot:lease:" + name }
func nameKey(service, name string) string {
	return "bot:name:" + strings.ToLower(service) + ":" + appreg.NameKey(name)
}

// casScript stores a new version of a conversation if the stored version is
// the expected one. Returns 1 when stored, 0 on a version mismatch and -1
// when the conversation is gone.
var casScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// createScript stores a new conversation at version 1 unless the key
// exists: one round trip on the acknowledgement path.
var createScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], 'v', '1') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'd', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// releaseScript deletes a key only when it holds the expected value.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// leaseScript takes a free lease or renews one the owner already holds.
var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`)

// storeDown is what a person hears when the store does not answer: the
// acknowledgement path gives up within its budget, so trying again soon is
// the right advice.
const storeDown = "The bot's storage is not answering right now. Please try again in a moment."

func unavailable(err error) error {
	return appreg.Wrap(appreg.KindUnavailable, fmt.Errorf("%w: %w", appreg.ErrStoreUnavailable, err), storeDown)
}

// CreateConversation implements appreg.Store in one pipeline: claim the
// delivery key (SET NX EX), claim the requester's active slot (SET NX),
// create the conversation (a script on its own key) and index it as live.
// Keys of different hash slots are never in one script, so it works on a
// Cluster. In the rare cases where a claim fails, what the pipeline did is
// undone.
func (s *Store) CreateConversation(ctx context.Context, c *appreg.Conversation, delivery string) (string, error) {
	active := activeKey(c.Requester.Channel, c.Requester.User.ID)
	c.Version = 1
	data, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode conversation: %w", err)
	}
	pipe := s.rdb.Pipeline()
	var first *redis.BoolCmd
	if delivery != "" {
		first = pipe.SetNX(ctx, seenKey(delivery), 1, deliveryTTL)
	}
	var claimed *redis.BoolCmd // nil: the conversation holds no slot
	if c.HoldsSlot() {
		claimed = pipe.SetNX(ctx, active, c.ID, s.idle)
	}
	created := createScript.Eval(ctx, pipe, []string{convKey(c.ID)}, data, s.idle.Milliseconds())
	pipe.ZAdd(ctx, liveKey, redis.Z{Score: float64(s.now().Unix()), Member: c.ID})
	if _, err := pipe.Exec(ctx); err != nil {
		return "", unavailable(err)
	}
	holds := claimed != nil && claimed.Val()
	if n, _ := created.Int(); n == 0 {
		if holds {
			releaseScript.Run(ctx, s.rdb, []string{active}, c.ID)
		}
		return "", appreg.Errorf(appreg.KindConflict, "A conversation with this id exists already.")
	}
	retried := first != nil && !first.Val()
	if !retried && (claimed == nil || holds) {
		return "", nil
	}
	// Undo: a retried delivery, or the user has a conversation running.
	undo := s.rdb.Pipeline()
	undo.Del(ctx, convKey(c.ID))
	undo.ZRem(ctx, liveKey, c.ID)
	if _, err := undo.Exec(ctx); err != nil {
		return "", unavailable(err)
	}
	if retried {
		if holds {
			releaseScript.Run(ctx, s.rdb, []string{active}, c.ID)
		}
		return "", appreg.ErrDuplicateDelivery
	}
	cur, err := s.rdb.Get(ctx, active).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", unavailable(err)
	}
	return cur, nil
}

// Conversation implements appreg.Store.
func (s *Store) Conversation(ctx context.Context, id string) (*appreg.Conversation, error) {
	data, err := s.rdb.HGet(ctx, convKey(id), "d").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, appreg.Errorf(appreg.KindNotFound, "That conversation has ended and is no longer kept. Nothing was done; start a new one with /appreg.")
	}
	if err != nil {
		return nil, unavailable(err)
	}
	var c appreg.Conversation
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("decode conversation %s: %w", id, err)
	}
	return &c, nil
}

// UpdateConversation implements appreg.Store.
func (s *Store) UpdateConversation(ctx context.Context, c *appreg.Conversation) error {
	expected := c.Version
	next := *c
	next.Version = expected + 1
	next.UpdatedAt = s.now().UTC()
	data, err := json.Marshal(&next)
	if err != nil {
		return fmt.Errorf("encode conversation: %w", err)
	}
	res, err := casScript.Run(ctx, s.rdb, []string{convKey(c.ID)},
		expected, next.Version, data, s.idle.Milliseconds()).Int()
	if err != nil {
		return unavailable(err)
	}
	switch res {
	case -1:
		return appreg.Errorf(appreg.KindNotFound, "That conversation has ended and is no longer kept. Nothing was done; start a new one with /appreg.")
	case 0:
		return appreg.Errorf(appreg.KindConflict, "The conversation changed meanwhile.")
	}
	*c = next
	// The live index holds the conversation from its creation; only its end
	// changes it.
	if c.State.Terminal() {
		if err := s.rdb.ZRem(ctx, liveKey, c.ID).Err(); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// LiveConversations implements appreg.Store. Entries whose conversation has
// expired are dropped from the index on the way.
func (s *Store) LiveConversations(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.ZRange(ctx, liveKey, 0, -1).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	pipe := s.rdb.Pipeline()
	exists := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		exists[i] = pipe.Exists(ctx, convKey(id))
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, unavailable(err)
		}
	}
	live := ids[:0]
	for i, id := range ids {
		if exists[i].Val() == 0 {
			s.rdb.ZRem(ctx, liveKey, id)
			continue
		}
		live = append(live, id)
	}
	return live, nil
}

// ActiveConversation implements appreg.Store.
func (s *Store) ActiveConversation(ctx context.Context, channel, user string) (string, error) {
	id, err := s.rdb.Get(ctx, activeKey(channel, user)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", unavailable(err)
	}
	return id, nil
}

// ClearActiveConversation implements appreg.Store.
func (s *Store) ClearActiveConversation(ctx context.Context, channel, user, id string) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{activeKey(channel, user)}, id).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// FirstDelivery implements appreg.Store.
func (s *Store) FirstDelivery(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	first, err := s.rdb.SetNX(ctx, seenKey(key), 1, ttl).Result()
	if err != nil {
		return false, unavailable(err)
	}
	return first, nil
}

// AcquireLease implements appreg.Store.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	ok, err := leaseScript.Run(ctx, s.rdb, []string{leaseKey(name)}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return ok == 1, nil
}

// ReleaseLease implements appreg.Store.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{leaseKey(name)}, owner).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// ReserveName implements appreg.Store. A name held by a finished
// registration is held for good; one held by a conversation lasts as long as
// the conversation may.
func (s *Store) ReserveName(ctx context.Context, service, name, conversation string) error {
	key := nameKey(service, name)
	ok, err := s.rdb.SetNX(ctx, key, conversation, s.idle).Result()
	if err != nil {
		return unavailable(err)
	}
	if ok {
		return nil
	}
	holder, err := s.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) { // released in between: try once more
		return s.ReserveName(ctx, service, name, conversation)
	}
	if err != nil {
		return unavailable(err)
	}
	if holder == conversation {
		return nil
	}
	if strings.HasPrefix(holder, "registration:") {
		return appreg.Errorf(appreg.KindConflict, "The name %q is already used by a registration for service %q.", name, service)
	}
	return appreg.Errorf(appreg.KindConflict, "The name %q is being claimed for service %q in another conversation.", name, service)
}

// ReleaseName implements appreg.Store.
func (s *Store) ReleaseName(ctx context.Context, service, name, conversation string) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{nameKey(service, name)}, conversation).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// SaveSession implements appreg.Store. The bytes must already be encrypted.
func (s *Store) SaveSession(ctx context.Context, conversation string, sealed []byte, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, sessionKey(conversation), sealed, ttl).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Session implements appreg.Store.
func (s *Store) Session(ctx context.Context, conversation string) ([]byte, error) {
	data, err := s.rdb.Get(ctx, sessionKey(conversation)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return data, nil
}

// DropSession implements appreg.Store.
func (s *Store) DropSession(ctx context.Context, conversation string) error {
	if err := s.rdb.Del(ctx, sessionKey(conversation)).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

func registrationField(tenantID, appID string) string { return tenantID + "/" + appID }

func historyKey(tenantID, appID string) string {
	return "bot:history:" + registrationField(tenantID, appID)
}

// SaveRegistration implements appreg.Store: it stores the registration,
// holds its name for each of its services, and appends the change to the
// registration's history (a list).
func (s *Store) SaveRegistration(ctx context.Context, r appreg.Registration, change appreg.Change) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode registration: %w", err)
	}
	entry, err := json.Marshal(change)
	if err != nil {
		return fmt.Errorf("encode change: %w", err)
	}
	pipe := s.rdb.Pipeline()
	pipe.HSet(ctx, registrationsKey, registrationField(r.TenantID, r.AppID), data)
	for _, service := range r.Services {
		pipe.Set(ctx, nameKey(service, r.Name), "registration:"+r.AppID, 0)
	}
	pipe.RPush(ctx, historyKey(r.TenantID, r.AppID), entry)
	pipe.LTrim(ctx, historyKey(r.TenantID, r.AppID), -historyRetention, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// UpdateRegistration implements appreg.Store with optimistic locking:
// WATCH the registry, read the record, apply, write in MULTI/EXEC; a
// concurrent write makes EXEC fail and the update run again on the fresh
// record. Name holds and history go after the transaction: they live in
// other hash slots, and both are idempotent or append-only.
func (s *Store) UpdateRegistration(ctx context.Context, tenantID, appID string, what appreg.Change, apply func(*appreg.Registration) error) (*appreg.Registration, error) {
	field := registrationField(tenantID, appID)
	var r appreg.Registration
	txf := func(tx *redis.Tx) error {
		data, err := tx.HGet(ctx, registrationsKey, field).Bytes()
		if errors.Is(err, redis.Nil) {
			return appreg.Errorf(appreg.KindNotFound, "The bot has no record of that registration.")
		}
		if err != nil {
			return unavailable(err)
		}
		r = appreg.Registration{}
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("decode registration %s: %w", field, err)
		}
		if err := apply(&r); err != nil {
			return err
		}
		out, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode registration: %w", err)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, registrationsKey, field, out)
			return nil
		})
		return err
	}
	for attempt := 0; ; attempt++ {
		err := s.rdb.Watch(ctx, txf, registrationsKey)
		if errors.Is(err, redis.TxFailedErr) && attempt < 20 {
			continue
		}
		if errors.Is(err, redis.TxFailedErr) {
			return nil, appreg.Errorf(appreg.KindConflict, "The registration's record is changing too often right now; try again.")
		}
		if err != nil {
			var ae *appreg.Error
			if errors.As(err, &ae) {
				return nil, err
			}
			return nil, unavailable(err)
		}
		break
	}
	entry, err := json.Marshal(what)
	if err != nil {
		return nil, fmt.Errorf("encode change: %w", err)
	}
	pipe := s.rdb.Pipeline()
	for _, service := range r.Services {
		pipe.Set(ctx, nameKey(service, r.Name), "registration:"+r.AppID, 0)
	}
	pipe.RPush(ctx, historyKey(tenantID, appID), entry)
	pipe.LTrim(ctx, historyKey(tenantID, appID), -historyRetention, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, unavailable(err)
	}
	return &r, nil
}

// Registrations implements appreg.Store.
func (s *Store) Registrations(ctx context.Context, tenant string) ([]appreg.Registration, error) {
	all, err := s.rdb.HGetAll(ctx, registrationsKey).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]appreg.Registration, 0, len(all))
	for field, data := range all {
		var r appreg.Registration
		if err := json.Unmarshal([]byte(data), &r); err != nil {
			return nil, fmt.Errorf("decode registration %s: %w", field, err)
		}
		if tenant == "" || r.InTenant(tenant) {
			out = append(out, r)
		}
	}
	return out, nil
}

// History implements appreg.Store.
func (s *Store) History(ctx context.Context, tenantID, appID string) ([]appreg.Change, error) {
	raw, err := s.rdb.LRange(ctx, historyKey(tenantID, appID), 0, -1).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]appreg.Change, 0, len(raw))
	for _, data := range raw {
		var c appreg.Change
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return nil, fmt.Errorf("decode change: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// Ping implements appreg.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

const (
	auditKey = "bot:audit"
	// auditRetention is how many records the audit stream keeps (about):
	// the oldest go first.
	auditRetention = 1_000_000
	// historyRetention is how many changes a registration's history keeps.
	historyRetention = 1000
)

// Audit implements appreg.Store: XADD to a stream, append-only.
func (s *Store) Audit(ctx context.Context, r appreg.AuditRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode audit record: %w", err)
	}
	if err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: auditKey, MaxLen: auditRetention, Approx: true, Values: map[string]any{"r": data}}).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// AuditLog implements appreg.Store. It reads the stream backwards in pages
// until it has limit matching records.
func (s *Store) AuditLog(ctx context.Context, filter string, limit, scan int) ([]appreg.AuditRecord, bool, error) {
	filter = strings.ToLower(filter)
	var out []appreg.AuditRecord
	end, read := "+", 0
	for len(out) < limit {
		if read >= scan {
			return out, false, nil
		}
		msgs, err := s.rdb.XRevRangeN(ctx, auditKey, end, "-", int64(min(200, scan-read))).Result()
		if err != nil {
			return nil, false, unavailable(err)
		}
		read += len(msgs)
		for _, m := range msgs {
			raw, _ := m.Values["r"].(string)
			var r appreg.AuditRecord
			if err := json.Unmarshal([]byte(raw), &r); err != nil {
				return nil, false, fmt.Errorf("decode audit record %s: %w", m.ID, err)
			}
			r.ID = m.ID
			if filter == "" || strings.Contains(strings.ToLower(r.Target), filter) || strings.Contains(strings.ToLower(r.Tenant), filter) {
				out = append(out, r)
				if len(out) == limit {
					return out, true, nil
				}
			}
		}
		if len(msgs) == 0 || (len(msgs) < 200 && read < scan) {
			break
		}
		end = "(" + msgs[len(msgs)-1].ID
	}
	return out, true, nil
}

// statesKey counts live conversations by state.
const statesKey = "bot:states"

// CountTransition implements appreg.Store.
func (s *Store) CountTransition(ctx context.Context, from, to appreg.State) error {
	pipe := s.rdb.Pipeline()
	if from != "" && !from.Terminal() {
		pipe.HIncrBy(ctx, statesKey, string(from), -1)
	}
	if to != "" && !to.Terminal() {
		pipe.HIncrBy(ctx, statesKey, string(to), 1)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return unavailable(err)
	}
	return nil
}

// StateCounts implements appreg.Store. A count is never below zero (a
// replica that died between a transition and its count leaves it off by
// one until the conversation moves again).
func (s *Store) StateCounts(ctx context.Context) (map[appreg.State]int, error) {
	all, err := s.rdb.HGetAll(ctx, statesKey).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make(map[appreg.State]int, len(all))
	for state, n := range all {
		v, _ := strconv.Atoi(n)
		out[appreg.State(state)] = max(v, 0)
	}
	return out, nil
}
