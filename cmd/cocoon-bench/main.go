// Command cocoon-bench measures the broker end to end, through the APIs
// production uses, and hibiken/asynq v0.26 on the same Redis in the same
// run. `make bench` runs it; it ends by printing one line per figure,
// exactly `bench: NAME=VALUE UNIT`. docs/benchmarks.md explains the figures.
//
//	go run ./cmd/cocoon-bench              # the full run (~75 s on 2 cores)
//	go run ./cmd/cocoon-bench -quick       # fewer jobs and runs (~35 s)
//	go run ./cmd/cocoon-bench -only dispatch,stream -v -cpuprofile /tmp/cpu
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	cfg := defaultConfig()
	flag.IntVar(&cfg.Jobs, "jobs", cfg.Jobs, "no-op jobs per throughput run")
	flag.IntVar(&cfg.Submitters, "submitters", cfg.Submitters, "concurrent submitters (cocoon) and enqueuers (asynq)")
	flag.IntVar(&cfg.Slots, "slots", cfg.Slots, "jobs one no-op worker runs at once; workers = concurrency / slots")
	flag.IntVar(&cfg.Rate, "rate", cfg.Rate, "jobs/s of the dispatch-latency run")
	flag.DurationVar(&cfg.DispatchFor, "dispatch-for", cfg.DispatchFor, "length of the dispatch-latency run")
	flag.IntVar(&cfg.DispatchConc, "dispatch-concurrency", cfg.DispatchConc, "jobs in flight in the dispatch-latency run")
	flag.IntVar(&cfg.StreamRuns, "stream-runs", cfg.StreamRuns, "paired runs (direct, through Cocoon) of the streaming test")
	flag.IntVar(&cfg.IdleWorkers, "idle-workers", cfg.IdleWorkers, "workers registered for the memory figure")
	flag.IntVar(&cfg.PollWorkers, "poll-workers", cfg.PollWorkers, "idle workers long-polling for the Redis-load note (0: skip)")
	quick := flag.Bool("quick", false, "a quick run: 5,000 jobs, 3 s of dispatch, 6 stream runs, 2,000 idle workers")
	only := flag.String("only", "", "comma-separated parts to run: throughput,dispatch,stream,idle,trust (default all)")
	flag.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write CPU profiles of the cocoon phases to FILE.<phase>")
	flag.StringVar(&cfg.PhaseHook, "phase-hook", "", "run `CMD` start|end PHASE around each throughput phase (scripts/redis-instr.sh uses it)")
	flag.BoolVar(&cfg.Verbose, "v", false, "progress on stderr")
	flag.Parse()
	if *quick {
		cfg.Jobs, cfg.DispatchFor, cfg.StreamRuns, cfg.IdleWorkers, cfg.PollWorkers = 5000, 3*time.Second, 6, 2000, 500
	}
	if *only != "" {
		cfg.Parts = map[string]bool{}
		for _, p := range strings.Split(*only, ",") {
			cfg.Parts[strings.TrimSpace(p)] = true
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cocoon-bench:", err)
		os.Exit(1)
	}
}
