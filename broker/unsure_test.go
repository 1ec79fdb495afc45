package broker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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
	rdb := redis.NewClient(&redis.Options{Addr: jobRedis.Addr, ReadTimeout: 300 * time.Millisecond, MaxRetries: -1})
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
	b.resolveUnsureBefore(ctx, time.Now().Add(-time.Minute)) // not due yet: nothing asked
	if n := b.unsure.len(); n != 1 {
		t.Fatalf("%d unsure before they are due, want 1", n)
	}
	b.resolveUnsureBefore(ctx, time.Now().Add(time.Minute))
	if got, n := reservedOf(t, l, "u1"), b.unsure.len(); got != 2*one || n != 0 {
		t.Fatalf("after resolving a queued job: reserved %d (want %d), %d unsure", got, 2*one, n)
	}

	// Store down: the job never reached it.
	never := job("u1")
	jobRedis.Kill()
	if s := submit(never); s != http.StatusServiceUnavailable {
		t.Fatalf("submit to a dead store: %d, want 503", s)
	}
	b.resolveUnsureBefore(ctx, time.Now().Add(time.Minute)) // the store cannot answer: kept
	if got, n := reservedOf(t, l, "u1"), b.unsure.len(); got != 3*one || n != 1 {
		t.Fatalf("store still down: reserved %d (want %d), %d unsure (want 1)", got, 3*one, n)
	}
	jobRedis.Restart()
	b.resolveUnsureBefore(ctx, time.Now().Add(time.Minute))
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
	if _, e := b.reserve(ctx, never); e != nil {
		t.Fatal(e)
	}
	b.unsure.add(never.User, never.ID, time.Now())
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
