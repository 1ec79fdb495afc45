package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/broker"
	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/jsonx"
	"github.com/cocoon-network/cocoon/seal"
	"github.com/cocoon-network/cocoon/trust"
	"github.com/cocoon-network/cocoon/wire"
)

const (
	token     = "bench-service-token"
	noopModel = "noop:latest"
)

// runningBroker is an in-process broker serving on a free loopback port.
type runningBroker struct {
	*broker.Broker
	URL  string
	stop func()
}

// startBroker runs a broker as `cocoon broker` would (production defaults:
// 15 s lease, 250 ms recoverer, at most 8 running jobs per user), with
// insecure-dev workers allowed and no queue limit (50,000 jobs may wait at
// once; asynq has no limit either).
func (b *bench) startBroker(ctx context.Context, adjust func(*broker.Config)) (*runningBroker, error) {
	cfg := broker.Config{Redis: b.rdb, Token: token, AllowInsecure: true,
		Store:  broker.StoreConfig{MaxUserJobs: 8}, // COCOON_MAX_USER_JOBS's default
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if adjust != nil {
		adjust(&cfg)
	}
	br, err := broker.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = br.Serve(sctx, ln)
	}()
	return &runningBroker{Broker: br, URL: "http://" + ln.Addr().String(),
		stop: func() { cancel(); <-done }}, nil
}

// httpClient is a client with room for n idle keep-alive connections, as a
// long-running submitter (the bot, a gateway) or a worker process holds.
func httpClient(n int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n, IdleConnTimeout: 90 * time.Second}}
}

// workerAPI is a worker-API client speaking the wire types over HTTP, as the
// worker package's apiClient does (the worker package itself needs an
// Ollama behind every job).
type workerAPI struct {
	base  string
	hc    *http.Client
	token string
}

func (a *workerAPI) call(ctx context.Context, path string, in, out any) error {
	body, err := jsonx.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s: %s", path, resp.Status, strings.TrimSpace(string(raw)))
	}
	return jsonx.ReadAll(resp.Body, func(b []byte) error { return jsonx.Unmarshal(b, out) })
}

// identity is what a joining worker presents; one is shared by every
// bench worker (each join still sends and stores its own copy).
type identity struct {
	signing ed25519.PublicKey
	hpke    []byte
}

func newIdentity() (*identity, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	k, err := seal.GenerateKey()
	if err != nil {
		return nil, err
	}
	return &identity{signing: pub, hpke: k.PublicKey().Bytes()}, nil
}

// join registers a worker through the real join API with insecure-dev
// evidence (REPORTDATA over its nonce, keys and models, as the worker
// package sends it) and returns the session token.
func join(ctx context.Context, a *workerAPI, id *identity, name string, models []string, maxJobs int) (string, error) {
	var nr wire.NonceResponse
	if err := a.call(ctx, "/v1/worker/nonce", struct{}{}, &nr); err != nil {
		return "", err
	}
	md := make([]wire.ModelDigest, len(models))
	for i, m := range models {
		md[i] = wire.ModelDigest{Name: m, Digest: "sha256:" + strings.Repeat("0", 64)}
	}
	claims, err := trust.Claims(nr.Nonce, id.signing, id.hpke, md)
	if err != nil {
		return "", err
	}
	ev, err := attest.NewEvidence(attest.DevQuoter{}, claims)
	if err != nil {
		return "", err
	}
	var jr wire.JoinResponse
	err = a.call(ctx, "/v1/worker/join", &wire.JoinRequest{Nonce: nr.Nonce, Evidence: wire.Evidence{Type: ev.Type, Quote: ev.Quote},
		SigningKey: id.signing, HPKEKey: id.hpke, Models: md, MaxJobs: maxJobs, Name: name}, &jr)
	if err != nil {
		return "", err
	}
	return jr.Token, nil
}

// noopWorker leases jobs and completes them at once, with the worker
// package's shape: one lease long-poll at a time asking for every free
// slot (wait 20 s), and completions that go with the next lease request
// (wire.LeaseRequest.Reports), as the worker package sends the reports
// pending when it asks for jobs. A slot is freed when the broker has
// acknowledged the job's completion, so "jobs in flight" is bounded by the
// slots, as asynq's Concurrency bounds its handlers until their done
// write. (Freeing at queue time lets zero-length jobs lease faster than
// they complete, without bound.)
type noopWorker struct {
	api     *workerAPI
	slots   int
	onStart func(j *wire.LeasedJob, at time.Time) // the job reached the worker
	onDone  func(res wire.ReportResult)           // the broker answered its completion
}

func (w *noopWorker) run(ctx context.Context) error {
	var done []wire.Report // completions of the jobs held: they free their slots when acknowledged
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		var lr wire.LeaseResponse
		err := w.api.call(ctx, "/v1/worker/lease", wire.LeaseRequest{Max: w.slots, WaitMs: 20000, Reports: done}, &lr)
		if err == nil && len(lr.Results) != len(done) {
			err = fmt.Errorf("%d results for %d reports", len(lr.Results), len(done))
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			time.Sleep(backoff) // the completions go again: the broker dedupes them
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		for _, res := range lr.Results {
			if w.onDone != nil {
				w.onDone(res)
			}
		}
		done = done[:0]
		now := time.Now()
		for i := range lr.Jobs {
			j := &lr.Jobs[i]
			if w.onStart != nil {
				w.onStart(j, now)
			}
			done = append(done, wire.Report{Kind: wire.ReportComplete, Job: j.ID, Lease: j.Lease})
		}
	}
	return nil
}

// pool is a set of no-op workers serving noopModel.
type pool struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startPool joins workers whose slots add up to conc and runs them.
func (b *bench) startPool(ctx context.Context, url string, conc int,
	onStart func(*wire.LeasedJob, time.Time), onDone func(wire.ReportResult)) (*pool, error) {
	id, err := newIdentity()
	if err != nil {
		return nil, err
	}
	n := (conc + b.cfg.Slots - 1) / b.cfg.Slots
	pctx, cancel := context.WithCancel(ctx)
	p := &pool{cancel: cancel}
	for i := 0; i < n; i++ {
		slots := conc / n
		if i < conc%n {
			slots++
		}
		a := &workerAPI{base: url, hc: httpClient(16)} // one process's connections
		tok, err := join(ctx, a, id, fmt.Sprintf("noop-%d", i), []string{noopModel}, slots)
		if err != nil {
			p.stop()
			return nil, err
		}
		a.token = tok
		w := &noopWorker{api: a, slots: slots, onStart: onStart, onDone: onDone}
		p.wg.Add(1)
		go func() { defer p.wg.Done(); _ = w.run(pctx) }()
	}
	b.logf("pool: %d workers, %d jobs in flight at most", n, conc)
	return p, nil
}

func (p *pool) stop() { p.cancel(); p.wg.Wait() }

// noopPayload is the opaque payload of a no-op job: when it was submitted.
func noopPayload(at time.Time) []byte {
	var p [16]byte
	binary.BigEndian.PutUint64(p[:8], uint64(at.UnixNano()))
	return p[:]
}

func payloadTime(p []byte) time.Time {
	if len(p) < 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(p[:8])))
}

func submitReq(user string, at time.Time) *wire.SubmitRequest {
	return &wire.SubmitRequest{ID: wire.NewJobID(noopModel), Model: noopModel, User: user, MaxTokens: 1, Payload: noopPayload(at)}
}

// cocoonThroughput submits b.cfg.Jobs no-op jobs through the client API
// with b.cfg.Submitters submitters while workers with conc slots run them,
// and returns jobs/s from the first submit to the last acknowledged
// completion.
func (b *bench) cocoonThroughput(ctx context.Context, conc int) (float64, error) {
	if err := b.flush(ctx); err != nil {
		return 0, err
	}
	br, err := b.startBroker(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer br.stop()
	total := int64(b.cfg.Jobs)
	var done, failed atomic.Int64
	finished := make(chan struct{})
	p, err := b.startPool(ctx, br.URL, conc, nil, func(res wire.ReportResult) {
		if res.Code != "" {
			failed.Add(1)
			return
		}
		if done.Add(1) == total {
			close(finished)
		}
	})
	if err != nil {
		return 0, err
	}
	defer p.stop()

	c := client.New(br.URL, token, client.WithHTTPClient(httpClient(b.cfg.Submitters)))
	var elapsed time.Duration
	phase := fmt.Sprintf("cocoon-c%d", conc)
	if err := b.hook("start", phase); err != nil {
		return 0, err
	}
	u0 := b.redisUsage(ctx)
	err = b.profile(fmt.Sprintf("throughput-c%d", conc), func() error {
		start := time.Now()
		if err := b.submitAll(ctx, c, int(total)); err != nil {
			return err
		}
		b.logf("cocoon c%d: %d submitted in %v, %d of them completed", conc, total, time.Since(start).Round(time.Millisecond), done.Load())
		select {
		case <-finished:
		case <-time.After(5 * time.Minute):
			return fmt.Errorf("only %d of %d jobs completed (%d reports refused)", done.Load(), total, failed.Load())
		case <-ctx.Done():
			return ctx.Err()
		}
		elapsed = time.Since(start)
		return nil
	})
	b.note("cocoon c%d: %s", conc, b.redisUsage(ctx).since(u0, int(total)))
	if err != nil {
		return 0, err
	}
	if err := b.hook("end", phase); err != nil {
		return 0, err
	}
	if f := failed.Load(); f > 0 {
		return 0, fmt.Errorf("%d completions refused", f)
	}
	return float64(total) / elapsed.Seconds(), nil
}

// submitAll submits n jobs with b.cfg.Submitters concurrent submitters,
// each its own user.
func (b *bench) submitAll(ctx context.Context, c *client.Client, n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, b.cfg.Submitters)
	for s := 0; s < b.cfg.Submitters; s++ {
		user := fmt.Sprintf("bench:%d", s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := c.Submit(ctx, submitReq(user, time.Now())); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	return errors.Join(collect(errc)...)
}

func collect(errc <-chan error) []error {
	var out []error
	for err := range errc {
		out = append(out, err)
	}
	return out
}

// cocoonDispatch submits n jobs at b.cfg.Rate per second (open loop: each
// submit on its own goroutine at its scheduled time) and returns, per job,
// the time from the start of its submit request to the lease response
// reaching a worker.
func (b *bench) cocoonDispatch(ctx context.Context, n int, phase string) ([]time.Duration, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	br, err := b.startBroker(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer br.stop()
	lat := newSamples(n)
	p, err := b.startPool(ctx, br.URL, b.cfg.DispatchConc, func(j *wire.LeasedJob, at time.Time) {
		lat.add(at.Sub(payloadTime(j.Payload)))
	}, nil)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	c := client.New(br.URL, token, client.WithHTTPClient(httpClient(256)))
	// Warm the connection pools before the timed part.
	for i := 0; i < 50; i++ {
		if _, err := c.Submit(ctx, submitReq("bench:warm", time.Now())); err != nil {
			return nil, err
		}
	}
	waitFor(ctx, func() bool { return lat.len() >= 50 }, 10*time.Second)
	lat.reset()
	err = b.profile(phase, func() error {
		return paced(ctx, n, b.cfg.Rate, func(i int) error {
			_, err := c.Submit(ctx, submitReq(fmt.Sprintf("bench:%d", i%32), time.Now()))
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if !waitFor(ctx, func() bool { return lat.len() >= n }, 30*time.Second) {
		return nil, fmt.Errorf("only %d of %d jobs reached a worker", lat.len(), n)
	}
	return lat.values(), nil
}

// paced calls fn(i) for i < n at rate per second, each on its own
// goroutine at its scheduled time, and waits for all of them.
func paced(ctx context.Context, n, rate int, fn func(i int) error) error {
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := fn(i); err != nil {
				first.CompareAndSwap(nil, &err)
			}
		}(i)
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return *e
	}
	return ctx.Err()
}

func waitFor(ctx context.Context, cond func() bool, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}
