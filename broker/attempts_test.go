package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/wire"
)

// TestAttemptsAndCoefficients: a first lease stores neither the attempt
// count nor a coefficient of 1000 (readers take them as 1 and 1000), yet
// the status and what the settler bills from come out right through a
// retry by a worker with another coefficient, and a job cancelled before
// any lease counts no attempt.
func TestAttemptsAndCoefficients(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestStore(t, StoreConfig{MaxAttempts: 3})
	shard := wire.ShardOf(model)
	attempts := func(id string) int {
		t.Helper()
		st, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return st.Attempts
	}
	// What the settler reads: the last and the previous coefficients.
	coefs := func(id string) (int64, int64) {
		t.Helper()
		v, err := s.rdb.HMGet(ctx, jobKey(shard, id), "coef", "pcoef").Result()
		if err != nil {
			t.Fatal(err)
		}
		return coefOf(v[0]), coefOf(v[1])
	}

	req := &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: "u1", MaxTokens: 16, MaxCoef: 1500, Payload: []byte(`{}`)}
	if _, err := s.Submit(ctx, req); err != nil {
		t.Fatal(err)
	}
	id := req.ID
	if n := attempts(id); n != 0 {
		t.Fatalf("queued job: %d attempts, want 0", n)
	}
	jobs, err := s.LeaseAt(ctx, model, "w1", 1, 1200)
	if err != nil || len(jobs) != 1 || jobs[0].Attempt != 1 {
		t.Fatalf("first lease: %+v, %v", jobs, err)
	}
	if n := attempts(id); n != 1 {
		t.Fatalf("leased job: %d attempts, want 1", n)
	}
	if c, _ := coefs(id); c != 1200 {
		t.Fatalf("coef %d after a lease at 1200", c)
	}
	clk.Add(s.cfg.Lease + time.Millisecond)
	s.Recover(ctx, shard) // the lease expires: a retry
	if n := attempts(id); n != 1 {
		t.Fatalf("retried job: %d attempts, want 1", n)
	}
	clk.Add(s.cfg.MaxBackoff)
	s.Recover(ctx, shard)
	j := leaseOne(t, s, "w2") // coefficient 1000
	if j.Attempt != 2 || attempts(id) != 2 {
		t.Fatalf("second lease: attempt %d, status %d, want 2", j.Attempt, attempts(id))
	}
	if c, p := coefs(id); c != 1000 || p != 1200 {
		t.Fatalf("coef %d, pcoef %d after leases at 1200 then 1000", c, p)
	}
	must(t, s.Complete(ctx, "w2", &wire.Report{Job: j.ID, Lease: j.Lease}))
	if n := attempts(id); n != 2 {
		t.Fatalf("done job: %d attempts, want 2", n)
	}

	// The other way round: a first lease at 1000 (nothing stored), then a
	// retry at 1200.
	req.ID, req.User = wire.NewJobID(model), "u2"
	if _, err := s.Submit(ctx, req); err != nil {
		t.Fatal(err)
	}
	leaseOne(t, s, "w2")
	if c, _ := coefs(req.ID); c != 1000 || attempts(req.ID) != 1 {
		t.Fatalf("coef %d, %d attempts; want 1000, 1", c, attempts(req.ID))
	}
	// The defaults were not written (a write costs Redis a field and AOF
	// bytes per job): the readers above got them from absent fields.
	if n, err := s.rdb.HExists(ctx, jobKey(shard, req.ID), "attempts").Result(); err != nil || n {
		t.Fatalf("first lease stored attempts (%v, %v)", n, err)
	}
	if n, err := s.rdb.HExists(ctx, jobKey(shard, req.ID), "coef").Result(); err != nil || n {
		t.Fatalf("first lease at 1000 stored coef (%v, %v)", n, err)
	}
	clk.Add(s.cfg.Lease + time.Millisecond)
	s.Recover(ctx, shard)
	clk.Add(s.cfg.MaxBackoff)
	s.Recover(ctx, shard)
	if jobs, err = s.LeaseAt(ctx, model, "w1", 1, 1200); err != nil || len(jobs) != 1 || jobs[0].Attempt != 2 {
		t.Fatalf("retry at 1200: %+v, %v", jobs, err)
	}
	if c, p := coefs(req.ID); c != 1200 || p != 1000 {
		t.Fatalf("coef %d, pcoef %d after leases at 1000 then 1200", c, p)
	}

	id3 := submitJob(t, s, "u3", 16)
	if _, err := s.Cancel(ctx, id3); err != nil {
		t.Fatal(err)
	}
	if n := attempts(id3); n != 0 {
		t.Fatalf("job cancelled while queued: %d attempts, want 0", n)
	}
}

// TestLeaseJobStoredBeforePackedFields: a job queued by a broker that
// stored max tokens, creation time and payload as separate fields (before
// the p field) leases with them, first attempt and retry alike; a job
// stored now leases its payload byte for byte.
func TestLeaseJobStoredBeforePackedFields(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestStore(t, StoreConfig{})
	shard := wire.ShardOf(model)
	id := wire.NewJobID(model)
	payload := "sealed bytes with spaces"
	must(t, s.rdb.HSet(ctx, jobKey(shard, id), "state", "queued", "model", model, "user", "u1",
		"max", 64, "payload", payload, "created", clk.Now().UnixMilli()).Err())
	must(t, s.rdb.RPush(ctx, userQueueKey(shard, model, "u1"), id).Err())
	must(t, s.rdb.RPush(ctx, rotationKey(shard, model), "u1").Err())
	must(t, s.rdb.Incr(ctx, depthKey(shard, model)).Err())

	j := leaseOne(t, s, "w1")
	if j.ID != id || j.User != "u1" || j.MaxTokens != 64 || string(j.Payload) != payload || j.Attempt != 1 {
		t.Fatalf("first lease: %+v", j)
	}
	clk.Add(s.cfg.Lease + time.Millisecond)
	s.Recover(ctx, shard)
	clk.Add(s.cfg.MaxBackoff)
	s.Recover(ctx, shard)
	j = leaseOne(t, s, "w2")
	if j.ID != id || j.MaxTokens != 64 || string(j.Payload) != payload || j.Attempt != 2 {
		t.Fatalf("retry: %+v", j)
	}

	// And a job stored now, its payload with spaces, \r\n and bytes >= 0x80.
	req := &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: "u2", MaxTokens: 7, Payload: []byte(" a  b\r\n\xff ")}
	if _, err := s.Submit(ctx, req); err != nil {
		t.Fatal(err)
	}
	j = leaseOne(t, s, "w1")
	if j.ID != req.ID || j.User != "u2" || j.MaxTokens != 7 || string(j.Payload) != string(req.Payload) {
		t.Fatalf("packed: %+v", j)
	}
}

// TestLeaseSaysDrained: a lease says the model's queue is empty only when
// no user has queued jobs, not when it stopped at max or at a user's cap.
func TestLeaseSaysDrained(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, StoreConfig{MaxUserJobs: 1})
	if jobs, drained, err := s.LeaseDrained(ctx, model, "w1", 4, 1000); err != nil || len(jobs) != 0 || !drained {
		t.Fatalf("empty queue: %d jobs, drained %v, %v", len(jobs), drained, err)
	}
	submitJob(t, s, "u1", 16)
	submitJob(t, s, "u1", 16)
	submitJob(t, s, "u2", 16)
	if jobs, drained, err := s.LeaseDrained(ctx, model, "w1", 1, 1000); err != nil || len(jobs) != 1 || drained {
		t.Fatalf("stopped at max: %d jobs, drained %v, %v", len(jobs), drained, err)
	}
	// u1 and u2 each run one now: u1's second job waits for its slot.
	if jobs, drained, err := s.LeaseDrained(ctx, model, "w1", 4, 1000); err != nil || len(jobs) != 1 || drained {
		t.Fatalf("capped user left: %d jobs, drained %v, %v", len(jobs), drained, err)
	}
	if jobs, drained, err := s.LeaseDrained(ctx, model, "w1", 4, 1000); err != nil || len(jobs) != 0 || drained {
		t.Fatalf("only a capped user's job: %d jobs, drained %v, %v", len(jobs), drained, err)
	}
}

// TestCompletionOfAJobWithAPast: a first attempt's lease token ends in 'f'
// and its completion reads no segment or earlier tokens; a job that
// streamed before its lease expired gets a token without it, and its
// completion counts the earlier segment's tokens and names its segment.
func TestCompletionOfAJobWithAPast(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestStore(t, StoreConfig{})
	shard := wire.ShardOf(model)
	id := submitJob(t, s, "u1", 16)
	j := leaseOne(t, s, "w1")
	if !strings.HasSuffix(j.Lease, "f") {
		t.Fatalf("first attempt's token %q", j.Lease)
	}
	must(t, chunk(s, "w1", j, 0, "ab"))
	must(t, s.Chunk(ctx, "w1", &wire.Report{Job: id, Lease: j.Lease, Seq: 1, Data: []byte("c"), Tokens: 2}))
	clk.Add(s.cfg.Lease + time.Millisecond)
	s.Recover(ctx, shard)
	clk.Add(s.cfg.MaxBackoff)
	s.Recover(ctx, shard)
	j2 := leaseOne(t, s, "w2")
	if strings.HasSuffix(j2.Lease, "f") || j2.Segment != 1 || j2.Tokens == 0 {
		t.Fatalf("continuation lease %+v", j2)
	}
	must(t, s.Complete(ctx, "w2", &wire.Report{Job: id, Lease: j2.Lease, PromptTokens: 7, CompletionTokens: 3}))
	evs, err := s.ReadEvents(ctx, id, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	done := evs[len(evs)-1]
	if done.Type != wire.EventDone || done.CompletionTokens != j2.Tokens+3 || done.Segment != 1 || done.Worker != "w2" || done.PromptTokens != 7 {
		t.Fatalf("done event %+v; want %d completion tokens, segment 1", done, j2.Tokens+3)
	}
	st, err := s.Get(ctx, id)
	if err != nil || st.CompletionTokens != j2.Tokens+3 {
		t.Fatalf("status %+v, %v", st, err)
	}
}

// TestRequeuedDeadJobContinues: a dead job that streamed before it died,
// requeued by an operator with fresh attempts, leases as attempt 1 of a new
// segment: its followers get a leased event, and its completion counts the
// tokens the earlier segment streamed (the user got them; billing needs them).
func TestRequeuedDeadJobContinues(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestStore(t, StoreConfig{MaxAttempts: 1})
	shard := wire.ShardOf(model)
	id := submitJob(t, s, "u1", 16)
	j := leaseOne(t, s, "w1")
	must(t, s.Chunk(ctx, "w1", &wire.Report{Job: id, Lease: j.Lease, Seq: 0, Data: []byte("ab"), Tokens: 2}))
	clk.Add(s.cfg.Lease + time.Millisecond)
	s.Recover(ctx, shard)
	if got := state(t, s, id); got != wire.StateDead {
		t.Fatalf("after its only attempt expired: %s", got)
	}
	must(t, s.RequeueDead(ctx, id))
	j2 := leaseOne(t, s, "w2")
	if j2.Attempt != 1 || j2.Segment != 1 || j2.Tokens != 2 || len(j2.Prefix) != 1 || strings.HasSuffix(j2.Lease, "f") {
		t.Fatalf("lease after requeue: %+v", j2)
	}
	must(t, s.Complete(ctx, "w2", &wire.Report{Job: id, Lease: j2.Lease, PromptTokens: 4, CompletionTokens: 3}))
	evs, err := s.ReadEvents(ctx, id, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var leased bool
	for _, e := range evs {
		leased = leased || (e.Type == wire.EventLeased && e.Segment == 1 && e.Worker == "w2")
	}
	done := evs[len(evs)-1]
	if !leased || done.Type != wire.EventDone || done.CompletionTokens != 5 || done.Segment != 1 {
		t.Fatalf("events %+v; want a leased event for segment 1 and done with 5 completion tokens", evs)
	}
}

// TestUsualCasePaths: the scripts' paths for the usual job still keep what
// the general ones do: a reservation is stored and sends the ended job to
// the settler; a worker charging above 1.0x does not get a job with no max
// coefficient (1000), and the queue is not taken for empty.
func TestUsualCasePaths(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, StoreConfig{})
	shard := wire.ShardOf(model)
	req := &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: "u1", MaxTokens: 16, Payload: []byte(`{}`)}
	if o := s.SubmitMany(ctx, []*wire.SubmitRequest{req}, []int64{5}); o[0].Err != nil {
		t.Fatal(o[0].Err)
	}
	if rsv, err := s.rdb.HGet(ctx, jobKey(shard, req.ID), "rsv").Result(); err != nil || rsv != "5" {
		t.Fatalf("rsv %q, %v", rsv, err)
	}
	if jobs, drained, err := s.LeaseDrained(ctx, model, "w9", 1, 1200); err != nil || len(jobs) != 0 || drained {
		t.Fatalf("a worker at 1.2x: %d jobs, drained %v, %v", len(jobs), drained, err)
	}
	j := leaseOne(t, s, "w1")
	must(t, s.Complete(ctx, "w1", &wire.Report{Job: j.ID, Lease: j.Lease, CompletionTokens: 1}))
	if ids, err := s.rdb.LRange(ctx, settleKey(shard), 0, -1).Result(); err != nil || len(ids) != 1 || ids[0] != req.ID {
		t.Fatalf("settle list %v, %v", ids, err)
	}
}
