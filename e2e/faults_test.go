package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/teststack"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
	"github.com/cocoon-network/cocoon/worker"
)

// prepare seals a job for the stack's workers without submitting it.
func prepare(t *testing.T, s *teststack.Stack, user string, maxTokens int, msgs []wire.Message) *wire.SubmitRequest {
	t.Helper()
	sr, err := s.Submitter.Prepare(context.Background(), &submit.Request{Model: s.Ollama.Model, User: user,
		MaxTokens: maxTokens, Messages: msgs, Options: detOpts})
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// TestKillWorkerMidStreamFailsOver: kill -9 a worker process while it
// streams; another worker continues from the streamed prefix and the
// follower sees one answer with no repeated or missing chunk.
func TestKillWorkerMidStreamFailsOver(t *testing.T) {
	runKillFailover(t, teststack.Start(t, teststack.Options{Prices: testPrices, Trial: 1_000_000_000}))
}

// runKillFailover is the failover check on any stack (single Redis or
// cluster): two worker processes, the holder is killed after two chunks.
func runKillFailover(t *testing.T, s *teststack.Stack) {
	procs := map[string]*exec.Cmd{"proc1": workerProc(t, s, "proc1", 1), "proc2": workerProc(t, s, "proc2", 2)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const maxTokens = 1800
	msgs := []wire.Message{{Role: "user", Content: "tell me a long story"}}
	sr := prepare(t, s, "cli:t", maxTokens, msgs) // sealed to both workers
	id := sr.ID
	if _, err := s.Client.Submit(ctx, sr); err != nil {
		t.Fatal(err)
	}
	names := workerNames(t, s)
	var (
		events []wire.Event
		holder string
		killed bool
	)
	err := s.Client.Follow(ctx, id, func(e wire.Event) error {
		events = append(events, e)
		if e.Type == wire.EventChunk && holder == "" { // a first attempt has no leased event
			st, err := s.Client.Status(ctx, id)
			if err != nil {
				return err
			}
			holder = names[st.Worker]
		}
		if e.Type == wire.EventChunk && !killed && e.Seq >= 2 {
			killed = true
			_ = syscall.Kill(-procs[holder].Process.Pid, syscall.SIGKILL)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var prefix, cont strings.Builder
	var seqs []uint64
	leases := 0
	for _, e := range events {
		switch e.Type {
		case wire.EventLeased:
			leases++
		case wire.EventChunk:
			seqs = append(seqs, e.Seq)
			text, err := s.Submitter.OpenChunk(id, e)
			if err != nil {
				t.Fatalf("chunk %d: %v", e.Seq, err)
			}
			if leases == 0 {
				prefix.Write(text)
			} else {
				cont.Write(text)
			}
		}
	}
	last := events[len(events)-1]
	if last.Type != wire.EventDone {
		t.Fatalf("job ended %s: %s", last.Type, last.Error)
	}
	if leases < 1 {
		t.Fatalf("the worker finished before it was killed (%d chunks); the test did not exercise failover", len(seqs))
	}
	for i, sq := range seqs {
		if sq != uint64(i) {
			t.Fatalf("chunk %d has seq %d: repeated or missing chunk", i, sq)
		}
	}
	// The continuation is what Ollama says when handed the prefix as the
	// last assistant turn with the remaining token budget.
	// A chunk may hold several tokens (the worker coalesces a fast stream).
	prefixTokens := 0
	for _, e := range events {
		if e.Type == wire.EventLeased && e.Attempt > 1 {
			break
		}
		if e.Type == wire.EventChunk {
			prefixTokens += e.Tokens
		}
	}
	want, _ := s.Ollama.Direct(t, append(msgs, wire.Message{Role: "assistant", Content: prefix.String()}), maxTokens-prefixTokens)
	if cont.String() != want {
		t.Errorf("continuation differs from Ollama continuing the prefix:\n got %.80q\nwant %.80q", cont.String(), want)
	}
	if last.CompletionTokens != maxTokens {
		t.Errorf("total completion tokens %d, want %d", last.CompletionTokens, maxTokens)
	}
	// Receipts: the killed worker's segment has none (unverified); the
	// finishing worker signed segment 1.
	replay, err := s.Submitter.Follow(ctx, id, s.Ollama.Model, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(replay.Receipts) != 2 || replay.Receipts[0].Problem == "" || replay.Receipts[0].Receipt.WorkerID != "" ||
		replay.Receipts[1].Receipt.Segment != 1 || names[replay.Receipts[1].Receipt.WorkerID] == holder || replay.Attested {
		t.Errorf("failover receipts: %+v", replay.Receipts)
	}
	if s.Ledger != nil {
		checkFailoverBilling(t, s, id, names, holder)
	}
}

// TestCancelRunningJobStopsOllama: /stop on a running job ends the
// worker's Ollama request early.
func TestCancelRunningJobStopsOllama(t *testing.T) {
	runCancel(t, teststack.Start(t, teststack.Options{Prices: testPrices, Trial: 1_000_000_000}))
}

// runCancel cancels a running job on any stack.
func runCancel(t *testing.T, s *teststack.Stack) {
	s.AddWorker(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const maxTokens = 1800
	var id string
	s.Submitter.OnSubmit = func(j string, _ int) { id = j }
	cancelled := false
	res, err := s.Submitter.Run(ctx, &submit.Request{Model: s.Ollama.Model, User: "cli:t", MaxTokens: maxTokens, Options: detOpts,
		Messages: []wire.Message{{Role: "user", Content: "go on forever"}}}, func(string) {
		if !cancelled {
			cancelled = true
			if err := s.Client.Cancel(ctx, id); err != nil {
				t.Errorf("cancel: %v", err)
			}
		}
	})
	if err != nil || res.State != wire.StateCancelled {
		t.Fatalf("state %v, err %v", res, err)
	}
	// The worker reports the tokens it generated once Ollama stopped.
	var st *wire.JobStatus
	for i := 0; i < 200; i++ {
		st, err = s.Client.Status(ctx, id)
		if err == nil && st.CompletionTokens > 0 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if st == nil || st.CompletionTokens == 0 || st.CompletionTokens >= maxTokens {
		t.Fatalf("eval count after cancel: %+v; want 0 < n < %d", st, maxTokens)
	}
	if s.Ledger != nil { // a cancel charges the streamed tokens
		cost := s.Client.Cost(ctx, id, 5*time.Second)
		var streamed int64 // a chunk may hold several tokens
		if err := s.Client.Follow(ctx, id, func(e wire.Event) error {
			if e.Type == wire.EventChunk {
				streamed += int64(e.Tokens)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		prices, _ := ledger.ParsePrices(testPrices)
		want, _ := prices[s.Ollama.Model].Cost(0, streamed, ledger.CoefOne)
		if cost == nil || *cost != want {
			t.Errorf("cancel cost %v, want %d for %d streamed tokens", derefCost(cost), want, streamed)
		}
		checkLedger(t, s.Ledger)
	}
}

// TestRedisPowerCut: with AOF everysec, kill -9 Redis, cut the AOF tail as a
// lost fsync window would, restart: every job acknowledged before the window
// completes exactly once; jobs in the window either survived or are
// resubmitted (same id) by their submitter and complete exactly once.
func TestRedisPowerCut(t *testing.T) {
	s := teststack.Start(t, teststack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s.AddWorker(nil) // registered so submits are accepted
	w := s.AddWorker(nil)
	_ = w
	msgs := []wire.Message{{Role: "user", Content: "hi"}}
	mk := func() *wire.SubmitRequest { return prepare(t, s, "cli:p", 8, msgs) }
	var before, window []*wire.SubmitRequest
	for i := 0; i < 20; i++ {
		r := mk()
		if _, err := s.Client.Submit(ctx, r); err != nil {
			t.Fatal(err)
		}
		before = append(before, r)
	}
	time.Sleep(2500 * time.Millisecond) // past the fsync window
	for i := 0; i < 10; i++ {
		r := mk()
		if _, err := s.Client.Submit(ctx, r); err != nil {
			t.Fatal(err)
		}
		window = append(window, r)
	}
	s.RedisProc.Kill()
	if err := s.RedisProc.TruncateAOFTail(300); err != nil {
		t.Fatal(err)
	}
	s.RedisProc.Restart()
	// Submitters of the window resubmit (their acknowledgement may stand for
	// a lost write); the id makes it idempotent.
	for _, r := range window {
		for {
			_, err := s.Client.Submit(ctx, r)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, r := range append(before, window...) {
		done, chunks := 0, map[uint64]int{}
		err := s.Client.Follow(ctx, r.ID, func(e wire.Event) error {
			if e.Type == wire.EventDone {
				done++
			}
			if e.Type == wire.EventChunk {
				chunks[e.Seq]++
			}
			return nil
		})
		if err != nil {
			t.Fatalf("job %s: %v", r.ID, err)
		}
		st, _ := s.Client.Status(ctx, r.ID)
		if done != 1 || st.State != wire.StateDone {
			t.Errorf("job %s: %d done events, state %s", r.ID, done, st.State)
		}
		for sq, n := range chunks {
			if n != 1 {
				t.Errorf("job %s: chunk %d stored %d times", r.ID, sq, n)
			}
		}
	}
}

// TestBrokerRestartUnderLoad: jobs submitted before and during a broker
// restart all complete with the full answer.
func TestBrokerRestartUnderLoad(t *testing.T) {
	runBrokerRestart(t, teststack.Start(t, teststack.Options{}))
}

// runBrokerRestart restarts the broker under load on any stack.
func runBrokerRestart(t *testing.T, s *teststack.Stack) {
	// One job at a time: Ollama batching concurrent requests changes float
	// sums, and with them greedy tokens, so answers are compared serially.
	s.AddWorker(func(c *worker.Config) { c.MaxJobs = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	msgs := []wire.Message{{Role: "user", Content: "restart"}}
	want, _ := s.Ollama.Direct(t, msgs, 64)

	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 20 * time.Millisecond)
			var res *submit.Result
			var err error
			for attempt := 0; attempt < 50; attempt++ {
				res, err = s.Submitter.Run(ctx, &submit.Request{Model: s.Ollama.Model, User: fmt.Sprintf("cli:%d", i%4),
					MaxTokens: 64, Messages: msgs, Options: detOpts}, nil)
				var we *wire.Error
				unavailable := errors.Is(err, client.ErrUnavailable) || errors.As(err, &we) && we.Code == wire.CodeUnavailable
				if err == nil || !unavailable {
					break
				}
				time.Sleep(100 * time.Millisecond) // broker draining: submit again
			}
			if err != nil {
				errs <- fmt.Errorf("job %d: %w", i, err)
				return
			}
			if res.Text != want {
				var reasons []string
				s.Client.Follow(ctx, res.JobID, func(e wire.Event) error {
					if e.Type == wire.EventRetry {
						reasons = append(reasons, e.Error)
					}
					return nil
				})
				errs <- fmt.Errorf("job %d: text differs after %d workers (retries: %q): %.40q", i, len(res.Workers), reasons, res.Text)
			}
		}(i)
	}
	time.Sleep(200 * time.Millisecond)
	s.StopBroker()
	s.StartBroker()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestWorkerDrainFinishesHeldJobs: a worker told to stop finishes the job
// it holds (one lease, done), takes nothing new, and leaves the pool.
func TestWorkerDrainFinishesHeldJobs(t *testing.T) {
	s := teststack.Start(t, teststack.Options{})
	w := s.AddWorker(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stopped := make(chan error, 1)
	leases := 0
	res, err := s.Submitter.Run(ctx, &submit.Request{Model: s.Ollama.Model, User: "cli:d", MaxTokens: 600, Options: detOpts,
		Messages: []wire.Message{{Role: "user", Content: "drain"}}}, func(string) {
		if leases == 0 {
			leases++
			go func() { stopped <- w.Stop() }()
		}
	})
	if err != nil || res.State != wire.StateDone || len(res.Workers) != 1 || res.CompletionTokens != 600 {
		t.Fatalf("held job during drain: %v %+v", err, res)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	_, err = s.Submitter.Run(ctx, &submit.Request{Model: s.Ollama.Model, User: "cli:d", MaxTokens: 8,
		Messages: []wire.Message{{Role: "user", Content: "after"}}}, nil)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeNoCapacity {
		t.Fatalf("after the only worker left: %v, want no_capacity", err)
	}
}
