package reminders_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/handlers/slackbot"
	"github.com/appreg-bot/appreg-bot/internal/redisstore"
	"github.com/appreg-bot/appreg-bot/internal/redisstore/redistest"
	"github.com/appreg-bot/appreg-bot/internal/reminders"
	"github.com/appreg-bot/appreg-bot/internal/slackfake"
)

// BenchmarkReminderDelivery delivers 1,000 reminders, each a thread
// message in one of 20 channels and a direct message to one of 20
// engineers (2,000 messages, 50 per channel), through the real Slack adapter
// (slackbot.Chat) to the Slack fake, which allows 20 messages per second per
// channel with a burst of 2 and answers 429 with Retry-After beyond. The
// scheduler paces each channel at the same 20 per second. The floor implied
// by the limit is (50 - 2) / 20 = 2.4 s; the goal is within 10% of it with
// nothing lost. It reports the time from the scan to the last post, the
// floor, their ratio, the messages lost and the 429s met.
//
//	REDIS_TEST_URL=redis://127.0.0.1:6391/0 go test -run '^$' -bench ReminderDelivery -benchtime 3x ./internal/reminders/
func BenchmarkReminderDelivery(b *testing.B) {
	if _, ok := redistest.FromEnv(); !ok {
		b.Skip("neither REDIS_TEST_URL nor REDIS_TEST_ADDRS is set: the delivery benchmark needs a real Redis")
	}
	const (
		count    = 1000
		channels = 20
		rate     = 20.0
		burst    = 2
	)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	perChannel := count / channels // in each thread channel and each engineer's DMs
	floor := time.Duration(float64(perChannel-burst) / rate * float64(time.Second))
	var total, worst time.Duration
	var lost, limited int
	for range b.N {
		b.StopTimer()
		tr := newTestRedis(b)
		fake := slackfake.New("xoxb-bench")
		fake.LimitPerChannel("chat.postMessage", rate, burst)
		chat := slackbot.NewChat("xoxb-bench", fake.URL()+"/", log)
		s, err := reminders.New(reminders.Config{ChannelRate: rate, ChannelBurst: 1, BatchSize: 200},
			reminders.Deps{Store: redisstore.NewReminderStore(tr.client(b)), Chat: chat, Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		exp := time.Now().Add(36 * time.Hour) // the 1-day reminder is due
		for i := range count {
			if _, err := s.Track(ctx, secret(i, exp, fmt.Sprintf("C%02d", i%channels), fmt.Sprintf("U%02d", i%channels))); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		if n, err := s.Scan(ctx, time.Now()); n != count || err != nil {
			b.Fatalf("scan: %d, %v", n, err)
		}
		if _, err := s.Deliver(ctx); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.StopTimer()
		total += took
		worst = max(worst, took)
		seen := map[string]bool{}
		for _, c := range fake.Calls("chat.postMessage") {
			switch c.Error {
			case "":
				seen[c.Param("channel")+"/"+c.Blocks[len(c.Blocks)-1].Elements[0].Value] = true
			case "ratelimited":
				limited++
			}
		}
		lost += 2*count - len(seen)
		fake.Close()
		b.StartTimer()
	}
	mean := total / time.Duration(b.N)
	b.ReportMetric(mean.Seconds(), "s/delivery")
	b.ReportMetric(worst.Seconds(), "s-worst")
	b.ReportMetric(floor.Seconds(), "s-floor")
	b.ReportMetric(mean.Seconds()/floor.Seconds(), "x-floor")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(limited), "429s")
	b.ReportMetric(2*count, "messages")
}
