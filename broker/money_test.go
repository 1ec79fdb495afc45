package broker

import (
	"context"
	"errors"
	"net/http"
	"strings"
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

// runAndSettle has worker w1 lease the next job (id), answer it with 3
// prompt and 4 completion tokens, and the settler bill it; it returns the
// job's status, which has its cost.
func runAndSettle(t *testing.T, b *Broker, id string) *wire.JobStatus {
	t.Helper()
	ctx := context.Background()
	jobs, err := b.store.Lease(ctx, model, "w1", 1)
	if err != nil || len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("lease: %v %v, want %s", jobs, err, id)
	}
	if err := b.store.Complete(ctx, "w1", &wire.Report{Job: id, Lease: jobs[0].Lease, PromptTokens: 3, CompletionTokens: 4}); err != nil {
		t.Fatal(err)
	}
	shard, _ := wire.ParseJobID(id)
	if err := b.settle(ctx, shard, id); err != nil {
		t.Fatalf("settle: %v", err)
	}
	st, err := b.store.Get(ctx, id)
	if err != nil || st.Cost == nil {
		t.Fatalf("status %+v, %v: want a cost", st, err)
	}
	return st
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
	if got := reservedOf(t, l, "u1"); got != one || one <= 0 || intentOf(t, b, refused) != "" {
		t.Fatalf("reserved %d after the refusal, want the first job's %d; intent %q", got, one, intentOf(t, b, refused))
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

// TestSettlerChargesJobQueuedAfterUnreserve: the reconciler undid a job's
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
		rsv, e := b.reserve(ctx, j)
		if e != nil {
			t.Fatal(e)
		}
		if o := b.store.SubmitMany(ctx, []*wire.SubmitRequest{j}, []int64{rsv.amount})[0]; o.Err != nil {
			t.Fatal(o.Err)
		}
		if err := b.unreserve(ctx, rsv.payer, rsv.intent, j); err != nil {
			t.Fatal(err)
		}
		spend()
		return runAndSettle(t, b, j.ID)
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

// TestSettleOfJobFromBeforeBilling: a job queued while billing was off
// reserved nothing; settled with billing on, it is charged nothing and its
// cost says so.
func TestSettleOfJobFromBeforeBilling(t *testing.T) {
	b, srv, _ := submitBroker(t, Config{})
	ctx := context.Background()
	j := job("u1")
	if status, e := postJSONTo(srv.URL+"/v1/jobs", j, nil); status != http.StatusAccepted && status != http.StatusOK {
		t.Fatalf("submit: %d %v", status, e)
	}
	l := billed(t, b, b.cfg.Redis)
	if st := runAndSettle(t, b, j.ID); *st.Cost != 0 {
		t.Fatalf("cost %d, want 0", *st.Cost)
	}
	if bal, _ := l.Balance(ctx, "u1"); bal.Available != 0 || bal.Reserved != 0 {
		t.Fatalf("balance %+v: nothing should have moved", bal)
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
	if _, e := b.reserve(ctx, missing); e != nil { // a submit that stopped before the store
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

// reserveHook runs before and after each ledger reserve script (its
// op key "reserve:<job>" among the arguments), with the job id.
type reserveHook struct{ before, after func(job string) }

func (h reserveHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h reserveHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h reserveHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		job := ""
		for _, a := range cmd.Args() {
			if s, ok := a.(string); ok && strings.HasPrefix(s, "reserve:") {
				job = strings.TrimPrefix(s, "reserve:")
			}
		}
		if job != "" && h.before != nil {
			h.before(job)
		}
		err := next(ctx, cmd)
		if job != "" && h.after != nil {
			h.after(job)
		}
		return err
	}
}

// TestSlowLedgerStopsReservingBatch: a batch whose reserving outlasts the
// budget reserves no more; its remaining jobs answer 503 with a retry hint
// and hold nothing.
func TestSlowLedgerStopsReservingBatch(t *testing.T) {
	b, srv, _ := submitBroker(t, Config{})
	ledgerRedis := testenv.StartRedis(t, testenv.RedisOptions{})
	lc := ledgerRedis.Client()
	lc.AddHook(reserveHook{before: func(string) { time.Sleep(30 * time.Millisecond) }})
	l := billed(t, b, lc)
	b.reserveBudget = 50 * time.Millisecond
	jobs := make([]wire.SubmitRequest, 6)
	for i := range jobs {
		jobs[i] = *job("u1")
	}
	var out wire.SubmitBatchResponse
	if status, e := postJSONTo(srv.URL+"/v1/jobs/batch", wire.SubmitBatchRequest{Jobs: jobs}, &out); status != 200 {
		t.Fatalf("batch: %d %v", status, e)
	}
	stored, refused := 0, 0
	for i, r := range out.Results {
		switch {
		case r.Error == nil:
			stored++
		case r.Status == http.StatusServiceUnavailable && r.Error.RetryAfterMs > 0 && strings.Contains(r.Error.Message, "billing is slow"):
			refused++
			if v := intentOf(t, b, &jobs[i]); v != "" {
				t.Errorf("refused job %d left intent %q", i, v)
			}
		default:
			t.Fatalf("job %d: %+v %v", i, r, r.Error)
		}
	}
	if stored < 1 || refused < 1 || stored+refused != len(jobs) {
		t.Fatalf("%d stored, %d refused: want both", stored, refused)
	}
	held, err := l.Reservations(context.Background(), "u1")
	if err != nil || len(held) != stored {
		t.Fatalf("%d reservations (%v) for %d stored jobs", len(held), err, stored)
	}
}
