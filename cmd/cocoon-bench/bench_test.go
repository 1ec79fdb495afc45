package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/wire"
)

// Micro benchmarks of the pieces the end-to-end figures are made of, on a
// real redis-server (no AOF, so they show the code, not the disk):
//
//	go test -run '^$' -bench . -benchtime 3s ./cmd/cocoon-bench/
//
// BenchmarkStore* call the job store directly (one Lua script per call);
// BenchmarkHTTP* go through the broker's HTTP APIs as the bench does.

func benchEnv(b *testing.B) (*bench, *runningBroker) { return benchEnvAOF(b, false) }

// benchEnvAOF is benchEnv, with AOF (appendfsync everysec) when aof is set.
func benchEnvAOF(b testing.TB, aof bool) (*bench, *runningBroker) {
	b.Helper()
	r := testenv.StartRedis(b, testenv.RedisOptions{AOF: aof})
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr, PoolSize: 256})
	b.Cleanup(func() { rdb.Close() })
	be := &bench{cfg: defaultConfig(), rdb: rdb, addr: r.Addr}
	br, err := be.startBroker(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(br.stop)
	return be, br
}

// BenchmarkStoreSubmit: the submit script alone, from parallel callers.
func BenchmarkStoreSubmit(b *testing.B) {
	_, br := benchEnv(b)
	st := br.Store()
	ctx := context.Background()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		user := fmt.Sprintf("u%d", n.Add(1))
		for pb.Next() {
			if _, err := st.Submit(ctx, submitReq(user, time.Now())); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStoreLeaseComplete: lease batches of 10 and complete each job
// with its own script call, as the broker's report handler does.
func BenchmarkStoreLeaseComplete(b *testing.B) {
	_, br := benchEnv(b)
	st := br.Store()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		if _, err := st.Submit(ctx, submitReq(fmt.Sprintf("u%d", i%32), time.Now())); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	done := 0
	for done < b.N {
		jobs, err := st.Lease(ctx, noopModel, "w1", 10)
		if err != nil || len(jobs) == 0 {
			b.Fatalf("lease: %d jobs, %v", len(jobs), err)
		}
		for _, j := range jobs {
			if err := st.Complete(ctx, "w1", &wire.Report{Kind: wire.ReportComplete, Job: j.ID, Lease: j.Lease}); err != nil {
				b.Fatal(err)
			}
		}
		done += len(jobs)
	}
}

// BenchmarkHTTPSubmit: POST /v1/jobs through broker/client, in parallel.
func BenchmarkHTTPSubmit(b *testing.B) {
	be, br := benchEnv(b)
	ctx := context.Background()
	p, err := be.startPool(ctx, br.URL, 1, nil, nil) // a worker, so submits are accepted
	if err != nil {
		b.Fatal(err)
	}
	p.stop() // registered but not leasing: the queue only grows
	c := client.New(br.URL, token, client.WithHTTPClient(httpClient(64)))
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		user := fmt.Sprintf("u%d", n.Add(1))
		for pb.Next() {
			if _, err := c.Submit(ctx, submitReq(user, time.Now())); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHTTPLeaseCycle: one no-op worker's cycle as in the c10
// throughput figure: each lease request carries the completions of the
// jobs the previous one returned (10 at a time), on a queue filled
// beforehand; Redis with AOF as in production. ns/op is per job.
func BenchmarkHTTPLeaseCycle(b *testing.B) {
	be, br := benchEnvAOF(b, true)
	ctx := context.Background()
	st := br.Store()
	id, err := newIdentity()
	if err != nil {
		b.Fatal(err)
	}
	a := &workerAPI{base: br.URL, hc: httpClient(4)}
	if a.token, err = join(ctx, a, id, "w", []string{noopModel}, 10); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; {
		reqs := make([]*wire.SubmitRequest, 0, 128)
		for ; i < b.N && len(reqs) < 128; i++ {
			reqs = append(reqs, submitReq(fmt.Sprintf("u%d", i%32), time.Now()))
		}
		for _, o := range st.SubmitMany(ctx, reqs, nil) {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
		}
	}
	scriptUs := func() float64 {
		info, _ := be.rdb.Info(ctx, "commandstats").Result()
		u := parseUsage(info)
		return u.stats["evalsha"][1]
	}
	u0, s0 := be.redisUsage(ctx), scriptUs()
	b.ResetTimer()
	var done []wire.Report
	for n := 0; n < b.N || len(done) > 0; {
		var lr wire.LeaseResponse
		req := wire.LeaseRequest{Max: min(10, b.N-n), WaitMs: 1000, Reports: done}
		if req.Max == 0 {
			req.Max, req.WaitMs = 1, 1
		}
		if err := a.call(ctx, "/v1/worker/lease", req, &lr); err != nil {
			b.Fatal(err)
		}
		for _, r := range lr.Results {
			if r.Code != "" {
				b.Fatalf("report: %+v", r)
			}
		}
		done = done[:0]
		for _, j := range lr.Jobs {
			done = append(done, wire.Report{Kind: wire.ReportComplete, Job: j.ID, Lease: j.Lease})
		}
		n += len(lr.Jobs)
	}
	b.StopTimer()
	u := be.redisUsage(ctx)
	b.ReportMetric((scriptUs()-s0)/float64(b.N), "script-µs/job")
	b.ReportMetric((u.cpu-u0.cpu)*1e6/float64(b.N), "redis-cpu-µs/job")
}

// BenchmarkRedisPerJob: the job store's Redis cost per job, batched as the
// broker batches (submit 32 at a time, lease 10, complete those 10 in one
// call), from Redis's own accounting (INFO commandstats): script µs per
// job for each stage, and all Redis CPU per job. Redis runs with AOF as in
// production: every write a script makes is also appended to the AOF.
func BenchmarkRedisPerJob(b *testing.B) {
	be, br := benchEnvAOF(b, true)
	st := br.Store()
	ctx := context.Background()
	scriptUs := func() float64 {
		info, _ := be.rdb.Info(ctx, "commandstats").Result()
		u := parseUsage(info)
		return u.stats["evalsha"][1] + u.stats["eval"][1]
	}
	u0 := be.redisUsage(ctx)
	var submitUs, leaseUs, completeUs float64
	for done := 0; done < b.N; {
		n := min(32, b.N-done)
		reqs := make([]*wire.SubmitRequest, n)
		for i := range reqs {
			reqs[i] = submitReq(fmt.Sprintf("u%d", i), time.Now())
		}
		t := scriptUs()
		for _, o := range st.SubmitMany(ctx, reqs, nil) {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
		}
		submitUs += scriptUs() - t
		for left := n; left > 0; {
			t = scriptUs()
			jobs, err := st.Lease(ctx, noopModel, "w1", 10)
			if err != nil || len(jobs) == 0 {
				b.Fatalf("lease: %d jobs, %v", len(jobs), err)
			}
			leaseUs += scriptUs() - t
			reps := make([]*wire.Report, len(jobs))
			for i, j := range jobs {
				reps[i] = &wire.Report{Kind: wire.ReportComplete, Job: j.ID, Lease: j.Lease}
			}
			t = scriptUs()
			for _, o := range st.ApplyReports(ctx, "w1", reps) {
				if o.Err != nil {
					b.Fatal(o.Err)
				}
			}
			completeUs += scriptUs() - t
			left -= len(jobs)
		}
		done += n
	}
	u := be.redisUsage(ctx)
	b.ReportMetric(submitUs/float64(b.N), "submit-µs/job")
	b.ReportMetric(leaseUs/float64(b.N), "lease-µs/job")
	b.ReportMetric(completeUs/float64(b.N), "complete-µs/job")
	b.ReportMetric((u.cpu-u0.cpu)*1e6/float64(b.N), "redis-cpu-µs/job")
}
