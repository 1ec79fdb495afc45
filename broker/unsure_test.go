package broker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/wire"
	"github.com/redis/go-redis/v9"
)

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
	never := job("u1")
	reserveUnsure(t, b, never, time.Now())
	if err := serveAndStop(t, b); err != nil {
		t.Fatal(err)
	}
	if got, n := reservedOf(t, l, "u1"), b.unsure.len(); got != 0 || n != 0 {
		t.Fatalf("after stop: reserved %d, %d unsure; want 0, 0", got, n)
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
	reserveUnsure(t, b, never, clk.Now())
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

// TestStopWithStoreDownLogsHeldReservation: a broker that stops while the
// job store cannot answer logs each reservation it leaves held, with the
// job and the payer, and keeps the money reserved.
func TestStopWithStoreDownLogsHeldReservation(t *testing.T) {
	ledgerRedis := testenv.StartRedis(t, testenv.RedisOptions{})
	jobRedis := testenv.StartRedis(t, testenv.RedisOptions{})
	var logs testenv.LogBuffer
	b, err := New(Config{Redis: jobRedis.Client(), Token: "t", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	l := billed(t, b, ledgerRedis.Client())
	held := job("u1")
	reserveUnsure(t, b, held, time.Now())
	jobRedis.Kill()
	serveAndStop(t, b)
	want := "reservation left held: its job may not exist\" job=" + held.ID + " payer=u1"
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("log lacks %q:\n%s", want, logs.String())
	}
	if got := reservedOf(t, l, "u1"); got == 0 {
		t.Fatal("the reservation was given back though the store could not say")
	}
}

// reserveUnsure reserves j's money as a submit does and records it as a
// submit the job store did not answer, at now.
func reserveUnsure(t *testing.T, b *Broker, j *wire.SubmitRequest, now time.Time) {
	t.Helper()
	_, payer, e := b.reserve(context.Background(), j)
	if e != nil {
		t.Fatal(e)
	}
	b.unsure.add(payer, j.ID, now)
}

// serveAndStop runs b.Serve on a free port and stops it at once: what a
// broker does on its way down. It returns Serve's error.
func serveAndStop(t *testing.T, b *Broker) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- b.Serve(ctx, ln) }()
	cancel()
	return <-served
}
