package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// The tests of this package run every Lua script under a guard that fails
// any redis.call on a key the script was not given in KEYS, and check that
// the keys of each script call, transaction and multi-key command hash to
// one Cluster slot. Together they show that the store works on a Cluster
// whatever shard its keys land on (CI also runs these tests on a real
// Cluster, which refuses cross-slot scripts and transactions by itself but
// not undeclared keys that happen to share the slot).

// keyGuard goes before each script's source: it shadows the global redis
// table with one whose call and pcall check their key arguments against
// KEYS. Commands whose every argument is a key are listed; for the others
// the first argument is the key.
const keyGuard = `local __redis = redis
local __declared = {}
for _, k in ipairs(KEYS) do __declared[k] = true end
local __allKeys = {DEL = true, EXISTS = true, UNLINK = true, TOUCH = true, MGET = true}
local function __check(cmd, ...)
  local args = {...}
  local n = 1
  if __allKeys[string.upper(cmd)] then n = #args end
  for i = 1, n do
    if not __declared[args[i]] then
      error('key-guard: ' .. string.upper(cmd) .. ' on ' .. tostring(args[i]) .. ', which is not in KEYS')
    end
  end
end
local redis = setmetatable({
  call = function(cmd, ...) __check(cmd, ...) return __redis.call(cmd, ...) end,
  pcall = function(cmd, ...) __check(cmd, ...) return __redis.pcall(cmd, ...) end,
}, {__index = __redis})
`

// packageScript is one redis.NewScript of the package's source.
type packageScript struct {
	name, src, sha       string
	guardedSrc, guardSHA string
}

var (
	scriptsOnce sync.Once
	scriptsErr  error
	scriptBySHA = map[string]*packageScript{} // original SHA1 → script
	scriptBySrc = map[string]*packageScript{} // original source → script

	scriptRunsMu sync.Mutex
	scriptRuns   = map[string]int{} // name → guarded calls
)

func sha1Hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// loadPackageScripts finds every `var name = redis.NewScript(<literal>)` in
// the package's non-test files: a script added later is guarded without
// anyone listing it.
func loadPackageScripts() error {
	scriptsOnce.Do(func() {
		files, err := filepath.Glob("*.go")
		if err != nil {
			scriptsErr = err
			return
		}
		fset := token.NewFileSet()
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				scriptsErr = err
				return
			}
			ast.Inspect(f, func(n ast.Node) bool {
				spec, ok := n.(*ast.ValueSpec)
				if !ok || len(spec.Names) != 1 || len(spec.Values) != 1 {
					return true
				}
				call, ok := spec.Values[0].(*ast.CallExpr)
				if !ok || len(call.Args) != 1 {
					return true
				}
				if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "NewScript" {
					return true
				}
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok {
					scriptsErr = fmt.Errorf("%s: script %s is not a string literal", fset.Position(call.Pos()), spec.Names[0].Name)
					return false
				}
				src, err := strconv.Unquote(lit.Value)
				if err != nil {
					scriptsErr = err
					return false
				}
				s := &packageScript{name: spec.Names[0].Name, src: src, sha: sha1Hex(src), guardedSrc: keyGuard + src}
				s.guardSHA = sha1Hex(s.guardedSrc)
				scriptBySHA[s.sha], scriptBySrc[s.src] = s, s
				return true
			})
		}
		if scriptsErr == nil && len(scriptBySHA) == 0 {
			scriptsErr = errors.New("no redis.NewScript found in the package")
		}
	})
	return scriptsErr
}

// keyCheck is a go-redis hook: it swaps each package script for its guarded
// version and reports (and fails) cross-slot calls.
type keyCheck struct {
	report func(error)
}

// checkKeys makes every command rdb sends go through the key checks; a
// violation fails tb. Benchmarks measure the scripts as they ship, so only
// tests are checked.
func checkKeys(tb testing.TB, rdb redis.UniversalClient) {
	tb.Helper()
	if _, ok := tb.(*testing.T); !ok {
		return
	}
	if err := loadPackageScripts(); err != nil {
		tb.Fatal(err)
	}
	rdb.AddHook(keyCheck{report: func(err error) { tb.Errorf("%v", err) }})
}

func (keyCheck) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (k keyCheck) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := k.inspect(cmd); err != nil {
			k.report(err)
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (k keyCheck) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var err error
		for _, cmd := range cmds {
			if err == nil {
				err = k.inspect(cmd)
			}
		}
		if err == nil && len(cmds) > 0 && cmds[0].Name() == "multi" {
			var keys []string
			for _, cmd := range cmds {
				keys = append(keys, commandKeys(cmd.Args())...)
			}
			if !oneSlot(keys) {
				err = fmt.Errorf("cross-slot transaction: keys %v", keys)
			}
		}
		if err != nil {
			k.report(err)
			for _, cmd := range cmds {
				cmd.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

// inspect checks one command's keys and, for a package script, puts the
// guarded script in its place.
func (keyCheck) inspect(cmd redis.Cmder) error {
	args := cmd.Args()
	if keys := commandKeys(args); !oneSlot(keys) {
		return fmt.Errorf("cross-slot %s: keys %v", cmd.Name(), keys)
	}
	switch cmd.Name() {
	case "evalsha", "evalsha_ro":
		if s := scriptBySHA[fmt.Sprint(args[1])]; s != nil {
			args[1] = s.guardSHA
			countRun(s)
		}
	case "eval", "eval_ro":
		if s := scriptBySrc[fmt.Sprint(args[1])]; s != nil {
			args[1] = s.guardedSrc
			countRun(s)
		}
	case "script":
		if len(args) == 3 && strings.EqualFold(fmt.Sprint(args[1]), "load") {
			if s := scriptBySrc[fmt.Sprint(args[2])]; s != nil {
				args[2] = s.guardedSrc
			}
		}
	}
	return nil
}

func countRun(s *packageScript) {
	scriptRunsMu.Lock()
	scriptRuns[s.name]++
	scriptRunsMu.Unlock()
}

// commandKeys returns the keys of the commands the store sends that may
// name several: scripts, multi-key commands and WATCH. Other commands name
// one key or none, which is always one slot.
func commandKeys(args []any) []string {
	if len(args) == 0 {
		return nil
	}
	str := func(from, to int) []string {
		var out []string
		for _, a := range args[from:min(to, len(args))] {
			out = append(out, fmt.Sprint(a))
		}
		return out
	}
	switch strings.ToLower(fmt.Sprint(args[0])) {
	case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro":
		if len(args) < 3 {
			return nil
		}
		n, _ := strconv.Atoi(fmt.Sprint(args[2]))
		return str(3, 3+n)
	case "del", "exists", "unlink", "touch", "mget", "watch", "sinter", "sunion", "sdiff", "pfcount":
		return str(1, len(args))
	case "rename", "renamenx", "smove", "rpoplpush", "lmove", "blmove", "copy":
		return str(1, 3)
	case "mset", "msetnx":
		var out []string
		for i := 1; i < len(args); i += 2 {
			out = append(out, fmt.Sprint(args[i]))
		}
		return out
	case "multi", "exec", "ping", "flushdb", "flushall", "script", "info", "cluster", "hello", "client", "select", "readonly", "auth":
		return nil
	}
	if len(args) > 1 {
		return []string{fmt.Sprint(args[1])}
	}
	return nil
}

func oneSlot(keys []string) bool {
	for _, k := range keys[min(1, len(keys)):] {
		if slotOf(k) != slotOf(keys[0]) {
			return false
		}
	}
	return true
}

// slotOf is Redis Cluster's hash slot of a key: CRC16 (XMODEM) of the key,
// or of its hash tag (the part between the first { and the next } when not
// empty), modulo 16384.
func slotOf(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if n := strings.IndexByte(key[open+1:], '}'); n > 0 {
			key = key[open+1 : open+1+n]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc % 16384)
}

// TestMain checks, after a run of every test (no -run, -skip or -list),
// that every script of the package ran under the guard at least once.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	filtered := false
	for _, name := range []string{"test.run", "test.skip", "test.list"} {
		filtered = filtered || flag.Lookup(name).Value.String() != ""
	}
	if code == 0 && !filtered {
		scriptRunsMu.Lock()
		var missing []string
		for _, s := range scriptBySHA {
			if scriptRuns[s.name] == 0 {
				missing = append(missing, s.name)
			}
		}
		scriptRunsMu.Unlock()
		if len(scriptBySHA) > 0 && len(missing) > 0 {
			slices.Sort(missing)
			fmt.Fprintf(os.Stderr, "FAIL: no test ran these scripts under the key guard: %s\n", strings.Join(missing, ", "))
			code = 1
		}
	}
	os.Exit(code)
}

func TestSlotOf(t *testing.T) {
	// Values of CLUSTER KEYSLOT.
	for key, want := range map[string]int{"foo": 12182, "bar": 5061, "somekey": 11058, "{user1000}.following": 3443,
		"{user1000}.followers": 3443, "foo{}{bar}": 8363, "foo{{bar}}zap": 4015, "foo{bar}{zap}": 5061} {
		if got := slotOf(key); got != want {
			t.Errorf("slotOf(%q) = %d, want %d", key, got, want)
		}
	}
}

// TestKeyChecksCatchViolations shows that the checks fail what they should:
// a script touching a key it was not given, a script given keys of two
// slots, a transaction over two slots.
func TestKeyChecksCatchViolations(t *testing.T) {
	if err := loadPackageScripts(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	var reported []error
	rdb.AddHook(keyCheck{report: func(err error) { reported = append(reported, err) }})

	// A script, under the guard, touching a key it was not given.
	sneaky := redis.NewScript(keyGuard + `return redis.call('GET', 'bot:{a}:other')`)
	if err := sneaky.Run(ctx, rdb, []string{"bot:{a}:one"}).Err(); err == nil || !strings.Contains(err.Error(), "not in KEYS") {
		t.Errorf("undeclared key: %v", err)
	}
	// A package script is guarded although its caller does not know it.
	if err := releaseScript.Run(ctx, rdb, []string{"bot:lease:x"}, "owner").Err(); err != nil {
		t.Errorf("release: %v", err)
	}
	if err := releaseScript.Run(ctx, rdb, []string{"bot:{a}:x", "bot:{b}:y"}, "owner").Err(); err == nil {
		t.Error("a script given keys of two slots ran")
	}
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "bot:{a}:x", 1, 0)
		p.Set(ctx, "bot:{b}:y", 1, 0)
		return nil
	})
	if err == nil {
		t.Error("a transaction over two slots ran")
	}
	if err := rdb.Del(ctx, "bot:{a}:x", "bot:{b}:y").Err(); err == nil {
		t.Error("DEL over two slots ran")
	}
	if len(reported) != 3 {
		t.Errorf("reported %d violations, want 3: %v", len(reported), reported)
	}
}
