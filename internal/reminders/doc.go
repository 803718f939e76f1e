// Package reminders sends secret-expiry reminders: before a client secret
// expires, a message in the registration's thread (or a configured reminders
// channel) and a direct message to the engineer who created it, each with a
// "Rotate secret" and a "Snooze 1 day" button.
//
// # Schedule
//
// Tracking a secret (appreg.SecretRef) computes one reminder per threshold:
// the expiry date minus the threshold in days, at the configured time of
// day in the configured location (30, 14, 7, 3, 1 and 0 days by default).
// The Store keeps them in one sorted set scored by due time, one member per
// secret and threshold, with the secret's details in a hash of its own.
// Finding what is due is a range query on the sorted set: O(log N + due),
// whatever the number N of tracked secrets. Thresholds already past when a
// secret is tracked are skipped, except the most urgent of them, which is
// sent at the next scan (a secret tracked two days before expiry gets its
// 3-day reminder at once). Tracking again replaces the schedule; reminders
// already sent for the same expiry are not sent again.
//
// # Claim, queue, delivery
//
// Delivery is claim → enqueue durably → deliver → acknowledge:
//
//   - Scan claims the due reminders in batches. The claim of one reminder is
//     a single atomic store operation (a Lua script in Redis) that removes it
//     from the schedule, records it as sent for its secret and threshold
//     unless it already is, and enqueues one delivery per message (thread,
//     direct message). However many replicas scan at once, a reminder is
//     claimed once. When several reminders of one secret are due together
//     (the bot was down), only the most urgent is sent; the older ones are
//     dropped, not burst.
//   - A delivery taken from the queue becomes invisible for
//     Config.Visibility and carries a fresh token. Right before posting, the
//     deliverer checks that it still holds the token (and that the secret is
//     still tracked) and extends the visibility; after posting it
//     acknowledges, which deletes the delivery. A replica that dies between
//     the claim and the post loses nothing: its deliveries become visible
//     again when the visibility runs out and another replica delivers them,
//     once. The one window no store can close is a death between Slack
//     accepting a post and the acknowledgement: that message is posted
//     again (at least once, never lost).
//   - Only the holder of a lease (SET NX PX, renewed and released by an
//     owner-checked script) scans and delivers, so the per-channel pacing
//     below holds for the whole deployment. The other replicas stand by and
//     take over when the lease expires.
//
// # Rate limits
//
// Deliveries go through one lane per destination channel. A lane paces its
// posts with a token bucket (Config.ChannelRate per second, burst
// Config.ChannelBurst; Slack allows about one message per second per
// channel) and, when the chat reports a rate limit with a Retry-After
// (an error in the chain with a RetryAfter() time.Duration method, such as
// *RetryAfterError), waits that long before the next post to that channel.
// Other unavailability backs off exponentially. Nothing is dropped for being
// rate-limited; only a permanent refusal (unknown channel, bot not in the
// channel) drops a message, with a log line and Observer.Failed.
//
// # Snooze
//
// The buttons carry a reference "tenantID/appID/keyID" (see Ref and
// ParseRef). Snooze postpones the secret's next reminder to one day after
// the reminder that was clicked (one day after the click when that is
// already past). It is recorded against that reminder, so a double click
// snoozes once. Rotation is the conversation engine's business.
//
// Every time the package reads comes from a Clock, so tests drive time.
package reminders
