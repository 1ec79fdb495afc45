package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/internal/teststack"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// TestCluster runs the end-to-end path and the broker-guarantees fault tests
// on a real 3-master Redis Cluster, with the broker on a go-redis
// ClusterClient built as `REDIS_CLUSTER=true` builds it (PoolSize 256),
// billing on.
//
// No script may touch keys of two slots. Redis refuses declared keys of two
// slots (CROSSSLOT) and keys another node serves, but Redis 7.0 lets a
// script touch an undeclared key of another slot on the same node (the
// first subtest shows both): such a script works until a resharding moves
// one of the slots. So the test watches every master with MONITOR, which
// also shows the commands a script runs, and fails if any one script run
// touched keys of more than one slot, declared or not.
//
// The Redis power-cut test is not repeated here: testenv's cluster runs
// without AOF and cannot restart a node.
func TestCluster(t *testing.T) {
	o := testenv.StartOllama(t) // skips under -short
	c := testenv.StartCluster(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, PoolSize: 256})
	t.Cleanup(func() { rdb.Close() })
	guard := watchScripts(t, c.Addrs)

	// Aliases of the tiny model whose shards live on the other masters, so
	// job keys of one worker's models spread over all three nodes.
	models := spreadModels(t, rdb, o)
	prices := testPrices
	for _, m := range models[1:] {
		prices += "," + m + "=1000/2000"
	}

	// Each subtest starts from an empty cluster.
	stack := func(t *testing.T) *teststack.Stack {
		t.Helper()
		err := rdb.ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error {
			return m.FlushAll(ctx).Err()
		})
		if err != nil {
			t.Fatalf("flush cluster: %v", err)
		}
		return teststack.Start(t, teststack.Options{Redis: rdb, Ollama: o, Prices: prices, Trial: 1_000_000_000})
	}

	t.Run("CrossSlotScriptsAreCaught", func(t *testing.T) {
		ctx := t.Context()
		for _, k := range []string{"{a}x", "cocoon:{s3}:job:3-x", "cocoon:{reg}:workers", "plain", "{}x", "a{b"} {
			if want, err := rdb.ClusterKeySlot(ctx, k).Result(); err != nil || uint16(want) != keySlot(k) {
				t.Errorf("keySlot(%q) = %d, Redis says %d (%v)", k, keySlot(k), want, err)
			}
		}
		err := rdb.Eval(ctx, "redis.call('SET', KEYS[1], 1) return redis.call('SET', KEYS[2], 1)", []string{"{a}x", "{b}y"}).Err()
		if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
			t.Errorf("declared keys in two slots: got %v, want CROSSSLOT", err)
		}
		err = rdb.Eval(ctx, "redis.call('SET', KEYS[1], 1) return redis.call('SET', '{a}' .. ARGV[1], 1)", []string{"{a}x"}, "y").Err()
		if err != nil {
			t.Errorf("undeclared key of the declared slot: %v", err)
		}
		if bad := guard.waitBad(0); bad != "" {
			t.Errorf("the guard flagged a one-slot script: %s", bad)
		}
		// Redis 7.0 runs this one; the guard must catch it.
		other := sameNodeOtherSlot(t, rdb, "{a}x")
		if err := rdb.Eval(ctx, "redis.call('SET', KEYS[1], 1) return redis.call('SET', ARGV[1], 1)", []string{"{a}x"}, other).Err(); err != nil {
			t.Logf("undeclared key of another slot on the same node: Redis refused it (%v)", err)
		}
		if bad := guard.waitBad(time.Second); !strings.Contains(bad, other) {
			t.Errorf("the guard missed a script touching %q and %q: %q", "{a}x", other, bad)
		}
		guard.reset() // the violations above were made on purpose
	})

	t.Run("AnswerEqualsDirectOllama", func(t *testing.T) {
		s := stack(t)
		s.AddWorker(nil)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		msgs := []wire.Message{{Role: "user", Content: "hello"}}
		want, m := o.Direct(t, msgs, 48)
		for _, model := range models {
			res, err := s.Submitter.Run(ctx, &submit.Request{Model: model, User: "cli:test", MaxTokens: 48,
				Messages: msgs, Options: detOpts}, nil)
			if err != nil {
				t.Fatalf("%s: %v", model, err)
			}
			if res.Text != want {
				t.Errorf("%s: answer through Cocoon differs from Ollama's:\n got %q\nwant %q", model, res.Text, want)
			}
			if res.PromptTokens != m.PromptEvalCount || res.CompletionTokens != 48 {
				t.Errorf("%s: tokens %d+%d, Ollama says %d+%d", model, res.PromptTokens, res.CompletionTokens, m.PromptEvalCount, m.EvalCount)
			}
			st, err := s.Broker.Store().Get(ctx, res.JobID)
			if err != nil || st.State != wire.StateDone || st.CompletionTokens != 48 {
				t.Errorf("%s: job in Redis: %+v, %v", model, st, err)
			}
		}
		if s.Ledger != nil {
			checkLedger(t, s.Ledger)
		}
	})

	// The broker-guarantees fault tests of faults_test.go, unchanged.
	t.Run("KillWorkerMidStreamFailsOver", func(t *testing.T) { runKillFailover(t, stack(t)) })
	t.Run("CancelRunningJobStopsOllama", func(t *testing.T) { runCancel(t, stack(t)) })
	t.Run("BrokerRestartUnderLoad", func(t *testing.T) { runBrokerRestart(t, stack(t)) })

	// Two brokers on the cluster: a worker long-polls broker A, jobs are
	// submitted to broker B. The submit script's PUBLISH runs on the node of
	// the job's shard and reaches A's subscription (on whichever node
	// serves the channel's slot) through the cluster bus.
	t.Run("TwoBrokersShareTheCluster", func(t *testing.T) {
		a := stack(t)
		b := teststack.Start(t, teststack.Options{Redis: rdb, Ollama: o, Prices: prices, Trial: 1_000_000_000})
		a.AddWorker(nil)
		waitWorkers(t, b, 1) // B learns the pool from the shared registry
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()

		sub := rdb.Subscribe(ctx, "cocoon:notify")
		defer sub.Close()
		if _, err := sub.Receive(ctx); err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		msgs := []wire.Message{{Role: "user", Content: "two brokers"}}
		want, _ := o.Direct(t, msgs, 16)
		for _, model := range models {
			start := time.Now()
			res, err := b.Submitter.Run(ctx, &submit.Request{Model: model, User: "cli:b", MaxTokens: 16,
				Messages: msgs, Options: detOpts}, nil)
			if err != nil {
				t.Fatalf("%s: %v", model, err)
			}
			if res.Text != want {
				t.Errorf("%s: got %q, want %q", model, res.Text, want)
			}
			select {
			case m := <-sub.Channel():
				if !strings.Contains(m.Payload, model) {
					t.Errorf("notification %q, want one for %q", m.Payload, model)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: no submit notification arrived over cluster pub/sub", model)
			}
			t.Logf("%s (shard %d): answered through the other broker in %v", model, wire.ShardOf(model), time.Since(start).Round(time.Millisecond))
		}
	})

	if bad := guard.waitBad(time.Second); bad != "" {
		t.Errorf("scripts touched keys of more than one slot:\n%s", bad)
	}
	runs, cmds := guard.summary()
	t.Logf("MONITOR saw %d script runs; commands run inside scripts: %s", runs, cmds)
	if runs < 100 {
		t.Errorf("only %d script runs seen", runs)
	}
}

// spreadModels copies the tiny model under names whose shards are served by
// each master of the cluster and returns the model names (tiny first).
func spreadModels(t *testing.T, rdb *redis.ClusterClient, o *testenv.Ollama) []string {
	t.Helper()
	ctx := t.Context()
	owner := func(model string) string {
		m, err := rdb.MasterForKey(ctx, "cocoon:{s"+strconv.Itoa(wire.ShardOf(model))+"}:leases")
		if err != nil {
			t.Fatalf("master for %s: %v", model, err)
		}
		return m.Options().Addr
	}
	models := []string{o.Model}
	seen := map[string]bool{owner(o.Model): true}
	for i := 0; len(seen) < 3 && i < 64; i++ {
		name := fmt.Sprintf("tiny%d:latest", i)
		if seen[owner(name)] {
			continue
		}
		if err := o.Client.Copy(ctx, &api.CopyRequest{Source: o.Model, Destination: name}); err != nil {
			t.Fatalf("copy model: %v", err)
		}
		seen[owner(name)] = true
		models = append(models, name)
	}
	if len(seen) < 3 {
		t.Fatalf("models cover %d masters, want 3", len(seen))
	}
	return models
}

// sameNodeOtherSlot returns a key on the node of key but in another slot.
func sameNodeOtherSlot(t *testing.T, rdb *redis.ClusterClient, key string) string {
	t.Helper()
	m, err := rdb.MasterForKey(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10000; i++ {
		k := "{z" + strconv.Itoa(i) + "}"
		o, err := rdb.MasterForKey(t.Context(), k)
		if err == nil && o.Options().Addr == m.Options().Addr && keySlot(k) != keySlot(key) {
			return k
		}
	}
	t.Fatal("no key on the same node")
	return ""
}

// scriptGuard reads MONITOR from every master and checks that each script
// run touched keys of one slot only: its declared keys (on the EVALSHA
// line) and every key of the commands it ran (the "[0 lua]" lines Redis
// prints right after the script's own line).
type scriptGuard struct {
	addrs []string
	mu    sync.Mutex
	runs  int
	cmds  map[string]int // command run inside scripts -> count
	bad   []string
	conns []net.Conn
}

func watchScripts(t *testing.T, addrs []string) *scriptGuard {
	t.Helper()
	g := &scriptGuard{addrs: addrs, cmds: map[string]int{}}
	for _, addr := range addrs {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("monitor %s: %v", addr, err)
		}
		g.conns = append(g.conns, conn)
		r := bufio.NewReaderSize(conn, 1<<20)
		if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("monitor %s: %q %v", addr, line, err)
		}
		go g.read(addr, r)
	}
	t.Cleanup(func() {
		for _, c := range g.conns {
			c.Close()
		}
	})
	return g
}

func (g *scriptGuard) read(addr string, r *bufio.Reader) {
	var script []string  // the EVAL/EVALSHA line of the script now running
	var inner [][]string // the commands it ran so far
	done := func() {
		if script != nil {
			g.check(addr, script, inner)
		}
		script, inner = nil, nil
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(strings.TrimPrefix(line, "+"), "\r\n")
		i := strings.Index(line, "] ")
		if i < 0 {
			continue
		}
		who, args := line[:i], parseMonitorArgs(line[i+2:])
		if len(args) == 0 {
			continue
		}
		if strings.HasSuffix(who, " lua") {
			if script != nil {
				inner = append(inner, args)
			}
			continue
		}
		done() // any other client's command ends the script before it
		switch strings.ToUpper(args[0]) {
		case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO":
			script = args
		}
	}
}

func (g *scriptGuard) check(addr string, script []string, inner [][]string) {
	var keys []string
	if len(script) > 2 {
		n, _ := strconv.Atoi(script[2])
		keys = append(keys, script[3:min(3+n, len(script))]...)
	}
	for _, c := range inner {
		keys = append(keys, commandKeys(c)...)
	}
	slots := map[uint16][]string{}
	for _, k := range keys {
		slots[keySlot(k)] = append(slots[keySlot(k)], k)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.runs++
	for _, c := range inner {
		g.cmds[strings.ToUpper(c[0])]++
	}
	if len(slots) > 1 {
		var parts []string
		for slot, ks := range slots {
			parts = append(parts, fmt.Sprintf("slot %d: %q", slot, slices.Compact(ks)))
		}
		slices.Sort(parts)
		g.bad = append(g.bad, fmt.Sprintf("%s %s %.16s...: %s", addr, script[0], script[1], strings.Join(parts, "; ")))
	}
}

// commandKeys returns the keys of a command run inside a script.
func commandKeys(args []string) []string {
	switch strings.ToUpper(args[0]) {
	case "PUBLISH", "SPUBLISH", "TIME", "PING", "ECHO":
		return nil
	case "DEL", "UNLINK", "EXISTS", "TOUCH", "MGET":
		return args[1:]
	case "RPOPLPUSH", "LMOVE", "SMOVE", "RENAME", "RENAMENX", "COPY":
		return args[1:min(3, len(args))]
	}
	if len(args) > 1 {
		return args[1:2]
	}
	return nil
}

// parseMonitorArgs splits MONITOR's quoted, escaped arguments.
func parseMonitorArgs(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] != '"' {
			continue
		}
		var b strings.Builder
		for i++; i < len(s) && s[i] != '"'; i++ {
			if s[i] != '\\' || i+1 >= len(s) {
				b.WriteByte(s[i])
				continue
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'x':
				if i+2 < len(s) {
					v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
					b.WriteByte(byte(v))
					i += 2
				}
			default:
				b.WriteByte(s[i])
			}
		}
		out = append(out, b.String())
	}
	return out
}

// waitBad returns the violations seen so far. A PING to every master ends
// the last script run in each MONITOR stream; d gives the readers time.
func (g *scriptGuard) waitBad(d time.Duration) string {
	for _, addr := range g.addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		_ = c.Ping(context.Background()).Err()
		c.Close()
	}
	time.Sleep(max(d, 100*time.Millisecond))
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.Join(g.bad, "\n")
}

func (g *scriptGuard) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.bad = nil
}

func (g *scriptGuard) summary() (int, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for k, c := range g.cmds {
		out = append(out, fmt.Sprintf("%s %d", k, c))
	}
	slices.Sort(out)
	return g.runs, strings.Join(out, ", ")
}

// keySlot is Redis Cluster's slot of a key: CRC16 (XMODEM) of its hash tag
// (or of the whole key when it has none) mod 16384.
func keySlot(key string) uint16 {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}
