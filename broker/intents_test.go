package broker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/wire"
	"github.com/redis/go-redis/v9"
)

// intentOf is job j's submit intent ("" when none).
func intentOf(t *testing.T, b *Broker, j *wire.SubmitRequest) string {
	t.Helper()
	v, err := b.cfg.Redis.HGet(context.Background(), intentsKey(wire.ShardOf(j.Model)), j.ID).Result()
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	return v
}

// TestLostSubmitReplyKeepsReservation: the job store's Redis stalls right
// after a submit reserved its money, so the broker times out on a submit
// script that Redis then runs: the job is queued, the client got a 503.
// The reservation is kept (a release here let the job run unbilled) and
// the reconciler, finding the job, leaves it to be settled.
func TestLostSubmitReplyKeepsReservation(t *testing.T) {
	ledgerRedis := testenv.StartRedis(t, testenv.RedisOptions{})
	jobRedis := testenv.StartRedis(t, testenv.RedisOptions{})
	// A read timeout of 1 s makes the stalled submit fail; every other
	// call answers in well under that.
	rdb := redis.NewClient(&redis.Options{Addr: jobRedis.Addr, ReadTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	b, err := New(Config{Redis: rdb, Token: "t", AllowInsecure: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ledgerClient := ledgerRedis.Client()
	l := billed(t, b, ledgerClient)
	ctx := context.Background()
	if _, err := b.reg.add(ctx, &WorkerInfo{ID: "w1", Evidence: wire.EvidenceInsecureDev,
		Models: []wire.ModelDigest{{Name: model, Digest: "d"}}, MaxJobs: 4}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	if s, e := postJSONTo(srv.URL+"/v1/jobs", job("u1"), nil); s != http.StatusAccepted { // loads the scripts
		t.Fatalf("warm-up submit: %d %v", s, e)
	}
	one := reservedOf(t, l, "u1")

	// The job store's Redis stops right after the lost job's reserve
	// script: between the submit's reservation and its job's store.
	lost := job("u1")
	var paused atomic.Bool
	ledgerClient.AddHook(reserveHook{after: func(id string) {
		if id == lost.ID && paused.CompareAndSwap(false, true) {
			jobRedis.Pause()
		}
	}})
	s, _ := postJSONTo(srv.URL+"/v1/jobs", lost, nil)
	jobRedis.Resume()
	if s != http.StatusServiceUnavailable || !paused.Load() {
		t.Fatalf("submit to a stalled store: %d (paused: %v), want 503", s, paused.Load())
	}
	if got := reservedOf(t, l, "u1"); got != 2*one {
		t.Fatalf("after the lost reply: reserved %d, want %d", got, 2*one)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, err := b.store.Get(ctx, lost.ID); err != nil; _, err = b.store.Get(ctx, lost.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled server never queued the job: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := intentOf(t, b, lost); v != "" {
		t.Fatalf("intent %q left after the script stored the job", v)
	}

	// A store that cannot take the intent: nothing is reserved.
	jobRedis.Kill()
	if s, _ := postJSONTo(srv.URL+"/v1/jobs", job("u1"), nil); s != http.StatusServiceUnavailable {
		t.Fatalf("submit to a dead store: %d, want 503", s)
	}
	if got := reservedOf(t, l, "u1"); got != 2*one {
		t.Fatalf("reserved %d after a submit to a dead store, want %d", got, 2*one)
	}
}

// TestCrashedSubmitReconciledByAnotherBroker: a broker reserves a job's
// money and dies before storing it. Another broker's recoverer finds the
// intent once intentGrace has passed, by its clock, and gives the
// reservation back; the job's retry with the same id reserves again.
func TestCrashedSubmitReconciledByAnotherBroker(t *testing.T) {
	crashed, srv, _ := submitBroker(t, Config{})
	l := billed(t, crashed, crashed.cfg.Redis)
	ctx := context.Background()
	j := job("u1")
	if _, e := crashed.reserve(ctx, j); e != nil { // and no store: the crash
		t.Fatal(e)
	}
	held := reservedOf(t, l, "u1")
	if held <= 0 || !strings.Contains(intentOf(t, crashed, j), "|u1|") {
		t.Fatalf("reserved %d, intent %q", held, intentOf(t, crashed, j))
	}

	clk := &fakeClock{t: time.Now()}
	other, err := New(Config{Redis: crashed.cfg.Redis, Token: "t", Logger: quietLogger(),
		Store: StoreConfig{Clock: clk}, RecoverEvery: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	other.cfg.Money = crashed.cfg.Money
	octx, stop := context.WithCancel(ctx)
	defer stop()
	other.Start(octx)
	time.Sleep(300 * time.Millisecond) // 3 looks (every 20 passes of 5 ms), before the grace
	if got := reservedOf(t, l, "u1"); got != held {
		t.Fatalf("reconciled before intentGrace: reserved %d, want %d", got, held)
	}
	clk.Add(intentGrace)
	deadline := time.Now().Add(5 * time.Second)
	for reservedOf(t, l, "u1") != 0 || intentOf(t, crashed, j) != "" {
		if time.Now().After(deadline) {
			t.Fatalf("not reconciled: reserved %d, intent %q", reservedOf(t, l, "u1"), intentOf(t, crashed, j))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s, e := postJSONTo(srv.URL+"/v1/jobs", j, nil); s != http.StatusAccepted {
		t.Fatalf("retry: %d %v", s, e)
	}
	if got := reservedOf(t, l, "u1"); got != held {
		t.Fatalf("reserved %d after the retry, want %d", got, held)
	}
	if rep, err := l.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("ledger: %v\n%s", err, rep)
	}
}

// TestReconcilerResolvesByTheStore: old intents are resolved by what the
// job store has: a queued job keeps its reservation, a missing one has it
// given back; an intent changed since it was read (a retry's, another
// broker's claim) is left alone; every resolved intent is deleted.
func TestReconcilerResolvesByTheStore(t *testing.T) {
	b, _, _ := submitBroker(t, Config{})
	l := billed(t, b, b.cfg.Redis)
	ctx := context.Background()
	shard := wire.ShardOf(model)
	queued, missing, changed := job("u1"), job("u1"), job("u1")
	var rsv reservation
	for _, j := range []*wire.SubmitRequest{queued, missing, changed} {
		var e *wire.Error
		if rsv, e = b.reserve(ctx, j); e != nil {
			t.Fatal(e)
		}
	}
	one := rsv.amount
	// queued: stored, and its intent written again as if the script's
	// delete had been lost.
	if o := b.store.SubmitMany(ctx, []*wire.SubmitRequest{queued}, []int64{one})[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	if _, err := b.store.intend(ctx, shard, queued.ID, "u1"); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(intentGrace + time.Second)
	if err := b.reconcileIntent(ctx, shard, changed.ID, "1|u1|stale", later); err != nil {
		t.Fatal(err)
	}
	if got := reservedOf(t, l, "u1"); got != 3*one || intentOf(t, b, changed) == "" {
		t.Fatalf("an intent changed since it was read was resolved: reserved %d, intent %q", got, intentOf(t, b, changed))
	}
	if err := b.reconcileIntents(ctx, shard, time.Now()); err != nil || reservedOf(t, l, "u1") != 3*one {
		t.Fatalf("resolved before intentGrace: %v, reserved %d", err, reservedOf(t, l, "u1"))
	}
	if err := b.reconcileIntents(ctx, shard, later); err != nil {
		t.Fatal(err)
	}
	if got := reservedOf(t, l, "u1"); got != one {
		t.Fatalf("reserved %d, want the queued job's %d", got, one)
	}
	for _, j := range []*wire.SubmitRequest{queued, missing, changed} {
		if v := intentOf(t, b, j); v != "" {
			t.Errorf("intent %q of %s left", v, j.ID)
		}
	}
	if rep, err := l.Check(ctx); err != nil || !rep.OK() {
		t.Fatalf("ledger: %v\n%s", err, rep)
	}
}

// TestSubmitRefusedLeavesNoIntent: a submit refused for the balance, or
// for a job id that is another user's job, holds no money and leaves no
// intent; the job's owner is untouched.
func TestSubmitRefusedLeavesNoIntent(t *testing.T) {
	b, srv, _ := submitBroker(t, Config{})
	l := billed(t, b, b.cfg.Redis)
	ctx := context.Background()
	mine := job("u1")
	if s, e := postJSONTo(srv.URL+"/v1/jobs", mine, nil); s != http.StatusAccepted {
		t.Fatalf("submit: %d %v", s, e)
	}
	theirs := *mine
	theirs.User = "u2"
	if s, e := postJSONTo(srv.URL+"/v1/jobs", &theirs, nil); s != http.StatusConflict || e.Field != "id" {
		t.Fatalf("another user's job id: %d %v, want 409", s, e)
	}
	if got := reservedOf(t, l, "u2"); got != 0 || intentOf(t, b, &theirs) != "" {
		t.Fatalf("u2 holds %d, intent %q", got, intentOf(t, b, &theirs))
	}
	if st, err := b.store.Get(ctx, mine.ID); err != nil || st.User != "u1" || reservedOf(t, l, "u1") == 0 {
		t.Fatalf("the owner's job %+v %v", st, err)
	}
	b.cfg.Money.Trial = 0
	broke := job("u3")
	if s, e := postJSONTo(srv.URL+"/v1/jobs", broke, nil); s != http.StatusPaymentRequired {
		t.Fatalf("no balance: %d %v, want 402", s, e)
	}
	if v := intentOf(t, b, broke); v != "" {
		t.Fatalf("intent %q left by a refused submit", v)
	}
}

// TestOtherUsersJobIDOfSameAccount: two users billed to one account (an
// owner's API keys); the second submitting the first's job id is refused,
// and the first job keeps the account's reservation.
func TestOtherUsersJobIDOfSameAccount(t *testing.T) {
	b, srv, _ := submitBroker(t, Config{Payer: func(_ context.Context, user string) (string, error) {
		return "owner", nil
	}})
	l := billed(t, b, b.cfg.Redis)
	first := job("key:a")
	if s, e := postJSONTo(srv.URL+"/v1/jobs", first, nil); s != http.StatusAccepted {
		t.Fatalf("submit: %d %v", s, e)
	}
	held := reservedOf(t, l, "owner")
	second := *first
	second.User = "key:b"
	if s, e := postJSONTo(srv.URL+"/v1/jobs", &second, nil); s != http.StatusConflict {
		t.Fatalf("the same id as another key: %d %v, want 409", s, e)
	}
	if got := reservedOf(t, l, "owner"); got != held || held <= 0 {
		t.Fatalf("owner's reserved %d after the refusal, want %d (the first job's)", got, held)
	}
}
