package redistest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Processes of redis-server that a test starts, stops and starts again
// itself: for outages and failovers, which no shared test Redis may suffer.
// They listen on 127.0.0.1 only, on a free port from 20000 to 55535 (a
// Cluster node's bus port is its port + 10000), never 6390 (CI's own
// server), and keep their data in the test's temporary directory. Each is
// stopped when the test ends.

// Installed reports whether redis-server is on PATH; tests that need real
// processes skip with a clear message when it is not.
func Installed() bool {
	_, err := exec.LookPath("redis-server")
	return err == nil
}

// SkipWithoutServer skips tb when redis-server is not on PATH.
func SkipWithoutServer(tb testing.TB) {
	tb.Helper()
	if !Installed() {
		tb.Skip("redis-server is not on PATH (apt-get install redis-server): this test starts, stops and fails over real Redis processes")
	}
}

// FreePort returns a loopback port from 20000 to 55535, other than 6390,
// that nothing listens on now.
func FreePort(tb testing.TB) int {
	tb.Helper()
	for range 200 {
		p := 20000 + rand.IntN(55535-20000+1)
		if p == 6390 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	tb.Fatal("no free loopback port from 20000 to 55535")
	return 0
}

// Server is one redis-server process of a test's own.
type Server struct {
	tb   testing.TB
	Port int
	dir  string
	args []string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// StartServer starts a redis-server on a free port with appendonly on
// (fsync every second), so that a stop and a start keep the data, as a
// managed Redis does; extra are more arguments (e.g. "--replicaof",
// "127.0.0.1 6379"). It skips tb when redis-server is not installed.
func StartServer(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	SkipWithoutServer(tb)
	port := FreePort(tb)
	dir := filepath.Join(tb.TempDir(), "redis-"+strconv.Itoa(port))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	s := &Server{tb: tb, Port: port, dir: dir, args: append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--protected-mode", "no",
	}, extra...)}
	s.Start()
	tb.Cleanup(s.Stop)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// URL is the server's redis:// URL, database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Start starts the server (again), on the same port and data, and waits
// until it answers.
func (s *Server) Start() {
	s.tb.Helper()
	if s.cmd != nil {
		return
	}
	s.log = &bytes.Buffer{}
	cmd := exec.Command("redis-server", s.args...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("start redis-server on %d: %v", s.Port, err)
	}
	s.cmd = cmd
	s.waitReady()
}

// Stop stops the server as a restart would (SIGTERM: the append-only file
// is flushed) and waits until it has exited.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a frozen server cannot stop
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Freeze stops the server from answering without closing anything
// (SIGSTOP): connections and dials hang, as with a host that stopped
// responding. Thaw lets it go on.
func (s *Server) Freeze() { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw undoes Freeze (SIGCONT).
func (s *Server) Thaw() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Do sends one command to the server and returns its answer.
func (s *Server) Do(ctx context.Context, args ...any) (any, error) {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	return c.Do(ctx, args...).Result()
}

func (s *Server) waitReady() {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		pong, err := s.Do(ctx, "PING")
		if err == nil && pong == "PONG" {
			return
		}
		if ctx.Err() != nil {
			s.tb.Fatalf("redis-server on %d did not answer: %v\n%s", s.Port, err, s.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SentinelSet is a primary, one replica and a Sentinel watching them as
// "appreg": the topology of scripts/redis-topology.sh sentinel, as
// processes of the test's own.
type SentinelSet struct {
	Primary, Replica, Sentinel *Server
	// Name is the master name (REDIS_MASTER_NAME).
	Name string
}

// StartSentinelSet starts the three processes and waits until the Sentinel
// knows the primary and its replica. It skips tb when redis-server is not
// installed.
func StartSentinelSet(tb testing.TB) *SentinelSet {
	tb.Helper()
	SkipWithoutServer(tb)
	set := &SentinelSet{Name: "appreg"}
	set.Primary = StartServer(tb)
	set.Replica = StartServer(tb, "--replicaof", "127.0.0.1", strconv.Itoa(set.Primary.Port))
	port := FreePort(tb)
	dir := tb.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\n"+
		"sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 2000\nsentinel failover-timeout %s 10000\n",
		port, dir, set.Name, set.Primary.Port, set.Name, set.Name)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	// A sentinel is redis-server with a config file it rewrites.
	set.Sentinel = &Server{tb: tb, Port: port, dir: dir, args: []string{conf, "--sentinel"}}
	set.Sentinel.Start()
	tb.Cleanup(set.Sentinel.Stop)
	set.waitFor(30*time.Second, "the sentinel to know the primary and its replica", func(ctx context.Context) bool {
		return set.masterPort(ctx) == set.Primary.Port && set.knowsReplica(ctx, set.Replica.Port)
	})
	return set
}

// Target is the set as the tests' Redis (REDIS_ADDRS and REDIS_MASTER_NAME).
func (set *SentinelSet) Target() Target {
	return Target{Addrs: []string{set.Sentinel.Addr()}, MasterName: set.Name}
}

// Failover has the Sentinel promote the replica (SENTINEL FAILOVER) once it
// has every write of the primary, and waits until the Sentinel names it as
// the primary and it takes writes. The old primary becomes its replica.
func (set *SentinelSet) Failover() {
	set.Primary.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	set.waitFor(10*time.Second, "the replica to catch up", func(ctx context.Context) bool {
		p, r := set.Primary.info(ctx, "master_repl_offset"), set.Replica.info(ctx, "slave_repl_offset")
		return p != "" && p == r
	})
	if _, err := set.Sentinel.Do(ctx, "SENTINEL", "FAILOVER", set.Name); err != nil {
		set.Primary.tb.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	set.waitFor(30*time.Second, "the replica to be promoted", func(ctx context.Context) bool {
		if set.masterPort(ctx) != set.Replica.Port {
			return false
		}
		info, err := set.Replica.Do(ctx, "ROLE")
		role, _ := info.([]any)
		return err == nil && len(role) > 0 && role[0] == "master"
	})
	set.Primary, set.Replica = set.Replica, set.Primary
}

// info returns a field of the server's INFO replication, or "".
func (s *Server) info(ctx context.Context, field string) string {
	v, err := s.Do(ctx, "INFO", "replication")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(fmt.Sprint(v), "\n") {
		if val, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return val
		}
	}
	return ""
}

func (set *SentinelSet) masterPort(ctx context.Context) int {
	v, err := set.Sentinel.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", set.Name)
	addr, _ := v.([]any)
	if err != nil || len(addr) != 2 {
		return 0
	}
	p, _ := strconv.Atoi(fmt.Sprint(addr[1]))
	return p
}

func (set *SentinelSet) knowsReplica(ctx context.Context, port int) bool {
	v, err := set.Sentinel.Do(ctx, "SENTINEL", "REPLICAS", set.Name)
	return err == nil && strings.Contains(fmt.Sprint(v), strconv.Itoa(port))
}

func (set *SentinelSet) waitFor(d time.Duration, what string, ok func(context.Context) bool) {
	set.Sentinel.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !ok(ctx) {
		if ctx.Err() != nil {
			set.Sentinel.tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
