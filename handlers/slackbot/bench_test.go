package slackbot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/fakes"
	"github.com/appreg-bot/appreg-bot/internal/redisstore"
	"github.com/appreg-bot/appreg-bot/internal/redisstore/redistest"
	"github.com/appreg-bot/appreg-bot/internal/slackfake"
	"github.com/appreg-bot/appreg-bot/internal/wizard"
)

// BenchmarkAck measures the slash-command acknowledgement over loopback HTTP
// at 200 concurrent requests: "verify" is the baseline, a handler that only
// verifies the signature; "ack" is the real path (verify, parse, de-duplicate,
// authorise, store the conversation in Redis, enqueue its job) with the jobs
// held until the timer stops; "ack+jobs" is the same with the jobs running
// beside the acknowledgements, as they do in production (here they fail at
// once, the heaviest case). It runs against every Redis the environment
// names (redistest.AllFromEnv: REDIS_TEST_URL's server first, then
// REDIS_TEST_ADDRS's Cluster or Sentinel set), one sub-benchmark each named
// after its kind, so that a server and a Cluster are measured in one run;
// with none it uses miniredis. It reports p50 and p99 latency in
// milliseconds.
func BenchmarkAck(b *testing.B) {
	targets := redistest.AllFromEnv()
	if len(targets) == 0 {
		rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(b).Addr(), PoolSize: 256})
		defer rdb.Close()
		b.Run("miniredis", func(b *testing.B) { benchAck(b, rdb) })
		return
	}
	for _, t := range targets {
		rdb := t.Client(b, 256)
		if err := redistest.Flush(context.Background(), rdb); err != nil {
			b.Fatal(err)
		}
		b.Run(t.Kind(), func(b *testing.B) { benchAck(b, rdb) })
	}
}

func benchAck(b *testing.B, rdb redis.UniversalClient) {
	const secret = "8f742231b10e8888abcd99yyyzzz85a5"
	warmUp(b, rdb)
	tenant := fakes.NewTenant()
	// Sign-ins fail at once so that background jobs end quickly.
	tenant.FailNext("BeginSignIn", repeat(appreg.Errorf(appreg.KindInvalid, "unknown tenant"), 1<<20)...)
	log := slog.New(slog.DiscardHandler)
	// held keeps the jobs the acknowledgements enqueue until the timer
	// stops: "ack" measures the path alone, "ack+jobs" with the jobs
	// running beside it on the same cores.
	var heldMu sync.Mutex
	var held []func()
	release := func() {
		heldMu.Lock()
		jobs := held
		held = nil
		heldMu.Unlock()
		for _, job := range jobs {
			go job()
		}
	}
	newHandler := func(hold bool) (*Handler, func()) {
		d := wizard.Deps{Store: redisstore.New(rdb, time.Hour, nil), Chat: fakes.NewChat(), Tenant: tenant}
		if hold {
			d.Go = func(job func()) { heldMu.Lock(); held = append(held, job); heldMu.Unlock() }
		}
		w, err := wizard.New(wizard.Config{Operators: []string{wizard.Everyone}}, d)
		if err != nil {
			b.Fatal(err)
		}
		h, err := NewHandler(Inbound{Bot: w, Chat: NewChat("xoxb-bench", "http://127.0.0.1:1/", log), Log: log}, secret, nil)
		if err != nil {
			b.Fatal(err)
		}
		return h, func() { release(); w.Close() }
	}
	ack, closeAck := newHandler(true)
	defer closeAck()
	ackJobs, closeAckJobs := newHandler(false)
	defer closeAckJobs()
	verifyOnly := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if ack.verified(rw, r) {
			rw.WriteHeader(http.StatusOK)
		}
	})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"verify", verifyOnly}, {"ack", ack}, {"ack+jobs", ackJobs}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(bc.h)
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
			run := time.Now().UnixNano()
			var seq atomic.Int64
			var mu sync.Mutex
			var lat []time.Duration
			send := func(n int64) (time.Duration, error) {
				// Every request is a new user's first delivery: unique ids
				// across runs, so none is answered as a retry.
				body := url.Values{"command": {"/appreg"}, "text": {"new contoso.onmicrosoft.com"},
					"user_id": {fmt.Sprintf("U%d-%d", run, n)}, "channel_id": {"C1"}, "trigger_id": {fmt.Sprintf("%s-%d-%d", bc.name, run, n)}}.Encode()
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/slack/commands", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for k, v := range slackfake.Sign(secret, time.Now(), []byte(body)) {
					req.Header[k] = v
				}
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					return 0, err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return 0, fmt.Errorf("status %d", resp.StatusCode)
				}
				return time.Since(start), nil
			}
			// Warm up: open the connections, load the scripts and let the
			// heap reach its working size, in 5 rounds of 200 at once.
			for range 5 {
				var wg sync.WaitGroup
				for range 200 {
					wg.Add(1)
					go func() { defer wg.Done(); send(seq.Add(1)) }()
				}
				wg.Wait()
			}
			lat = make([]time.Duration, 0, b.N)
			b.SetParallelism(200 / max(1, runtimeProcs()))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d, err := send(seq.Add(1))
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			})
			b.StopTimer()
			release()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// warmUp opens the Redis connection pool, so that neither run pays for dials.
func warmUp(b *testing.B, rdb redis.UniversalClient) {
	var wg sync.WaitGroup
	for range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rdb.Ping(context.Background()).Err(); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
}
