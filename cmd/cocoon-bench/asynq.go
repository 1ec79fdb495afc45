package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

const asynqTask = "noop"

// quietLogger drops asynq's logs.
type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(...any) {}
func (quietLogger) Fatal(...any) {}

// asynqServer starts an asynq server with conc workers running fn. Its
// TaskCheckInterval is 1 ms, asynq's best for latency and for a queue that
// runs dry between enqueues (the default 1 s would stall it).
func (b *bench) asynqServer(conc int, fn func(t *asynq.Task)) (*asynq.Server, error) {
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: b.addr, PoolSize: 256}, asynq.Config{
		Concurrency:       conc,
		TaskCheckInterval: time.Millisecond,
		Queues:            map[string]int{"default": 1},
		Logger:            quietLogger{},
		LogLevel:          asynq.ErrorLevel,
		ShutdownTimeout:   2 * time.Second,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(asynqTask, func(ctx context.Context, t *asynq.Task) error {
		fn(t)
		return nil
	})
	if err := srv.Start(mux); err != nil {
		return nil, err
	}
	return srv, nil
}

// asynqThroughput enqueues b.cfg.Jobs no-op tasks with b.cfg.Submitters
// enqueuers while a server with conc workers runs them, and returns tasks/s
// from the first enqueue until the queue holds no pending or active task
// (asynq marks a task done after its handler returns).
func (b *bench) asynqThroughput(ctx context.Context, conc int) (float64, error) {
	if err := b.flush(ctx); err != nil {
		return 0, err
	}
	total := int64(b.cfg.Jobs)
	var handled atomic.Int64
	srv, err := b.asynqServer(conc, func(*asynq.Task) { handled.Add(1) })
	if err != nil {
		return 0, err
	}
	defer srv.Shutdown()
	cl := asynq.NewClient(asynq.RedisClientOpt{Addr: b.addr, PoolSize: b.cfg.Submitters + 8})
	defer cl.Close()
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: b.addr})
	defer insp.Close()

	phase := fmt.Sprintf("asynq-c%d", conc)
	if err := b.hook("start", phase); err != nil {
		return 0, err
	}
	u0 := b.redisUsage(ctx)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, b.cfg.Submitters)
	for s := 0; s < b.cfg.Submitters; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= total {
				if _, err := cl.EnqueueContext(ctx, asynq.NewTask(asynqTask, noopPayload(time.Now()))); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if errs := collect(errc); len(errs) > 0 {
		return 0, errs[0]
	}
	b.logf("asynq c%d: %d enqueued in %v", conc, total, time.Since(start).Round(time.Millisecond))
	if !waitFor(ctx, func() bool { return handled.Load() >= total }, 5*time.Minute) {
		return 0, fmt.Errorf("asynq ran %d of %d tasks", handled.Load(), total)
	}
	// The last handlers returned; wait for their done writes.
	ok := waitFor(ctx, func() bool {
		qi, err := insp.GetQueueInfo("default")
		return err == nil && qi.Pending == 0 && qi.Active == 0
	}, time.Minute)
	if !ok {
		return 0, fmt.Errorf("asynq queue did not drain")
	}
	elapsed := time.Since(start)
	b.note("asynq c%d: %s", conc, b.redisUsage(ctx).since(u0, int(total)))
	if err := b.hook("end", phase); err != nil {
		return 0, err
	}
	return float64(total) / elapsed.Seconds(), nil
}

// asynqDispatch enqueues n tasks at b.cfg.Rate per second and returns, per
// task, the time from the start of its enqueue to its handler starting.
func (b *bench) asynqDispatch(ctx context.Context, n int) ([]time.Duration, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	lat := newSamples(n)
	srv, err := b.asynqServer(b.cfg.DispatchConc, func(t *asynq.Task) {
		lat.add(time.Since(payloadTime(t.Payload())))
	})
	if err != nil {
		return nil, err
	}
	defer srv.Shutdown()
	cl := asynq.NewClient(asynq.RedisClientOpt{Addr: b.addr, PoolSize: 256})
	defer cl.Close()
	for i := 0; i < 50; i++ {
		if _, err := cl.EnqueueContext(ctx, asynq.NewTask(asynqTask, noopPayload(time.Now()))); err != nil {
			return nil, err
		}
	}
	waitFor(ctx, func() bool { return lat.len() >= 50 }, 10*time.Second)
	lat.reset()
	err = paced(ctx, n, b.cfg.Rate, func(int) error {
		_, err := cl.EnqueueContext(ctx, asynq.NewTask(asynqTask, noopPayload(time.Now())))
		return err
	})
	if err != nil {
		return nil, err
	}
	if !waitFor(ctx, func() bool { return lat.len() >= n }, 30*time.Second) {
		return nil, fmt.Errorf("only %d of %d tasks started", lat.len(), n)
	}
	return lat.values(), nil
}

// throughput is the jobs/s part: cocoon and asynq at 10 and 100 jobs in
// flight, alternating so drift in the shared machine's load hits both.
func (b *bench) throughput(ctx context.Context) error {
	res := map[string]float64{}
	for _, conc := range []int{10, 100} {
		a, err := b.asynqThroughput(ctx, conc)
		if err != nil {
			return fmt.Errorf("asynq c%d: %w", conc, err)
		}
		c, err := b.cocoonThroughput(ctx, conc)
		if err != nil {
			return fmt.Errorf("cocoon c%d: %w", conc, err)
		}
		res[fmt.Sprintf("cocoon_jobs_per_s_c%d", conc)] = c
		res[fmt.Sprintf("asynq_jobs_per_s_c%d", conc)] = a
		b.logf("c%d: cocoon %.0f jobs/s, asynq %.0f jobs/s (%.2fx)", conc, c, a, c/a)
	}
	for _, name := range []string{"cocoon_jobs_per_s_c10", "cocoon_jobs_per_s_c100", "asynq_jobs_per_s_c10", "asynq_jobs_per_s_c100"} {
		b.add(name, res[name], "jobs/s", 0)
	}
	return nil
}

// dispatch is the submit → worker start part at a steady rate: rounds of
// cocoon and asynq alternate (each with only its own side running), so a
// burst of load from elsewhere on the shared machine is as likely to land
// on either.
func (b *bench) dispatch(ctx context.Context) error {
	const rounds = 5
	n := int(b.cfg.DispatchFor.Seconds()*float64(b.cfg.Rate)) / rounds
	var c, a []time.Duration
	var roundsC, roundsA []string // per-round p99, to show a stall hitting one round
	for r := 0; r < rounds; r++ {
		runC := func() error {
			d, err := b.cocoonDispatch(ctx, n, fmt.Sprintf("dispatch-r%d", r))
			c = append(c, d...)
			roundsC = append(roundsC, fmt.Sprintf("%.1f", ms(percentile(d, 99))))
			return err
		}
		runA := func() error {
			d, err := b.asynqDispatch(ctx, n)
			a = append(a, d...)
			roundsA = append(roundsA, fmt.Sprintf("%.1f", ms(percentile(d, 99))))
			return err
		}
		first, second := runC, runA
		if r%2 == 1 {
			first, second = runA, runC
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
	}
	b.add("dispatch_p50_ms", ms(percentile(c, 50)), "ms", 2)
	b.add("dispatch_p99_ms", ms(percentile(c, 99)), "ms", 2)
	b.add("asynq_dispatch_p50_ms", ms(percentile(a, 50)), "ms", 2)
	b.add("asynq_dispatch_p99_ms", ms(percentile(a, 99)), "ms", 2)
	b.note("dispatch: %d jobs each at %d/s, %d jobs in flight at most; p99.9 cocoon %.2f ms, asynq %.2f ms; max cocoon %.1f ms, asynq %.1f ms",
		len(c), b.cfg.Rate, b.cfg.DispatchConc, ms(percentile(c, 99.9)), ms(percentile(a, 99.9)), ms(percentile(c, 100)), ms(percentile(a, 100)))
	b.note("dispatch: p99 per round (ms): cocoon %s; asynq %s; %s",
		strings.Join(roundsC, " "), strings.Join(roundsA, " "), b.redisPersistence(ctx))

	// The same rate with 100 workers of one slot each, as a pool of GPU
	// workers looks: every idle worker holds a lease long-poll.
	wide := *b
	wide.cfg.DispatchConc, wide.cfg.Slots = 100, 1
	u0 := b.redisUsage(ctx)
	w, err := wide.cocoonDispatch(ctx, n, "dispatch-wide")
	if err != nil {
		return fmt.Errorf("cocoon, 100 workers: %w", err)
	}
	u := b.redisUsage(ctx)
	leases := (u.stats["evalsha"][0] - u0.stats["evalsha"][0]) / float64(n+50) // 50 warm-up jobs
	b.note("dispatch with 100 one-slot workers: p50 %.2f ms, p99 %.2f ms; %.1f Redis script calls per job (1 submit + 1 complete + lease polls)",
		ms(percentile(w, 50)), ms(percentile(w, 99)), leases)
	return nil
}
