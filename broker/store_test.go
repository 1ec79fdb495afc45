package broker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/wire"
)

// fakeClock is a simulated clock for lease expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const model = "tiny:latest"

func newTestStore(t *testing.T, cfg StoreConfig) (*Store, *fakeClock) {
	t.Helper()
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	cfg.Clock = clk
	return NewStore(r.Client(), cfg), clk
}

func submitJob(t *testing.T, s *Store, user string, maxTokens int) string {
	t.Helper()
	req := &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: user, MaxTokens: maxTokens, Payload: []byte(`{}`)}
	if _, err := s.Submit(context.Background(), req); err != nil {
		t.Fatalf("submit: %v", err)
	}
	return req.ID
}

func leaseOne(t *testing.T, s *Store, worker string) wire.LeasedJob {
	t.Helper()
	jobs, err := s.Lease(context.Background(), model, worker, 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("lease: %v, %d jobs", err, len(jobs))
	}
	return jobs[0]
}

func state(t *testing.T, s *Store, id string) string {
	t.Helper()
	st, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return st.State
}

func chunk(s *Store, worker string, j wire.LeasedJob, seq uint64, text string) error {
	return s.Chunk(context.Background(), worker, &wire.Report{Job: j.ID, Lease: j.Lease, Seq: seq, Data: []byte(text), Tokens: 1})
}

// TestTransitions walks each legal transition and checks the state after it.
func TestTransitions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		steps     func(t *testing.T, s *Store, clk *fakeClock, id string)
		wantState string
	}{
		{"submit → queued", func(t *testing.T, s *Store, clk *fakeClock, id string) {}, wire.StateQueued},
		{"lease → leased", func(t *testing.T, s *Store, clk *fakeClock, id string) { leaseOne(t, s, "w1") }, wire.StateLeased},
		{"chunk → streaming", func(t *testing.T, s *Store, clk *fakeClock, id string) {
			j := leaseOne(t, s, "w1")
			must(t, chunk(s, "w1", j, 0, "a"))
		}, wire.StateStreaming},
		{"complete → done", func(t *testing.T, s *Store, clk *fakeClock, id string) {
			j := leaseOne(t, s, "w1")
			must(t, chunk(s, "w1", j, 0, "a"))
			must(t, s.Complete(ctx, "w1", &wire.Report{Job: j.ID, Lease: j.Lease, PromptTokens: 3, CompletionTokens: 1}))
		}, wire.StateDone},
		{"fail retryable → queued", func(t *testing.T, s *Store, clk *fakeClock, id string) {
			j := leaseOne(t, s, "w1")
			out, err := s.Fail(ctx, "w1", j.ID, j.Lease, "oops", true)
			must(t, err)
			if out != "retry" {
				t.Errorf("outcome %q", out)
			}
		}, wire.StateQueued},
		{"fail permanent → failed", func(t *testing.T, s *Store, clk *fakeClock, id string) {
			j := leaseOne(t, s, "w1")
			_, err := s.Fail(ctx, "w1", j.ID, j.Lease, "bad payload", false)
			must(t, err)
		}, wire.StateFailed},
		{"cancel queued → cancelled", func(t *testing.T, s *Store, clk *fakeClock, id string) {
			_, err := s.Cancel(ctx, id)
			must(t, err)
			if jobs, _ := s.Lease(ctx, model, "w1", 1); len(jobs) != 0 {
				t.Errorf("a cancelled job was leased")
			}
		}, wire.StateCancelled},
		{"cancel streaming → cancelled, worker told", func(t *testing.T, s *Store, clk *fakeClock, id string) {
			j := leaseOne(t, s, "w1")
			must(t, chunk(s, "w1", j, 0, "a"))
			_, err := s.Cancel(ctx, id)
			must(t, err)
			if err := chunk(s, "w1", j, 1, "b"); !errors.Is(err, ErrCancelled) {
				t.Errorf("chunk after cancel: %v, want ErrCancelled", err)
			}
			if err := s.Complete(ctx, "w1", &wire.Report{Job: j.ID, Lease: j.Lease, CompletionTokens: 1}); !errors.Is(err, ErrCancelled) {
				t.Errorf("complete after cancel: %v", err)
			}
			if st, _ := s.Get(ctx, id); st.CompletionTokens != 1 {
				t.Errorf("cancelled job should record streamed tokens: %+v", st)
			}
		}, wire.StateCancelled},
		{"lease expiry → queued, then leased again with prefix", func(t *testing.T, s *Store, clk *fakeClock, id string) {
			j := leaseOne(t, s, "w1")
			must(t, chunk(s, "w1", j, 0, "a"))
			must(t, chunk(s, "w1", j, 1, "b"))
			clk.Add(s.cfg.Lease + time.Millisecond)
			exp, _, err := s.Recover(ctx, wire.ShardOf(model))
			must(t, err)
			if exp != 1 {
				t.Fatalf("expired %d", exp)
			}
			if jobs, _ := s.Lease(ctx, model, "w2", 1); len(jobs) != 0 {
				t.Fatalf("leased before backoff passed")
			}
			clk.Add(s.cfg.MaxBackoff)
			_, req, _ := s.Recover(ctx, wire.ShardOf(model))
			if req != 1 {
				t.Fatalf("requeued %d", req)
			}
			j2 := leaseOne(t, s, "w2")
			if j2.NextSeq != 2 || len(j2.Prefix) != 2 || string(j2.Prefix[0].Data)+string(j2.Prefix[1].Data) != "ab" || j2.Segment != 1 || j2.Tokens != 2 {
				t.Errorf("continuation lease: %+v", j2)
			}
			if err := chunk(s, "w1", j, 2, "x"); !errors.Is(err, ErrConflict) {
				t.Errorf("old holder's chunk: %v, want conflict", err)
			}
		}, wire.StateLeased},
		{"attempts exhausted → dead, requeue → queued", func(t *testing.T, s *Store, clk *fakeClock, id string) {
			for i := 0; i < s.cfg.MaxAttempts; i++ {
				j := leaseOne(t, s, "w1")
				clk.Add(s.cfg.Lease + time.Millisecond)
				s.Recover(ctx, wire.ShardOf(model))
				clk.Add(s.cfg.MaxBackoff)
				s.Recover(ctx, wire.ShardOf(model))
				_ = j
			}
			if got := state(t, s, id); got != wire.StateDead {
				t.Fatalf("after %d expiries: %s", s.cfg.MaxAttempts, got)
			}
			dead, _ := s.Dead(ctx, wire.ShardOf(model))
			if len(dead) != 1 || dead[0] != id {
				t.Fatalf("dead list %v", dead)
			}
			must(t, s.RequeueDead(ctx, id))
		}, wire.StateQueued},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newTestStore(t, StoreConfig{MaxAttempts: 3})
			id := submitJob(t, s, "u1", 16)
			tt.steps(t, s, clk, id)
			if got := state(t, s, id); got != tt.wantState {
				t.Errorf("state %s, want %s", got, tt.wantState)
			}
		})
	}
}

// TestIllegalTransitions: each is refused with its own error and leaves
// the job as it was.
func TestIllegalTransitions(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, StoreConfig{})
	id := submitJob(t, s, "u1", 16)
	j := leaseOne(t, s, "w1")
	must(t, chunk(s, "w1", j, 0, "a"))

	cases := []struct {
		name string
		do   func() error
		want error
	}{
		{"chunk by another worker", func() error { return chunk(s, "w2", j, 1, "x") }, ErrConflict},
		{"chunk with stale lease", func() error {
			return s.Chunk(ctx, "w1", &wire.Report{Job: j.ID, Lease: "old", Seq: 1, Data: []byte("x")})
		}, ErrConflict},
		{"chunk with a sequence gap", func() error { return chunk(s, "w1", j, 5, "x") }, ErrConflict},
		{"chunk for an unknown job", func() error {
			return s.Chunk(ctx, "w1", &wire.Report{Job: wire.NewJobID(model), Lease: j.Lease, Seq: 0})
		}, ErrNotFound},
		{"chunk for a malformed job id", func() error {
			return s.Chunk(ctx, "w1", &wire.Report{Job: "../etc", Lease: j.Lease})
		}, ErrNotFound},
		{"extend by another worker", func() error { return s.Extend(ctx, "w2", j.ID, j.Lease) }, ErrConflict},
		{"complete by another worker", func() error {
			return s.Complete(ctx, "w2", &wire.Report{Job: j.ID, Lease: j.Lease})
		}, ErrConflict},
		{"fail with stale lease", func() error { _, err := s.Fail(ctx, "w1", j.ID, "old", "x", true); return err }, ErrConflict},
		{"requeue a job that is not dead", func() error { return s.RequeueDead(ctx, j.ID) }, ErrConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			st, _ := s.Get(ctx, id)
			if st.State != wire.StateStreaming || st.NextSeq != 1 || st.Worker != "w1" {
				t.Errorf("job changed: %+v", st)
			}
		})
	}
	// A repeated chunk is acknowledged and stored once.
	must(t, chunk(s, "w1", j, 0, "a"))
	evs, _ := s.ReadEvents(ctx, id, "", 0)
	n := 0
	for _, e := range evs {
		if e.Type == wire.EventChunk {
			n++
		}
	}
	if n != 1 {
		t.Errorf("chunk stored %d times", n)
	}
	// Completing twice is idempotent: one done event.
	must(t, s.Complete(ctx, "w1", &wire.Report{Job: j.ID, Lease: j.Lease, CompletionTokens: 1}))
	must(t, s.Complete(ctx, "w1", &wire.Report{Job: j.ID, Lease: j.Lease, CompletionTokens: 1}))
	evs, _ = s.ReadEvents(ctx, id, "", 0)
	done := 0
	for _, e := range evs {
		if e.Type == wire.EventDone {
			done++
		}
	}
	if done != 1 {
		t.Errorf("done events: %d", done)
	}
	// Cancelling a finished job changes nothing.
	if before, err := s.Cancel(ctx, id); err != nil || before != wire.StateDone || state(t, s, id) != wire.StateDone {
		t.Errorf("cancel after done: %s %v", before, err)
	}
}

func TestFairnessRoundRobinAcrossUsers(t *testing.T) {
	s, _ := newTestStore(t, StoreConfig{})
	for i := 0; i < 20; i++ {
		submitJob(t, s, "heavy", 1)
	}
	light := submitJob(t, s, "light", 1)
	jobs, err := s.Lease(context.Background(), model, "w1", 2)
	must(t, err)
	if len(jobs) != 2 || (jobs[0].ID != light && jobs[1].ID != light) {
		t.Errorf("light user's job not among the first two leased: %+v", jobs)
	}
}

func TestQueueLimitAnswersBusy(t *testing.T) {
	s, _ := newTestStore(t, StoreConfig{MaxQueue: 2})
	submitJob(t, s, "u", 1)
	submitJob(t, s, "u", 1)
	_, err := s.Submit(context.Background(), &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: "u", MaxTokens: 1, Payload: []byte("x")})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("got %v, want ErrBusy", err)
	}
}

func TestEligibleWorkersOnly(t *testing.T) {
	s, _ := newTestStore(t, StoreConfig{})
	req := &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: "u", MaxTokens: 1, Payload: []byte("x"), Eligible: []string{"w2"}}
	if _, err := s.Submit(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if jobs, _ := s.Lease(context.Background(), model, "w1", 1); len(jobs) != 0 {
		t.Fatalf("ineligible worker got the job")
	}
	if j := leaseOne(t, s, "w2"); j.ID != req.ID {
		t.Fatalf("eligible worker got %s", j.ID)
	}
}

func TestSubmitIsIdempotent(t *testing.T) {
	s, _ := newTestStore(t, StoreConfig{})
	req := &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: "u", MaxTokens: 1, Payload: []byte("x")}
	for i := 0; i < 3; i++ {
		if _, err := s.Submit(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.Depth(context.Background(), model); n != 1 {
		t.Fatalf("depth %d after 3 identical submits", n)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestIneligibleJobDoesNotBlockUsersLaterJobs: a job sealed to another
// worker stays queued, and the same user's next job goes to this worker.
func TestIneligibleJobDoesNotBlockUsersLaterJobs(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, StoreConfig{})
	sealedElsewhere := &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: "u", MaxTokens: 1, Payload: []byte("x"), Eligible: []string{"w2"}}
	if _, err := s.Submit(ctx, sealedElsewhere); err != nil {
		t.Fatal(err)
	}
	next := submitJob(t, s, "u", 1)
	if j := leaseOne(t, s, "w1"); j.ID != next {
		t.Fatalf("w1 got %s, want the user's later job %s", j.ID, next)
	}
	if j := leaseOne(t, s, "w2"); j.ID != sealedElsewhere.ID {
		t.Fatalf("w2 got %s", j.ID)
	}
}

// TestPurgeFinishedAfterRetention: a done job and its events stay for the
// retention and are deleted after it, not before; later jobs stay.
func TestPurgeFinishedAfterRetention(t *testing.T) {
	s, clock := newTestStore(t, StoreConfig{Retention: time.Hour})
	ctx := context.Background()
	done := func() string {
		submitJob(t, s, "u", 1)
		j := leaseOne(t, s, "w1")
		must(t, s.Complete(ctx, "w1", &wire.Report{Job: j.ID, Lease: j.Lease, CompletionTokens: 1}))
		return j.ID
	}
	old := done()
	clock.Add(30 * time.Minute)
	recent := done()
	if n, err := s.PurgeFinished(ctx, wire.ShardOf(model), 100); err != nil || n != 0 {
		t.Fatalf("purged %d (%v) within the retention", n, err)
	}
	clock.Add(31 * time.Minute)
	if n, err := s.PurgeFinished(ctx, wire.ShardOf(model), 100); err != nil || n != 1 {
		t.Fatalf("purged %d (%v), want the older job", n, err)
	}
	if _, err := s.Get(ctx, old); !errors.Is(err, ErrNotFound) {
		t.Errorf("purged job still readable: %v", err)
	}
	if n, _ := s.rdb.Exists(ctx, eventsKey(wire.ShardOf(model), old)).Result(); n != 0 {
		t.Error("purged job's event stream remains")
	}
	if st, err := s.Get(ctx, recent); err != nil || st.State != wire.StateDone {
		t.Errorf("recent job: %+v %v", st, err)
	}

	// A pass deletes at most limit jobs; the next goes on.
	batch := []string{done(), done(), done()}
	clock.Add(2 * time.Hour)
	for _, want := range []int{2, 2, 0} {
		if n, err := s.PurgeFinished(ctx, wire.ShardOf(model), 2); err != nil || n != want {
			t.Fatalf("purged %d (%v), want %d", n, err, want)
		}
	}
	for _, id := range append(batch, recent) {
		if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("job %s not purged: %v", id, err)
		}
	}

	// Done jobs that brokers before the done list put in the finished
	// sorted set are purged too, after the list's, within the limit.
	shard := wire.ShardOf(model)
	legacy := []string{done(), done(), done()}
	must(t, s.rdb.Del(ctx, shardPrefix(shard)+"done").Err())
	for _, id := range legacy {
		must(t, s.rdb.ZAdd(ctx, shardPrefix(shard)+"finished", redis.Z{Score: float64(s.now()), Member: id}).Err())
	}
	newer := done()
	clock.Add(2 * time.Hour)
	for _, want := range []int{2, 2, 0} { // the list's one and a legacy one, then the other two
		if n, err := s.PurgeFinished(ctx, shard, 2); err != nil || n != want {
			t.Fatalf("purged %d (%v), want %d", n, err, want)
		}
	}
	for _, id := range append(legacy, newer) {
		if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("job %s not purged: %v", id, err)
		}
	}
	if n, _ := s.rdb.Exists(ctx, shardPrefix(shard)+"done", shardPrefix(shard)+"finished").Result(); n != 0 {
		t.Errorf("%d of the done list and finished set left", n)
	}
}

// A batch of reports: each report gets its own outcome, in order, when the
// completions of a shard share one script call (which lists only the
// completions that did not go through).
func TestApplyReportsOutcomes(t *testing.T) {
	s, _ := newTestStore(t, StoreConfig{})
	ctx := context.Background()
	for _, u := range []string{"a", "b", "c", "d"} {
		submitJob(t, s, u, 1)
	}
	jobs, err := s.Lease(ctx, model, "w1", 4)
	if err != nil || len(jobs) != 4 {
		t.Fatalf("lease: %v, %d jobs", err, len(jobs))
	}
	base := jobs[0].Lease[:strings.LastIndex(jobs[0].Lease, ".")]
	for i, j := range jobs {
		// base.f: a job without a past (first attempt, nothing streamed), no user cap.
		if want := base + ".f"; j.Lease != want || j.Attempt != 1 || j.LeaseUntil != s.now()+15000 {
			t.Fatalf("job %d: lease %q until %d attempt %d; want lease %q until %d, attempt 1", i, j.Lease, j.LeaseUntil, j.Attempt, want, s.now()+15000)
		}
	}
	complete := func(j wire.LeasedJob, lease string) *wire.Report {
		return &wire.Report{Kind: wire.ReportComplete, Job: j.ID, Lease: lease, CompletionTokens: 1}
	}
	must(t, s.Complete(ctx, "w1", complete(jobs[3], jobs[3].Lease)))
	out := s.ApplyReports(ctx, "w1", []*wire.Report{
		complete(jobs[0], jobs[0].Lease),
		complete(jobs[1], "stale"),
		complete(jobs[2], jobs[2].Lease),
		complete(jobs[3], jobs[3].Lease), // done before: a duplicate
		{Kind: wire.ReportComplete, Job: wire.NewJobID(model), Lease: "x"},
		complete(jobs[0], jobs[0].Lease), // a duplicate within the batch
	})
	want := []error{nil, ErrConflict, nil, nil, ErrNotFound, nil}
	for i, o := range out {
		if !errors.Is(o.Err, want[i]) || (want[i] == nil && o.Err != nil) {
			t.Errorf("report %d: %v, want %v", i, o.Err, want[i])
		}
	}
	for i, wantState := range []string{"done", "leased", "done", "done"} {
		if got := state(t, s, jobs[i].ID); got != wantState {
			t.Errorf("job %d is %s, want %s", i, got, wantState)
		}
	}
}
