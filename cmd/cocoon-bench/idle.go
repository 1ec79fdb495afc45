package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cocoon-network/cocoon/broker"
	"github.com/cocoon-network/cocoon/wire"
)

// workersKey and statusKey are the broker's registry hashes (broker/keys.go).
const (
	workersKey = "cocoon:{reg}:workers"
	statusKey  = "cocoon:{reg}:status"
)

// idle measures the broker's heap per registered idle worker: N workers
// join through the real nonce and join API with insecure-dev evidence; the
// heap in use after a full GC is compared before and after. The broker
// heartbeat is set to 1 minute so no worker expires while the joins run
// (they do not heartbeat); that changes nothing in what a worker costs.
func (b *bench) idle(ctx context.Context) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	br, err := b.startBroker(ctx, func(c *broker.Config) { c.Heartbeat = time.Minute })
	if err != nil {
		return err
	}
	defer br.stop()
	id, err := newIdentity()
	if err != nil {
		return err
	}
	hc := httpClient(16)
	// One join first, so lazily built broker state exists before "before".
	if _, err := join(ctx, &workerAPI{base: br.URL, hc: hc}, id, "warm", []string{noopModel}, 4); err != nil {
		return err
	}
	hc.CloseIdleConnections()
	before := heapInUse()

	n := b.cfg.IdleWorkers
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	start := time.Now()
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := &workerAPI{base: br.URL, hc: hc}
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, err := join(ctx, a, id, "idle-"+strconv.FormatInt(i, 10), []string{noopModel}, 4); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if errs := collect(errc); len(errs) > 0 {
		return errs[0]
	}
	joinTime := time.Since(start)
	hc.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond) // let the server's connection goroutines end
	after := heapInUse()
	live, err := b.rdb.HLen(ctx, workersKey).Result()
	if err != nil {
		return err
	}
	if live != int64(n)+1 {
		return fmt.Errorf("%d workers registered, want %d", live, n+1)
	}
	b.add("idle_worker_kib", float64(after-before)/float64(n)/1024, "KiB", 2)
	b.note("idle: %d joins in %v (%.0f joins/s); broker heap %.1f MiB -> %.1f MiB",
		n, joinTime.Round(time.Millisecond), float64(n)/joinTime.Seconds(), float64(before)/(1<<20), float64(after)/(1<<20))

	// What the janitor does every heartbeat (5 s by default) with this pool:
	// one registry refresh (every status; registrations only of workers
	// this broker does not hold yet).
	statuses, err := b.rdb.HGetAll(ctx, statusKey).Result()
	if err != nil {
		return err
	}
	size := 0
	for _, v := range statuses {
		size += len(v)
	}
	t0 := time.Now()
	if err := br.RefreshRegistry(ctx); err != nil {
		return err
	}
	b.note("idle: one registry refresh at %d workers reads %.2f MiB of statuses and takes %v (the janitor runs it every heartbeat, 5 s by default)",
		len(statuses), float64(size)/(1<<20), time.Since(t0).Round(time.Millisecond))

	if b.cfg.PollWorkers > 0 {
		return b.pollLoad(ctx, br.URL)
	}
	return nil
}

// pollLoad joins PollWorkers workers that each hold a lease long-poll, as
// idle production workers do, and measures what the idle pool costs: Redis
// commands per second and the bench process's CPU (broker and clients).
func (b *bench) pollLoad(ctx context.Context, url string) error {
	id, err := newIdentity()
	if err != nil {
		return err
	}
	n := b.cfg.PollWorkers
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	polls := new(atomic.Int64)
	for i := 0; i < n; i++ {
		a := &workerAPI{base: url, hc: httpClient(2)}
		tok, err := join(ctx, a, id, "poll-"+strconv.Itoa(i), []string{"idle:latest"}, 4)
		if err != nil {
			return err
		}
		a.token = tok
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pctx.Err() == nil {
				var lr wire.LeaseResponse
				polls.Add(1)
				_ = a.call(pctx, "/v1/worker/lease", wire.LeaseRequest{Max: 4, WaitMs: 20000}, &lr)
			}
		}()
	}
	time.Sleep(time.Second) // every poll is waiting
	u0, cpu0, p0 := b.redisUsage(ctx), cpuTime(), polls.Load()
	time.Sleep(5 * time.Second)
	u1, cpu1, p1 := b.redisUsage(ctx), cpuTime(), polls.Load()
	secs := u1.at.Sub(u0.at).Seconds()
	b.note("idle: %d idle workers long-polling (nothing queued): %.0f Redis scripts/s (the recoverer's ~72 included: 16 shards every 250 ms), Redis %.0f%% of a core, bench process %.2f cores, %d lease requests answered in %.0f s",
		n, (u1.stats["evalsha"][0]-u0.stats["evalsha"][0])/secs, 100*(u1.cpu-u0.cpu)/secs, (cpu1-cpu0).Seconds()/secs, p1-p0, secs)
	return nil
}

// heapInUse is the live heap after two full collections.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisUsage is a snapshot of Redis's CPU and per-command counters.
type redisUsage struct {
	cpu      float64               // used_cpu_user + used_cpu_sys, seconds
	sys      float64               // used_cpu_sys alone: the kernel's share (system calls)
	childCPU float64               // the same for its forks (AOF rewrites)
	aofSize  float64               // aof_current_size, bytes
	rewrites float64               // aof_rewrites so far
	stats    map[string][2]float64 // command -> {calls, usec}
	at       time.Time
}

func (b *bench) redisUsage(ctx context.Context) redisUsage {
	info, _ := b.rdb.Info(ctx, "cpu", "commandstats", "persistence").Result()
	return parseUsage(info)
}

// parseUsage reads CPU time and command stats from INFO output.
func parseUsage(info string) redisUsage {
	u := redisUsage{stats: map[string][2]float64{}, at: time.Now()}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		// Counters that add up into one figure: CPU is user + sys.
		for key, dst := range map[string]*float64{"used_cpu_user": &u.cpu, "used_cpu_sys": &u.cpu,
			"used_cpu_user_children": &u.childCPU, "used_cpu_sys_children": &u.childCPU,
			"aof_current_size": &u.aofSize, "aof_rewrites": &u.rewrites} {
			if v, ok := strings.CutPrefix(line, key+":"); ok {
				f, _ := strconv.ParseFloat(v, 64)
				*dst += f
			}
		}
		if v, ok := strings.CutPrefix(line, "used_cpu_sys:"); ok {
			u.sys, _ = strconv.ParseFloat(v, 64)
		}
		if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
			name, fields, _ := strings.Cut(rest, ":")
			var calls, usec float64
			for _, kv := range strings.Split(fields, ",") {
				k, v, _ := strings.Cut(kv, "=")
				f, _ := strconv.ParseFloat(v, 64)
				switch k {
				case "calls":
					calls = f
				case "usec":
					usec = f
				}
			}
			u.stats[name] = [2]float64{calls, usec}
		}
	}
	return u
}

// since describes Redis's work between u0 and u per job.
func (u redisUsage) since(u0 redisUsage, jobs int) string {
	secs := u.at.Sub(u0.at).Seconds()
	var parts []string
	for name, s := range u.stats {
		c := s[0] - u0.stats[name][0]
		if c/float64(jobs) < 0.05 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f/job %.1fµs", name, c/float64(jobs), (s[1]-u0.stats[name][1])/c))
	}
	slices.Sort(parts)
	aof := fmt.Sprintf("AOF %.0f bytes/job", (u.aofSize-u0.aofSize)/float64(jobs))
	if n := u.rewrites - u0.rewrites; n > 0 {
		// A rewrite shrinks the file: the growth no longer tells the bytes written.
		aof = fmt.Sprintf("%.0f AOF rewrites, their forks busy %.0f%% of a core", n, 100*(u.childCPU-u0.childCPU)/secs)
	}
	// CPU per job split into user and kernel time: callgrind (make
	// bench-instr) counts only the first, a command's system calls are the
	// second.
	cpu, sys := u.cpu-u0.cpu, u.sys-u0.sys
	return fmt.Sprintf("redis busy %.0f%% of a core, %.1fµs/job (user %.1f, sys %.1f), %s; %s", 100*cpu/secs,
		1e6*cpu/float64(jobs), 1e6*(cpu-sys)/float64(jobs), 1e6*sys/float64(jobs), aof, strings.Join(parts, ", "))
}

// redisPersistence describes Redis's disk events so far (AOF rewrites and
// their fork, fsyncs that fell behind): causes of stalls on a busy disk.
func (b *bench) redisPersistence(ctx context.Context) string {
	info, err := b.rdb.Info(ctx, "persistence", "stats").Result()
	if err != nil {
		return ""
	}
	want := map[string]string{"aof_rewrites": "", "aof_delayed_fsync": "", "latest_fork_usec": ""}
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if _, hit := want[k]; ok && hit {
			want[k] = v
		}
	}
	return fmt.Sprintf("Redis so far: %s AOF rewrites (last fork %s µs), %s delayed AOF fsyncs",
		want["aof_rewrites"], want["latest_fork_usec"], want["aof_delayed_fsync"])
}
