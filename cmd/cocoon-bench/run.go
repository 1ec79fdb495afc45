package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/internal/localredis"
)

// Config is what one bench run measures. The zero value is not useful:
// start from defaultConfig.
type Config struct {
	Jobs         int           // no-op jobs per throughput run
	Submitters   int           // concurrent submitters / enqueuers
	Slots        int           // jobs per no-op worker
	Rate         int           // jobs/s of the dispatch run
	DispatchFor  time.Duration // length of the dispatch run
	DispatchConc int           // jobs in flight in the dispatch run
	StreamRuns   int           // paired streaming runs
	IdleWorkers  int           // workers registered for idle_worker_kib
	PollWorkers  int           // idle long-polling workers for the Redis-load note
	Parts        map[string]bool
	CPUProfile   string
	PhaseHook    string // run as HOOK start|end PHASE around each throughput phase
	Verbose      bool
}

func defaultConfig() Config {
	return Config{Jobs: 50000, Submitters: 32, Slots: 10, Rate: 1000, DispatchFor: 10 * time.Second,
		DispatchConc: 10, StreamRuns: 100, IdleWorkers: 10000, PollWorkers: 1000}
}

func (c Config) part(name string) bool { return c.Parts == nil || c.Parts[name] }

// figure is one result line.
type figure struct {
	name  string
	value float64
	unit  string
	prec  int
}

// bench holds what every part shares: the Redis it started and the output.
type bench struct {
	cfg  Config
	dir  string
	rdb  *redis.Client
	addr string
	log  io.Writer
	figs []figure
}

func (b *bench) logf(format string, args ...any) {
	if b.cfg.Verbose {
		fmt.Fprintf(b.log, "progress: "+format+"\n", args...)
	}
}

// note prints a line of context for a figure (not a figure) on the log.
func (b *bench) note(format string, args ...any) {
	fmt.Fprintln(b.log, "note:", fmt.Sprintf(format, args...))
}

func (b *bench) add(name string, v float64, unit string, prec int) {
	b.figs = append(b.figs, figure{name, v, unit, prec})
	b.logf("%s=%.*f %s", name, prec, v, unit)
}

// flush empties Redis between parts so each starts from the same state,
// its append-only file included: the AOF is rewritten (to almost nothing)
// and the rewrite waited for, so that rewriting an earlier part's writes
// does not fork and compete for the CPU during the next part.
func (b *bench) flush(ctx context.Context) error {
	if err := b.rdb.FlushAll(ctx).Err(); err != nil {
		return err
	}
	if err := b.aofIdle(ctx); err != nil {
		return err
	}
	if err := b.rdb.BgRewriteAOF(ctx).Err(); err != nil {
		return err
	}
	return b.aofIdle(ctx)
}

// aofIdle waits until Redis has no AOF rewrite running or scheduled.
func (b *bench) aofIdle(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		info, err := b.rdb.Info(ctx, "persistence").Result()
		if err != nil {
			return err
		}
		if strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrite_scheduled:0") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis AOF rewrite still running after a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hook runs the -phase-hook command, if any, as HOOK event phase, and
// waits for it: scripts/redis-instr.sh counts Redis's instructions per
// phase with it.
func (b *bench) hook(event, phase string) error {
	if b.cfg.PhaseHook == "" {
		return nil
	}
	if out, err := exec.Command(b.cfg.PhaseHook, event, phase).CombinedOutput(); err != nil {
		return fmt.Errorf("phase hook %s %s: %v: %s", event, phase, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// profile runs fn with the CPU profiler on when -cpuprofile is set,
// writing <cpuprofile>.<phase> (cocoon phases only).
func (b *bench) profile(phase string, fn func() error) error {
	if b.cfg.CPUProfile == "" {
		return fn()
	}
	f, err := os.Create(b.cfg.CPUProfile + "." + phase)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return fn()
}

func run(ctx context.Context, cfg Config, out, log io.Writer) error {
	dir, err := os.MkdirTemp("", "cocoon-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{cfg: cfg, dir: dir, log: log}
	fmt.Fprintf(log, "progress: %s, GOMAXPROCS %d, load average %s\n", runtime.Version(), runtime.GOMAXPROCS(0), loadavg())

	rp, err := localredis.Start(ctx, dir)
	if err != nil {
		return err
	}
	defer rp.Stop()
	opt, err := redis.ParseURL(rp.URL)
	if err != nil {
		return err
	}
	opt.PoolSize = 256 // as cmd/cocoon's broker
	b.rdb, b.addr = redis.NewClient(opt), opt.Addr
	defer b.rdb.Close()

	type part struct {
		name string
		fn   func(context.Context) error
	}
	for _, p := range []part{
		{"throughput", b.throughput},
		{"dispatch", b.dispatch},
		{"stream", b.stream},
		{"idle", b.idle},
		{"trust", b.trustBench},
	} {
		if !cfg.part(p.name) {
			continue
		}
		// What the last part left behind is garbage by now: collect it
		// here, not in the middle of this part.
		runtime.GC()
		debug.FreeOSMemory()
		start := time.Now()
		if err := p.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		b.logf("%s took %v", p.name, time.Since(start).Round(time.Millisecond))
	}
	b.note("%s", b.redisPersistence(ctx))
	fmt.Fprintf(log, "progress: done, load average %s\n", loadavg())
	for _, f := range b.figs {
		fmt.Fprintf(out, "bench: %s=%.*f %s\n", f.name, f.prec, f.value, f.unit)
	}
	return nil
}

// loadavg is /proc/loadavg's first three fields: the machine is shared.
func loadavg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
