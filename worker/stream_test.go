package worker

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/seal"
	"github.com/cocoon-network/cocoon/wire"
)

// openAll seals a reporter's pending entries as a batch would and returns
// the chunk reports, checking each opens under key.
func openAll(t *testing.T, r *reporter, key [32]byte) ([]wire.Report, string) {
	t.Helper()
	r.mu.Lock()
	batch := r.takeLocked()
	r.mu.Unlock()
	var reps []wire.Report
	var text strings.Builder
	for _, p := range sealStreams(batch) {
		plain, err := seal.OpenChunk(key, p.rep.Job, p.rep.Seq, p.rep.Data)
		if err != nil {
			t.Fatalf("chunk %d does not open: %v", p.rep.Seq, err)
		}
		text.Write(plain)
		reps = append(reps, p.rep)
	}
	r.release(nil)
	return reps, text.String()
}

// TestChunkStreamCoalesces: tokens arriving while the stream's chunk waits
// for the reporter join it; sequence numbers stay contiguous; token counts
// add up; the text is the tokens in order.
func TestChunkStreamCoalesces(t *testing.T) {
	r := newReporter(nil, func(string, string) {})
	key := [32]byte{1}
	j := &wire.LeasedJob{ID: wire.NewJobID("m"), Lease: "l", NextSeq: 5, MaxTokens: 100}
	s := newChunkStream(r, j, key)
	s.wait = time.Hour // no timer fires during the test
	s.add("Hello")
	for _, tok := range []string{",", " wor", "ld"} {
		s.add(tok) // the first chunk is still queued: these join it
	}
	reps, text := openAll(t, r, key)
	if len(reps) != 1 || reps[0].Seq != 5 || reps[0].Tokens != 4 || text != "Hello, world" {
		t.Fatalf("first batch: %d chunks %+v text %q; want one chunk, seq 5, 4 tokens", len(reps), reps, text)
	}
	// Within the linger the next token waits; flush sends it.
	s.add("!")
	if n := len(r.pending); n != 0 {
		t.Fatalf("a token within the linger of the last chunk was queued at once (%d pending)", n)
	}
	s.flush()
	reps, text = openAll(t, r, key)
	if len(reps) != 1 || reps[0].Seq != 6 || reps[0].Tokens != 1 || text != "!" {
		t.Fatalf("second batch: %+v %q", reps, text)
	}
	// After the linger a token goes on its own, without a flush.
	s.wait = time.Millisecond
	time.Sleep(2 * time.Millisecond)
	s.add("?")
	reps, _ = openAll(t, r, key)
	if len(reps) != 1 || reps[0].Seq != 7 {
		t.Fatalf("third batch: %+v", reps)
	}
	if s.tokens() != 6 {
		t.Errorf("tokens %d, want 6", s.tokens())
	}
}

// TestChunkStreamLingerTimer: a held-back token goes out by itself when
// the linger passes, with no further token and no flush.
func TestChunkStreamLingerTimer(t *testing.T) {
	r := newReporter(nil, func(string, string) {})
	s := newChunkStream(r, &wire.LeasedJob{ID: wire.NewJobID("m"), Lease: "l", MaxTokens: 100}, [32]byte{})
	s.add("a")
	openAll(t, r, [32]byte{})
	s.add("b")
	deadline := time.Now().Add(time.Second)
	for {
		r.mu.Lock()
		n := len(r.pending)
		r.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("held-back token never queued")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestChunkStreamLastTokenOfBudget: the token that uses up the segment's
// budget (what is left of the job's after earlier segments) is queued at
// once, inside the linger: nothing can follow it.
func TestChunkStreamLastTokenOfBudget(t *testing.T) {
	r := newReporter(nil, func(string, string) {})
	key := [32]byte{3}
	s := newChunkStream(r, &wire.LeasedJob{ID: wire.NewJobID("m"), Lease: "l", MaxTokens: 10, Tokens: 7}, key)
	s.wait = time.Hour
	s.add("a")
	openAll(t, r, key)
	s.add("b")
	if len(r.pending) != 0 {
		t.Fatal("the second of three tokens was queued inside the linger")
	}
	s.add("c") // the third: 7 + 3 = 10
	reps, text := openAll(t, r, key)
	if len(reps) != 1 || reps[0].Tokens != 2 || text != "bc" {
		t.Fatalf("budget's last token: %+v %q; want one chunk \"bc\" queued at once", reps, text)
	}
}

// TestChunkStreamSplitsLargeChunks: a backlog bigger than one chunk may
// hold becomes several chunks, each within the limits.
func TestChunkStreamSplitsLargeChunks(t *testing.T) {
	r := newReporter(nil, func(string, string) {})
	key := [32]byte{2}
	s := newChunkStream(r, &wire.LeasedJob{ID: wire.NewJobID("m"), Lease: "l"}, key)
	tok := strings.Repeat("x", 40)
	for i := 0; i < 3000; i++ {
		s.add(tok)
	}
	reps, text := openAll(t, r, key)
	total := 0
	for i, rep := range reps {
		if rep.Seq != uint64(i) || rep.Tokens > chunkMaxTokens || len(rep.Data) > 64<<10 {
			t.Errorf("chunk %d: seq %d, %d tokens, %d bytes", i, rep.Seq, rep.Tokens, len(rep.Data))
		}
		total += rep.Tokens
	}
	if len(reps) < 2 || total != 3000 || text != strings.Repeat(tok, 3000) {
		t.Fatalf("%d chunks, %d tokens, %d bytes of text", len(reps), total, len(text))
	}
}

// TestBorrowTakesOnlyWithAJobEnd: the lease loop carries pending reports
// only when a completion or failure is among them and no batch is in
// flight; a failed lease puts them back first in line.
func TestBorrowTakesOnlyWithAJobEnd(t *testing.T) {
	var stopped []string
	r := newReporter(nil, func(job, code string) { stopped = append(stopped, job+":"+code) })
	r.push(pendingReport{rep: wire.Report{Kind: wire.ReportChunk, Job: "a"}})
	if b := r.borrow(); b != nil {
		t.Fatalf("borrowed chunks alone: %+v", b)
	}
	r.push(pendingReport{rep: wire.Report{Kind: wire.ReportComplete, Job: "a"}})
	b := r.borrow()
	if len(b) != 2 || b[1].rep.Kind != wire.ReportComplete {
		t.Fatalf("borrowed %+v", b)
	}
	if again := r.borrow(); again != nil {
		t.Fatal("borrowed while a batch was in flight")
	}
	r.addEnd(wire.Report{Kind: wire.ReportFail, Job: "b"})
	r.settle(b, nil, errors.New("lease failed"))
	if len(r.pending) != 3 || r.pending[0].rep.Job != "a" || r.pending[2].rep.Job != "b" || r.busy {
		t.Fatalf("after a failed lease: pending %+v busy %v", r.pending, r.busy)
	}
	b = r.borrow()
	r.settle(b, []wire.ReportResult{{}, {}, {Code: wire.CodeConflict}}, nil)
	if len(stopped) != 1 || stopped[0] != "b:"+wire.CodeConflict || len(r.pending) != 0 {
		t.Fatalf("stopped %v, pending %d", stopped, len(r.pending))
	}
}

// TestEndReportSentWithoutALease: a job's end waits for the lease loop,
// and when no lease request takes it the reporter sends it on its own.
func TestEndReportSentWithoutALease(t *testing.T) {
	got := make(chan wire.ReportBatch, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b wire.ReportBatch
		_ = json.NewDecoder(r.Body).Decode(&b)
		got <- b
		_ = json.NewEncoder(w).Encode(wire.ReportResults{Results: make([]wire.ReportResult, len(b.Reports))})
	}))
	defer srv.Close()
	r := newReporter(newAPIClient(srv.URL, srv.Client()), func(string, string) {})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.run(ctx)
	r.addEnd(wire.Report{Kind: wire.ReportComplete, Job: "0-x", Lease: "l"})
	select {
	case b := <-got:
		if len(b.Reports) != 1 || b.Reports[0].Kind != wire.ReportComplete {
			t.Fatalf("sent %+v", b.Reports)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the completion was never sent")
	}
	r.flush(time.Second)
	if len(r.pending) != 0 || r.busy {
		t.Fatalf("after sending: %d pending, busy %v", len(r.pending), r.busy)
	}
}
