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
	"github.com/appreg-bot/appreg-bot/internal/reminders"
)

// ReminderStore implements reminders.Store on Redis.
//
// Layout (every key has the hash tag {rem}, so that the scripts that touch
// several of them run in a Cluster too; the reminder data of a deployment
// lives on one shard):
//
//   - bot:{rem}:due — a sorted set of pending reminders, member
//     "tenantID/appID/keyID#slot", scored by due time in Unix milliseconds.
//     Finding what is due is ZRANGEBYSCORE -inf now: O(log N + due).
//   - bot:{rem}:secret:<tenantID/appID/keyID> — a hash per tracked secret:
//     "d" the appreg.SecretRef as JSON, "x" its expiry (ms), "ch" and "eng"
//     whether it has a thread and an engineer, "p:<slot>" the due time of
//     each pending reminder, "sent:<slot>" when each reminder was claimed,
//     "last"/"lastAt" the last one claimed, "snoozed"/"snoozedUntil" the
//     last snooze. It expires 90 days after the secret.
//   - bot:{rem}:queue — a sorted set of delivery ids scored by the time
//     they become visible; bot:{rem}:delivery:<id> — a hash per delivery
//     (secret, slot, destination, a copy of the secret's JSON, the token
//     "h" of its current holder, the number of takes "n");
//     bot:{rem}:seq numbers the deliveries (ClaimDue reserves the ids).
//   - bot:{rem}:lease — the scanning lease (SET NX PX, owner-checked renew
//     and release).
//
// All changes are Lua scripts, so a claim (remove from the schedule, record
// as sent, enqueue its messages) is one atomic step. Every script is given
// every key it touches in KEYS, as Redis requires: where the keys depend on
// what is due (a claim, a take), the method reads the candidates first and
// the script checks them again.
type ReminderStore struct {
	rdb redis.UniversalClient
}

var _ reminders.Store = (*ReminderStore)(nil)

// NewReminderStore returns a ReminderStore on rdb.
func NewReminderStore(rdb redis.UniversalClient) *ReminderStore {
	return &ReminderStore{rdb: rdb}
}

// Key names; see ReminderStore.
const (
	remDueKey       = "bot:{rem}:due"
	remQueueKey     = "bot:{rem}:queue"
	remSeqKey       = "bot:{rem}:seq"
	remLeaseKey     = "bot:{rem}:lease"
	remSecretPrefix = "bot:{rem}:secret:"
	remDeliveryPfx  = "bot:{rem}:delivery:"
	// remKeepAfter is how long a secret's record outlives its expiry, so
	// that the final alert can still be snoozed.
	remKeepAfter = 90 * 24 * time.Hour
)

func remSecretKey(id reminders.SecretID) string { return remSecretPrefix + id.String() }
func remDeliveryKey(id string) string           { return remDeliveryPfx + id }
func remMember(id reminders.SecretID, slot reminders.Slot) string {
	return id.String() + "#" + string(slot)
}

func remMillis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func remUnavailable(err error) error {
	return appreg.Wrap(appreg.KindUnavailable, fmt.Errorf("%w: %w", appreg.ErrStoreUnavailable, err), storeDown)
}

// remScheduleScript replaces a secret's schedule.
// KEYS: due, secret hash. ARGV: secret id, expiry, now, ref JSON, has
// thread ("1"/""), has engineer ("1"/""), record expiry, then slot/due pairs
// least urgent first. Returns the number of reminders scheduled.
var remScheduleScript = redis.NewScript(`
local due, h, sid = KEYS[1], KEYS[2], ARGV[1]
local now = tonumber(ARGV[3])
local same = redis.call('HGET', h, 'x') == ARGV[2]
local old = redis.call('HGETALL', h)
for i = 1, #old, 2 do
  local f = old[i]
  if string.sub(f, 1, 2) == 'p:' then
    local slot = string.sub(f, 3)
    if not (same and string.sub(slot, 1, 1) == 's') then
      redis.call('ZREM', due, sid .. '#' .. slot)
      redis.call('HDEL', h, f)
    end
  elseif not same and (string.sub(f, 1, 5) == 'sent:' or f == 'last' or f == 'lastAt' or f == 'snoozed' or f == 'snoozedUntil' or f == 'snoozes') then
    redis.call('HDEL', h, f)
  end
end
redis.call('HSET', h, 'x', ARGV[2], 'd', ARGV[4], 'ch', ARGV[5], 'eng', ARGV[6])
local n = 0
local pastSlot, pastAt
for i = 8, #ARGV, 2 do
  local slot, at = ARGV[i], ARGV[i + 1]
  if tonumber(at) <= now then
    pastSlot, pastAt = slot, at
  elseif redis.call('HEXISTS', h, 'sent:' .. slot) == 0 then
    redis.call('HSET', h, 'p:' .. slot, at)
    redis.call('ZADD', due, at, sid .. '#' .. slot)
    n = n + 1
  end
end
if pastSlot and redis.call('HEXISTS', h, 'sent:' .. pastSlot) == 0 then
  redis.call('HSET', h, 'p:' .. pastSlot, pastAt)
  redis.call('ZADD', due, pastAt, sid .. '#' .. pastSlot)
  n = n + 1
end
redis.call('PEXPIREAT', h, ARGV[7])
return n
`)

// remUnscheduleScript drops a secret's reminders and record.
// KEYS: due, secret hash. ARGV: secret id. Returns 1 if it was tracked.
var remUnscheduleScript = redis.NewScript(`
local old = redis.call('HGETALL', KEYS[2])
if #old == 0 then return 0 end
for i = 1, #old, 2 do
  if string.sub(old[i], 1, 2) == 'p:' then
    redis.call('ZREM', KEYS[1], ARGV[1] .. '#' .. string.sub(old[i], 3))
  end
end
redis.call('DEL', KEYS[2])
return 1
`)

// remClaimScript claims the due reminders ClaimDue read from the schedule.
// For each member still due it removes it (ZREM is the claim), finds the
// most urgent due reminder of its secret (the latest due; on a tie a
// threshold before a snooze, the smaller first), drops the secret's other
// due reminders, records the chosen one as sent unless it already is, and
// enqueues one delivery per message.
// KEYS: due, queue, then per secret met: its hash and the keys of its two
// possible deliveries. ARGV: now, "1" when every reminder goes to a
// reminders channel, the number of secrets, then per secret: its id and the
// ids of its two possible deliveries, then per member: the member and the
// number of its secret. Returns {claimed, dropped}.
var remClaimScript = redis.NewScript(`
local due, queue = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
local nsecrets = tonumber(ARGV[3])
local function urgent(a, b)
  local ta, tb = string.sub(a, 1, 1) == 't', string.sub(b, 1, 1) == 't'
  if ta ~= tb then return ta end
  return (tonumber(string.sub(a, 2)) or 0) < (tonumber(string.sub(b, 2)) or 0)
end
local claimed, dropped = 0, 0
for j = 4 + 3 * nsecrets, #ARGV, 2 do
  local m, i = ARGV[j], tonumber(ARGV[j + 1])
  local score = redis.call('ZSCORE', due, m)
  if score and tonumber(score) <= now and redis.call('ZREM', due, m) == 1 then
    local h = KEYS[3 * i]
    local sid = ARGV[3 * i + 1]
    local fields = redis.call('HGETALL', h)
    local rec, dueSlots = {}, {}
    local best, bestAt
    for k = 1, #fields, 2 do
      local f, v = fields[k], fields[k + 1]
      rec[f] = v
      if string.sub(f, 1, 2) == 'p:' then
        local at = tonumber(v)
        if at <= now then
          local slot = string.sub(f, 3)
          dueSlots[#dueSlots + 1] = slot
          if best == nil or at > bestAt or (at == bestAt and urgent(slot, best)) then
            best, bestAt = slot, at
          end
        end
      end
    end
    if best == nil then
      dropped = dropped + 1
    else
      for _, s in ipairs(dueSlots) do
        redis.call('HDEL', h, 'p:' .. s)
        redis.call('ZREM', due, sid .. '#' .. s)
        if s ~= best then dropped = dropped + 1 end
      end
      if redis.call('HSETNX', h, 'sent:' .. best, ARGV[1]) == 1 then
        redis.call('HSET', h, 'last', best, 'lastAt', ARGV[1])
        claimed = claimed + 1
        local dests = {}
        if ARGV[2] == '1' or rec['ch'] == '1' then dests[#dests + 1] = 'thread' end
        if rec['eng'] == '1' then dests[#dests + 1] = 'dm' end
        for n, dest in ipairs(dests) do
          local id = ARGV[3 * i + 1 + n]
          redis.call('HSET', KEYS[3 * i + n], 'sid', sid, 'slot', best, 'dest', dest, 'at', ARGV[1],
            'x', rec['x'] or '', 'd', rec['d'] or '', 'n', '0')
          redis.call('ZADD', queue, ARGV[1], id)
        end
      else
        dropped = dropped + 1
      end
    end
  end
end
return {claimed, dropped}
`)

// remSnoozeScript postpones a secret's next reminder.
// KEYS: due, secret hash. ARGV: secret id, now, postponement (ms).
// Returns {-1} when the secret is not tracked, else {1 or 0 (already),
// next due, ref JSON}.
var remSnoozeScript = redis.NewScript(`
local due, h = KEYS[1], KEYS[2]
if redis.call('EXISTS', h) == 0 then return {-1} end
local last = redis.call('HGET', h, 'last') or ''
local d = redis.call('HGET', h, 'd')
if redis.call('HGET', h, 'snoozed') == last then
  return {0, redis.call('HGET', h, 'snoozedUntil') or '0', d}
end
local now, after = tonumber(ARGV[2]), tonumber(ARGV[3])
local at = now + after
local lastAt = tonumber(redis.call('HGET', h, 'lastAt') or '')
if lastAt and lastAt + after > now then at = lastAt + after end
local fields = redis.call('HGETALL', h)
for i = 1, #fields, 2 do
  local f = fields[i]
  if string.sub(f, 1, 2) == 'p:' and tonumber(fields[i + 1]) < at then
    redis.call('HDEL', h, f)
    redis.call('ZREM', due, ARGV[1] .. '#' .. string.sub(f, 3))
  end
end
local slot = 's' .. redis.call('HINCRBY', h, 'snoozes', 1)
local ats = string.format('%.0f', at)
redis.call('HSET', h, 'p:' .. slot, ats, 'snoozed', last, 'snoozedUntil', ats)
redis.call('ZADD', due, ats, ARGV[1] .. '#' .. slot)
return {1, ats, d}
`)

// remTakeScript takes the deliveries TakeDeliveries read from the queue
// that are still visible: each gets a new token and is invisible until the
// given time. One whose record is gone leaves the queue.
// KEYS: queue, then the key of each delivery. ARGV: now, invisible until,
// holder, then the id of each delivery. Returns id, token, takes, secret
// id, slot, dest, claimed at, ref JSON for each delivery taken, flat.
var remTakeScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local out = {}
for i = 2, #KEYS do
  local j, id = KEYS[i], ARGV[i + 2]
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score and tonumber(score) <= now then
    if redis.call('EXISTS', j) == 0 then
      redis.call('ZREM', KEYS[1], id)
    else
      local n = redis.call('HINCRBY', j, 'n', 1)
      local tok = ARGV[3] .. ':' .. id .. ':' .. n
      redis.call('HSET', j, 'h', tok)
      redis.call('ZADD', KEYS[1], ARGV[2], id)
      local f = redis.call('HMGET', j, 'sid', 'slot', 'dest', 'at', 'd')
      out[#out + 1] = id
      out[#out + 1] = tok
      out[#out + 1] = tostring(n)
      for k = 1, 5 do out[#out + 1] = f[k] or '' end
    end
  end
end
return out
`)

// remHoldScript confirms a delivery's holder before its post and extends
// its invisibility. KEYS: queue, delivery, the hash of the delivery's
// secret. ARGV: id, token, until, secret key prefix. Returns 1 held, 0
// lost, 2 stale.
var remHoldScript = redis.NewScript(`
local j = redis.call('HMGET', KEYS[2], 'h', 'sid', 'x')
if j[1] ~= ARGV[2] then return 0 end
if ARGV[4] .. j[2] ~= KEYS[3] then
  return redis.error_reply('delivery ' .. ARGV[1] .. ' is of secret ' .. j[2] .. ', not of ' .. KEYS[3])
end
if redis.call('HGET', KEYS[3], 'x') ~= j[3] then return 2 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`)

// remExtendScript extends the deliveries still held with their tokens.
// KEYS: queue, then the key of each delivery. ARGV: until, then the id and
// token of each delivery.
var remExtendScript = redis.NewScript(`
local n = 0
for i = 2, #KEYS do
  local id, tok = ARGV[2 * i - 2], ARGV[2 * i - 1]
  if redis.call('HGET', KEYS[i], 'h') == tok then
    redis.call('ZADD', KEYS[1], ARGV[1], id)
    n = n + 1
  end
end
return n
`)

// remReleaseScript makes a delivery held with the token visible at a time.
// KEYS: queue, delivery. ARGV: id, token, visible at.
var remReleaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[2], 'h') ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], 'h')
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`)

// remAckScript deletes a delivery; returns 1 if the token still held it.
// KEYS: queue, delivery. ARGV: id, token.
var remAckScript = redis.NewScript(`
local h = redis.call('HGET', KEYS[2], 'h')
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
if h == ARGV[2] then return 1 end
return 0
`)

// remLeaseScript takes a free lease (SET NX PX) or renews the owner's.
var remLeaseScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// remReleaseLeaseScript deletes the lease if the owner holds it.
var remReleaseLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// scheduleArgs are the arguments of remScheduleScript for s.
func scheduleArgs(s reminders.Schedule) ([]any, error) {
	data, err := json.Marshal(s.Secret)
	if err != nil {
		return nil, fmt.Errorf("encode secret: %w", err)
	}
	flag := func(v string) string {
		if v == "" {
			return ""
		}
		return "1"
	}
	keep := s.Secret.Expires
	if s.Now.After(keep) {
		keep = s.Now
	}
	args := make([]any, 0, 7+2*len(s.Reminders))
	args = append(args, reminders.IDOf(s.Secret).String(), remMillis(s.Secret.Expires), remMillis(s.Now), data,
		flag(s.Secret.Thread.Channel), flag(s.Secret.Engineer), remMillis(keep.Add(remKeepAfter)))
	for _, r := range s.Reminders {
		args = append(args, string(r.Slot), remMillis(r.At))
	}
	return args, nil
}

// Schedule implements reminders.Store.
func (s *ReminderStore) Schedule(ctx context.Context, sc reminders.Schedule) (int, error) {
	args, err := scheduleArgs(sc)
	if err != nil {
		return 0, err
	}
	n, err := remScheduleScript.Run(ctx, s.rdb, []string{remDueKey, remSecretKey(reminders.IDOf(sc.Secret))}, args...).Int()
	if err != nil {
		return 0, remUnavailable(err)
	}
	return n, nil
}

// Unschedule implements reminders.Store.
func (s *ReminderStore) Unschedule(ctx context.Context, id reminders.SecretID) (bool, error) {
	n, err := remUnscheduleScript.Run(ctx, s.rdb, []string{remDueKey, remSecretKey(id)}, id.String()).Int()
	if err != nil {
		return false, remUnavailable(err)
	}
	return n == 1, nil
}

// ClaimDue implements reminders.Store in up to three round trips: read
// the due members (all that happens when nothing is due), reserve two
// delivery ids per secret met, and claim in one script that is given every
// key it touches and checks again that each member is still due.
func (s *ReminderStore) ClaimDue(ctx context.Context, now time.Time, limit int, toChannel bool) (reminders.Claim, error) {
	members, err := s.rdb.ZRangeByScore(ctx, remDueKey, &redis.ZRangeBy{Min: "-inf", Max: remMillis(now), Count: int64(limit)}).Result()
	if err != nil {
		return reminders.Claim{}, remUnavailable(err)
	}
	if len(members) == 0 {
		return reminders.Claim{}, nil
	}
	// The secrets met, in order, and the number of each member's secret.
	secret := make(map[string]int, len(members))
	var sids []string
	pairs := make([]any, 0, 2*len(members))
	for _, m := range members {
		sid, _, ok := strings.Cut(m, "#")
		if !ok {
			return reminders.Claim{}, fmt.Errorf("claim reminders: bad schedule member %q", m)
		}
		i, seen := secret[sid]
		if !seen {
			sids = append(sids, sid)
			i = len(sids)
			secret[sid] = i
		}
		pairs = append(pairs, m, i)
	}
	last, err := s.rdb.IncrBy(ctx, remSeqKey, int64(2*len(sids))).Result()
	if err != nil {
		return reminders.Claim{}, remUnavailable(err)
	}
	next := last - int64(2*len(sids))
	keys := make([]string, 0, 2+3*len(sids))
	keys = append(keys, remDueKey, remQueueKey)
	channel := "0"
	if toChannel {
		channel = "1"
	}
	args := make([]any, 0, 3+3*len(sids)+len(pairs))
	args = append(args, remMillis(now), channel, len(sids))
	for _, sid := range sids {
		a, b := strconv.FormatInt(next+1, 10), strconv.FormatInt(next+2, 10)
		next += 2
		keys = append(keys, remSecretPrefix+sid, remDeliveryKey(a), remDeliveryKey(b))
		args = append(args, sid, a, b)
	}
	args = append(args, pairs...)
	res, err := remClaimScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil {
		return reminders.Claim{}, remUnavailable(err)
	}
	if len(res) != 2 {
		return reminders.Claim{}, fmt.Errorf("claim reminders: unexpected reply %v", res)
	}
	return reminders.Claim{Examined: len(members), Claimed: int(res[0]), Dropped: int(res[1])}, nil
}

// Snooze implements reminders.Store.
func (s *ReminderStore) Snooze(ctx context.Context, id reminders.SecretID, now time.Time, after time.Duration) (reminders.Snoozed, error) {
	res, err := remSnoozeScript.Run(ctx, s.rdb, []string{remDueKey, remSecretKey(id)},
		id.String(), remMillis(now), after.Milliseconds()).Slice()
	if err != nil {
		return reminders.Snoozed{}, remUnavailable(err)
	}
	if len(res) == 0 {
		return reminders.Snoozed{}, fmt.Errorf("snooze: empty reply")
	}
	if code, _ := res[0].(int64); code == -1 || len(res) < 3 {
		return reminders.Snoozed{}, appreg.Errorf(appreg.KindNotFound, "That secret is no longer tracked (rotated or removed): there is nothing to snooze.")
	}
	code, _ := res[0].(int64)
	at, err := strconv.ParseInt(fmt.Sprint(res[1]), 10, 64)
	if err != nil {
		return reminders.Snoozed{}, fmt.Errorf("snooze: bad due time %v: %w", res[1], err)
	}
	var ref appreg.SecretRef
	if data, _ := res[2].(string); data != "" {
		if err := json.Unmarshal([]byte(data), &ref); err != nil {
			return reminders.Snoozed{}, fmt.Errorf("decode secret %s: %w", id, err)
		}
	}
	return reminders.Snoozed{Secret: ref, Next: time.UnixMilli(at), Already: code == 0}, nil
}

// Upcoming implements reminders.Store.
func (s *ReminderStore) Upcoming(ctx context.Context, limit int) ([]reminders.Upcoming, error) {
	if limit <= 0 {
		return nil, nil
	}
	zs, err := s.rdb.ZRangeWithScores(ctx, remDueKey, 0, int64(limit)-1).Result()
	if err != nil {
		return nil, remUnavailable(err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(zs))
	for i, z := range zs {
		sid, _, _ := strings.Cut(z.Member.(string), "#")
		cmds[i] = pipe.HGet(ctx, remSecretPrefix+sid, "d")
	}
	if len(zs) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, remUnavailable(err)
		}
	}
	out := make([]reminders.Upcoming, 0, len(zs))
	for i, z := range zs {
		data, err := cmds[i].Bytes()
		if err != nil { // the record went away meanwhile
			continue
		}
		var ref appreg.SecretRef
		if err := json.Unmarshal(data, &ref); err != nil {
			return nil, fmt.Errorf("decode secret %s: %w", z.Member, err)
		}
		_, slot, _ := strings.Cut(z.Member.(string), "#")
		out = append(out, reminders.Upcoming{Secret: ref, Slot: reminders.Slot(slot), Due: time.UnixMilli(int64(z.Score))})
	}
	return out, nil
}

// TakeDeliveries implements reminders.Store in two round trips: read the
// visible ids, then take them in one script that is given every key it
// touches and checks again that each is still visible (another replica may
// have taken it in between).
func (s *ReminderStore) TakeDeliveries(ctx context.Context, now time.Time, visibility time.Duration, limit int, holder string) ([]reminders.Delivery, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, remQueueKey, &redis.ZRangeBy{Min: "-inf", Max: remMillis(now), Count: int64(limit)}).Result()
	if err != nil {
		return nil, remUnavailable(err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, 1+len(ids))
	keys = append(keys, remQueueKey)
	args := make([]any, 0, 3+len(ids))
	args = append(args, remMillis(now), remMillis(now.Add(visibility)), holder)
	for _, id := range ids {
		keys = append(keys, remDeliveryKey(id))
		args = append(args, id)
	}
	res, err := remTakeScript.Run(ctx, s.rdb, keys, args...).StringSlice()
	if err != nil {
		return nil, remUnavailable(err)
	}
	const width = 8
	out := make([]reminders.Delivery, 0, len(res)/width)
	for i := 0; i+width <= len(res); i += width {
		f := res[i : i+width]
		n, _ := strconv.Atoi(f[2])
		at, _ := strconv.ParseInt(f[6], 10, 64)
		var ref appreg.SecretRef
		if err := json.Unmarshal([]byte(f[7]), &ref); err != nil {
			return out, fmt.Errorf("decode delivery %s of %s: %w", f[0], f[3], err)
		}
		out = append(out, reminders.Delivery{ID: f[0], Token: f[1], Attempt: n, Secret: ref,
			Slot: reminders.Slot(f[4]), Dest: reminders.Dest(f[5]), ClaimedAt: time.UnixMilli(at)})
	}
	return out, nil
}

// HoldDelivery implements reminders.Store.
func (s *ReminderStore) HoldDelivery(ctx context.Context, d reminders.Delivery, until time.Time) (reminders.Hold, error) {
	n, err := remHoldScript.Run(ctx, s.rdb, []string{remQueueKey, remDeliveryKey(d.ID), remSecretKey(reminders.IDOf(d.Secret))},
		d.ID, d.Token, remMillis(until), remSecretPrefix).Int()
	if err != nil {
		return reminders.Lost, remUnavailable(err)
	}
	switch n {
	case 1:
		return reminders.Held, nil
	case 2:
		return reminders.Stale, nil
	}
	return reminders.Lost, nil
}

// ExtendDeliveries implements reminders.Store.
func (s *ReminderStore) ExtendDeliveries(ctx context.Context, ds []reminders.Delivery, until time.Time) error {
	const chunk = 500
	for len(ds) > 0 {
		part := ds[:min(chunk, len(ds))]
		ds = ds[len(part):]
		keys := make([]string, 0, 1+len(part))
		keys = append(keys, remQueueKey)
		args := make([]any, 0, 1+2*len(part))
		args = append(args, remMillis(until))
		for _, d := range part {
			keys = append(keys, remDeliveryKey(d.ID))
			args = append(args, d.ID, d.Token)
		}
		if err := remExtendScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
			return remUnavailable(err)
		}
	}
	return nil
}

// ReleaseDelivery implements reminders.Store.
func (s *ReminderStore) ReleaseDelivery(ctx context.Context, d reminders.Delivery, at time.Time) error {
	if err := remReleaseScript.Run(ctx, s.rdb, []string{remQueueKey, remDeliveryKey(d.ID)}, d.ID, d.Token, remMillis(at)).Err(); err != nil {
		return remUnavailable(err)
	}
	return nil
}

// AckDelivery implements reminders.Store.
func (s *ReminderStore) AckDelivery(ctx context.Context, d reminders.Delivery) (bool, error) {
	n, err := remAckScript.Run(ctx, s.rdb, []string{remQueueKey, remDeliveryKey(d.ID)}, d.ID, d.Token).Int()
	if err != nil {
		return false, remUnavailable(err)
	}
	return n == 1, nil
}

// AcquireLease implements reminders.Store.
func (s *ReminderStore) AcquireLease(ctx context.Context, owner string, ttl time.Duration) (bool, error) {
	n, err := remLeaseScript.Run(ctx, s.rdb, []string{remLeaseKey}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, remUnavailable(err)
	}
	return n == 1, nil
}

// ReleaseLease implements reminders.Store.
func (s *ReminderStore) ReleaseLease(ctx context.Context, owner string) error {
	if err := remReleaseLeaseScript.Run(ctx, s.rdb, []string{remLeaseKey}, owner).Err(); err != nil {
		return remUnavailable(err)
	}
	return nil
}

// Scheduled implements reminders.Store.
func (s *ReminderStore) Scheduled(ctx context.Context) (int, error) {
	n, err := s.rdb.ZCard(ctx, remDueKey).Result()
	if err != nil {
		return 0, remUnavailable(err)
	}
	return int(n), nil
}
