package broker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/wire"
	"github.com/redis/go-redis/v9"
)

// billed turns billing on for b with its ledger on rdb and a trial credit.
func billed(t *testing.T, b *Broker, rdb redis.UniversalClient) *ledger.Ledger {
	t.Helper()
	prices, err := ledger.ParsePrices(model + "=1000/2000")
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.New(rdb)
	b.cfg.Money = &Money{Ledger: l, Prices: prices, Trial: 1_000_000_000}
	return l
}

// reservedOf is user's reserved nanoTON.
func reservedOf(t *testing.T, l *ledger.Ledger, user string) int64 {
	t.Helper()
	bal, err := l.Balance(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return bal.Reserved
}

// TestBusyRetryIsCharged: a job refused because its queue is full gives its
// reservation back, and the submitter's retry with the same id, once the
// queue has room, reserves again: the job is charged when it runs.
func TestBusyRetryIsCharged(t *testing.T) {
	b, srv, _ := submitBroker(t, Config{Store: StoreConfig{MaxQueue: 1}})
	l := billed(t, b, b.cfg.Redis)
	ctx := context.Background()
	first, refused := job("u1"), job("u1")
	if status, e := postJSONTo(srv.URL+"/v1/jobs", first, nil); status != http.StatusAccepted && status != http.StatusOK {
		t.Fatalf("first job: %d %v", status, e)
	}
	one := reservedOf(t, l, "u1")
	if status, e := postJSONTo(srv.URL+"/v1/jobs", refused, nil); status != http.StatusTooManyRequests || e.Code != wire.CodeBusy {
		t.Fatalf("second job: %d %v, want busy", status, e)
	}
	if got := reservedOf(t, l, "u1"); got != one || one <= 0 {
		t.Fatalf("reserved %d after the refusal, want the first job's %d", got, one)
	}
	if jobs, err := b.store.Lease(ctx, model, "w1", 1); err != nil || len(jobs) != 1 {
		t.Fatalf("lease: %v %v", jobs, err)
	}
	if status, e := postJSONTo(srv.URL+"/v1/jobs", refused, nil); status != http.StatusAccepted && status != http.StatusOK {
		t.Fatalf("retry: %d %v", status, e)
	}
	if got := reservedOf(t, l, "u1"); got != 2*one {
		t.Fatalf("reserved %d after the retry, want %d: the retried job holds no reservation", got, 2*one)
	}
	if rep, err := l.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("ledger: %v\n%s", err, rep)
	}
}

// TestUnsureSubmitKeepsOrUndoesReservation: when the job store does not
// answer a submit, the job may have been queued. Real faults: a paused
// Redis that runs the script after the broker gave up (a lost reply), and
// a Redis that is down. The reservation is kept until the store can tell:
// the queued job keeps it, the job that never reached the store has it
// undone, and that job's retry with the same id reserves again.
func TestUnsureSubmitKeepsOrUndoesReservation(t *testing.T) {
	ledgerRedis := testenv.StartRedis(t, testenv.RedisOptions{})
	jobRedis := testenv.StartRedis(t, testenv.RedisOptions{})
	// A read timeout of 1 s makes the paused submit fail; every other call
	// answers in well under that.
	rdb := redis.NewClient(&redis.Options{Addr: jobRedis.Addr, ReadTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	b, err := New(Config{Redis: rdb, Token: "t", AllowInsecure: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	l := billed(t, b, ledgerRedis.Client())
	ctx := context.Background()
	if _, err := b.reg.add(ctx, &WorkerInfo{ID: "w1", Evidence: wire.EvidenceInsecureDev,
		Models: []wire.ModelDigest{{Name: model, Digest: "d"}}, MaxJobs: 4}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	submit := func(r *wire.SubmitRequest) int {
		status, _ := postJSONTo(srv.URL+"/v1/jobs", r, nil)
		return status
	}
	if s := submit(job("u1")); s != http.StatusAccepted && s != http.StatusOK { // loads the script
		t.Fatalf("warm-up submit: %d", s)
	}
	one := reservedOf(t, l, "u1")

	// Lost reply: the script waits in the paused server's socket, the
	// broker times out, the server then runs it.
	lost := job("u1")
	if err := rdb.Ping(ctx).Err(); err != nil { // a pooled connection: no dial to the paused server
		t.Fatal(err)
	}
	jobRedis.Pause()
	s := submit(lost)
	jobRedis.Resume()
	if s != http.StatusServiceUnavailable {
		t.Fatalf("submit to a paused store: %d, want 503", s)
	}
	if got, n := reservedOf(t, l, "u1"), b.unsure.len(); got != 2*one || n != 1 {
		t.Fatalf("after the lost reply: reserved %d (want %d), %d unsure (want 1)", got, 2*one, n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, err := b.store.Get(ctx, lost.ID); err != nil; _, err = b.store.Get(ctx, lost.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("the paused server never queued the job: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.resolveUnsureAt(ctx, time.Now().Add(time.Minute))
	if got, n := reservedOf(t, l, "u1"), b.unsure.len(); got != 2*one || n != 0 {
		t.Fatalf("after resolving a queued job: reserved %d (want %d), %d unsure", got, 2*one, n)
	}

	// Store down: the job never reached it.
	never := job("u1")
	jobRedis.Kill()
	if s := submit(never); s != http.StatusServiceUnavailable {
		t.Fatalf("submit to a dead store: %d, want 503", s)
	}
	b.resolveUnsureAt(ctx, time.Now().Add(time.Minute)) // the store cannot answer: kept
	if got, n := reservedOf(t, l, "u1"), b.unsure.len(); got != 3*one || n != 1 {
		t.Fatalf("store still down: reserved %d (want %d), %d unsure (want 1)", got, 3*one, n)
	}
	jobRedis.Restart()
	b.resolveUnsureAt(ctx, time.Now().Add(time.Minute)) // not due again yet: backing off
	if n := b.unsure.len(); n != 1 {
		t.Fatalf("%d unsure during the backoff, want 1", n)
	}
	b.resolveUnsureAt(ctx, time.Now().Add(time.Hour))
	if got, n := reservedOf(t, l, "u1"), b.unsure.len(); got != 2*one || n != 0 {
		t.Fatalf("after resolving a job never queued: reserved %d (want %d), %d unsure", got, 2*one, n)
	}
	if _, err := b.store.Get(ctx, never.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the job that never reached the store: %v", err)
	}
	if s := submit(never); s != http.StatusAccepted && s != http.StatusOK {
		t.Fatalf("retry: %d", s)
	}
	if got := reservedOf(t, l, "u1"); got != 3*one {
		t.Fatalf("reserved %d after the retry, want %d", got, 3*one)
	}
	if rep, err := l.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("ledger: %v\n%s", err, rep)
	}
}

// TestStoppingBrokerResolvesUnsure: a broker that stops resolves the unsure
// reservations it holds, however recent, before Serve returns.
func TestStoppingBrokerResolvesUnsure(t *testing.T) {
	b, _, _ := submitBroker(t, Config{})
	l := billed(t, b, b.cfg.Redis)
	ctx, cancel := context.WithCancel(context.Background())
	never := job("u1")
	_, payer, e := b.reserve(ctx, never)
	if e != nil {
		t.Fatal(e)
	}
	b.unsure.add(payer, never.ID, time.Now())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- b.Serve(ctx, ln) }()
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if got, n := reservedOf(t, l, "u1"), b.unsure.len(); got != 0 || n != 0 {
		t.Fatalf("after stop: reserved %d, %d unsure; want 0, 0", got, n)
	}
}

// TestRequeueOfRefundedDeadJobRefused: a billed dead job, refunded by the
// settler or about to be, is not requeued (it would run free); an unbilled
// broker requeues it.
func TestRequeueOfRefundedDeadJobRefused(t *testing.T) {
	b, srv, _ := submitBroker(t, Config{Store: StoreConfig{MaxAttempts: 1}})
	l := billed(t, b, b.cfg.Redis)
	ctx := context.Background()
	j := job("u1")
	if status, e := postJSONTo(srv.URL+"/v1/jobs", j, nil); status != http.StatusAccepted && status != http.StatusOK {
		t.Fatalf("submit: %d %v", status, e)
	}
	jobs, err := b.store.Lease(ctx, model, "w1", 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("lease: %v %v", jobs, err)
	}
	if out, err := b.store.Fail(ctx, "w1", j.ID, jobs[0].Lease, "boom", true); err != nil || out != wire.StateDead {
		t.Fatalf("fail: %q %v, want dead", out, err)
	}
	url := srv.URL + "/v1/admin/dead/" + j.ID + "/requeue"
	// Before the settler refunds it, and after.
	if status, e := postJSONTo(url, struct{}{}, nil); status != http.StatusConflict || e == nil || e.Code != wire.CodeConflict {
		t.Fatalf("requeue of a job about to be refunded: %d %v, want 409", status, e)
	}
	shard, _ := wire.ParseJobID(j.ID)
	if err := b.settle(ctx, shard, j.ID); err != nil {
		t.Fatal(err)
	}
	if got := reservedOf(t, l, "u1"); got != 0 {
		t.Fatalf("reserved %d after the job died, want 0 (refunded)", got)
	}
	if status, e := postJSONTo(url, struct{}{}, nil); status != http.StatusConflict || e == nil || e.Code != wire.CodeConflict {
		t.Fatalf("requeue of a refunded job: %d %v, want 409", status, e)
	}
	b.cfg.Money = nil
	if status, e := postJSONTo(url, struct{}{}, nil); status != http.StatusOK {
		t.Fatalf("requeue without billing: %d %v", status, e)
	}
}

// TestResolverWaitsUnsureAfter: the resolver's loop asks the job store only
// once unsureAfter has passed since the failed submit, by the broker's
// clock.
func TestResolverWaitsUnsureAfter(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	b, _, _ := submitBroker(t, Config{Store: StoreConfig{Clock: clk}})
	l := billed(t, b, b.cfg.Redis)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	never := job("u1")
	_, payer, e := b.reserve(ctx, never)
	if e != nil {
		t.Fatal(e)
	}
	b.unsure.add(payer, never.ID, clk.Now())
	go b.resolveUnsure(ctx)
	clk.Add(unsureAfter - time.Second)
	time.Sleep(1500 * time.Millisecond) // a tick or two: not due
	if got := reservedOf(t, l, "u1"); got == 0 || b.unsure.len() != 1 {
		t.Fatalf("resolved %v before unsureAfter (reserved %d)", unsureAfter-time.Second, got)
	}
	clk.Add(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for reservedOf(t, l, "u1") != 0 || b.unsure.len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not resolved at unsureAfter: reserved %d, %d unsure", reservedOf(t, l, "u1"), b.unsure.len())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSettlerChargesJobQueuedAfterUnreserve: the resolver undid a job's
// reservation, then a retry whose duplicate reserve came just before the
// undo queued it. When it ends the settler reserves it again and charges
// it; without the balance to cover it the job's cost reads 0.
func TestSettlerChargesJobQueuedAfterUnreserve(t *testing.T) {
	b, _, _ := submitBroker(t, Config{})
	l := billed(t, b, b.cfg.Redis)
	ctx := context.Background()
	// queuedUnreserved queues a job of user whose reservation is then
	// undone; spend runs before the job ends.
	queuedUnreserved := func(user string, spend func()) *wire.JobStatus {
		t.Helper()
		j := job(user)
		rsv, payer, e := b.reserve(ctx, j)
		if e != nil {
			t.Fatal(e)
		}
		if o := b.store.SubmitMany(ctx, []*wire.SubmitRequest{j}, []int64{rsv})[0]; o.Err != nil {
			t.Fatal(o.Err)
		}
		if err := b.unreserve(ctx, payer, j.ID); err != nil {
			t.Fatal(err)
		}
		spend()
		jobs, err := b.store.Lease(ctx, model, "w1", 1)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("lease: %v %v", jobs, err)
		}
		if err := b.store.Complete(ctx, "w1", &wire.Report{Job: j.ID, Lease: jobs[0].Lease, PromptTokens: 3, CompletionTokens: 4}); err != nil {
			t.Fatal(err)
		}
		shard, _ := wire.ParseJobID(j.ID)
		if err := b.settle(ctx, shard, j.ID); err != nil {
			t.Fatalf("settle: %v", err)
		}
		st, err := b.store.Get(ctx, j.ID)
		if err != nil || st.Cost == nil {
			t.Fatalf("status %+v, %v: want a cost", st, err)
		}
		return st
	}
	st := queuedUnreserved("u1", func() {})
	bal, _ := l.Balance(ctx, "u1")
	if *st.Cost <= 0 || bal.Reserved != 0 || bal.Available != 1_000_000_000-*st.Cost {
		t.Fatalf("cost %d, balance %+v: want charged", *st.Cost, bal)
	}
	// A user whose balance went elsewhere meanwhile: not charged.
	st = queuedUnreserved("u2", func() {
		bal, _ := l.Balance(ctx, "u2")
		if _, err := l.Reserve(ctx, "u2", "other", bal.Available); err != nil {
			t.Fatal(err)
		}
	})
	if *st.Cost != 0 {
		t.Fatalf("cost %d without the balance, want 0", *st.Cost)
	}
	if rep, err := l.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("ledger: %v\n%s", err, rep)
	}
}

// TestAdminReservationsAndUnreserve: the admin API lists a user's
// reservations with their jobs' states and gives back only the one whose
// job the store does not have.
func TestAdminReservationsAndUnreserve(t *testing.T) {
	b, srv, _ := submitBroker(t, Config{})
	l := billed(t, b, b.cfg.Redis)
	ctx := context.Background()
	queued, missing := job("u1"), job("u1")
	if status, e := postJSONTo(srv.URL+"/v1/jobs", queued, nil); status != http.StatusAccepted && status != http.StatusOK {
		t.Fatalf("submit: %d %v", status, e)
	}
	if _, _, e := b.reserve(ctx, missing); e != nil { // a submit that stopped before the store
		t.Fatal(e)
	}
	c := client.New(srv.URL, "t")
	res, err := c.Reservations(ctx, "u1")
	if err != nil || len(res) != 2 {
		t.Fatalf("reservations %+v, %v", res, err)
	}
	states := map[string]string{}
	for _, r := range res {
		if r.Amount <= 0 {
			t.Errorf("reservation %+v", r)
		}
		states[r.Job] = r.State
	}
	if states[queued.ID] != wire.StateQueued || states[missing.ID] != wire.ReservationMissing {
		t.Fatalf("states %v", states)
	}
	var we *wire.Error
	if _, err := c.Unreserve(ctx, "u1", queued.ID); !errors.As(err, &we) || we.Code != wire.CodeConflict {
		t.Fatalf("unreserve of a queued job: %v, want a conflict", err)
	}
	before := reservedOf(t, l, "u1")
	got, err := c.Unreserve(ctx, "u1", missing.ID)
	if err != nil || got.Amount <= 0 || reservedOf(t, l, "u1") != before-got.Amount {
		t.Fatalf("unreserve of a missing job: %+v %v; reserved %d before", got, err, before)
	}
	if _, err := c.Unreserve(ctx, "u1", missing.ID); !errors.As(err, &we) || we.Code != wire.CodeNotFound {
		t.Fatalf("second unreserve: %v, want not found", err)
	}
	if res, _ := c.Reservations(ctx, "u1"); len(res) != 1 || res[0].Job != queued.ID {
		t.Fatalf("left %+v, want the queued job's", res)
	}
	b.cfg.Money = nil
	if _, err := c.Reservations(ctx, "u1"); !errors.As(err, &we) || we.Code != wire.CodeConflict {
		t.Fatalf("billing off: %v", err)
	}
}
