package broker

import (
	"context"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/wire"
)

// TestPerUserCap: a user with MaxUserJobs jobs running gets no more
// leased while other users are served; each way a job stops running
// (completion, retryable failure, cancel, lease expiry) frees its slot,
// and only once; counts back at 0 are deleted by the purge pass.
func TestPerUserCap(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestStore(t, StoreConfig{MaxUserJobs: 2})
	for i := 0; i < 8; i++ {
		submitJob(t, s, "heavy", 1)
	}
	submitJob(t, s, "light", 1)
	submitJob(t, s, "light", 1)
	byUser := func(jobs []wire.LeasedJob) map[string]int {
		m := map[string]int{}
		for _, j := range jobs {
			m[j.User]++
		}
		return m
	}
	lease := func(max int) []wire.LeasedJob {
		t.Helper()
		jobs, err := s.Lease(ctx, model, "w1", max)
		must(t, err)
		return jobs
	}
	held := lease(10)
	if got := byUser(held); got["heavy"] != 2 || got["light"] != 2 || len(held) != 4 {
		t.Fatalf("first lease: %v; want 2 per user (cap 2)", got)
	}
	if more := lease(10); len(more) != 0 {
		t.Fatalf("leased %d more with both users at the cap", len(more))
	}
	var heavy []wire.LeasedJob
	for _, j := range held {
		if j.User == "heavy" {
			heavy = append(heavy, j)
		}
	}
	expectOneMore := func(how string) wire.LeasedJob {
		t.Helper()
		got := lease(10)
		if len(got) != 1 || got[0].User != "heavy" {
			t.Fatalf("after %s: leased %v; want exactly one heavy job", how, byUser(got))
		}
		return got[0]
	}

	// Completion frees a slot; completing it again (a duplicate report)
	// frees nothing more.
	must(t, s.Complete(ctx, "w1", &wire.Report{Job: heavy[0].ID, Lease: heavy[0].Lease}))
	must(t, s.Complete(ctx, "w1", &wire.Report{Job: heavy[0].ID, Lease: heavy[0].Lease}))
	heavy[0] = expectOneMore("a completion")

	// A retryable failure frees it (the job waits out its backoff).
	if _, err := s.Fail(ctx, "w1", heavy[1].ID, heavy[1].Lease, "oom", true); err != nil {
		t.Fatal(err)
	}
	heavy[1] = expectOneMore("a retryable failure")

	// A cancel frees it.
	if _, err := s.Cancel(ctx, heavy[0].ID); err != nil {
		t.Fatal(err)
	}
	heavy[0] = expectOneMore("a cancel")

	// Lease expiry frees every held slot: once the backoff has passed,
	// both users get their two again, and no more.
	clk.Add(s.cfg.Lease + time.Millisecond)
	if exp, _, err := s.Recover(ctx, wire.ShardOf(model)); err != nil || exp != 4 {
		t.Fatalf("recover: %d expired, %v; want the 4 held", exp, err)
	}
	clk.Add(s.cfg.MaxBackoff)
	if _, _, err := s.Recover(ctx, wire.ShardOf(model)); err != nil {
		t.Fatal(err)
	}
	final := lease(10)
	if got := byUser(final); got["heavy"] != 2 || got["light"] != 2 {
		t.Fatalf("after the leases expired: %v; want 2 per user again", got)
	}
	if more := lease(10); len(more) != 0 {
		t.Fatalf("leased %v past the cap", byUser(more))
	}

	// A job's end only decrements its user's count; the purge pass deletes
	// the counts back at 0 and keeps the others.
	for _, j := range final {
		if j.User == "light" {
			must(t, s.Complete(ctx, "w1", &wire.Report{Job: j.ID, Lease: j.Lease}))
		}
	}
	urun := shardPrefix(wire.ShardOf(model)) + "urun:" + model
	counts, err := s.rdb.HGetAll(ctx, urun).Result()
	must(t, err)
	if counts["heavy"] != "2" || counts["light"] != "0" {
		t.Fatalf("running counts %v; want heavy 2, light 0", counts)
	}
	if _, err := s.PurgeFinished(ctx, wire.ShardOf(model), 500); err != nil {
		t.Fatal(err)
	}
	counts, err = s.rdb.HGetAll(ctx, urun).Result()
	must(t, err)
	if len(counts) != 1 || counts["heavy"] != "2" {
		t.Fatalf("running counts after the purge pass %v; want only heavy 2", counts)
	}
}
