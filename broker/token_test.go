package broker

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/wire"
)

// TestLeaseTokenLetters: a lease token's letter says whether the job has a
// past and holds a user slot (f g r s), and a first lease writes no run
// flag: its completion frees the slot from the letter alone.
func TestLeaseTokenLetters(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		cap           int
		first, second string
	}{{0, ".f", ".r"}, {2, ".g", ".s"}} {
		s, clk := newTestStore(t, StoreConfig{MaxUserJobs: c.cap})
		shard := wire.ShardOf(model)
		id := submitJob(t, s, "u1", 8)
		j := leaseOne(t, s, "w1")
		if !strings.HasSuffix(j.Lease, c.first) {
			t.Fatalf("cap %d: first lease token %q; want letter %s", c.cap, j.Lease, c.first)
		}
		if n, _ := s.rdb.HExists(ctx, jobKey(shard, id), "run").Result(); n {
			t.Fatalf("cap %d: a first lease wrote the run flag", c.cap)
		}
		if _, err := s.Fail(ctx, "w1", id, j.Lease, "oom", true); err != nil {
			t.Fatal(err)
		}
		clk.Add(s.cfg.MaxBackoff)
		s.Recover(ctx, shard)
		j = leaseOne(t, s, "w1")
		if !strings.HasSuffix(j.Lease, c.second) || j.Attempt != 2 {
			t.Fatalf("cap %d: retry token %q attempt %d; want letter %s, attempt 2", c.cap, j.Lease, j.Attempt, c.second)
		}
		must(t, s.Complete(ctx, "w1", &wire.Report{Job: id, Lease: j.Lease}))
		if c.cap > 0 {
			if n, _ := s.rdb.HGet(ctx, shardPrefix(shard)+"urun:"+model, "u1").Result(); n != "0" {
				t.Fatalf("running count after fail, retry and completion: %q; want 0", n)
			}
		}
	}
}

// TestTokensOfBrokersBefore: jobs leased by a broker before the token
// letters (tokens base.n and base.nf, the slot in the job's run flag)
// complete and expire with their slots freed once, as before.
func TestTokensOfBrokersBefore(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestStore(t, StoreConfig{MaxUserJobs: 4})
	shard := wire.ShardOf(model)
	urun := shardPrefix(shard) + "urun:" + model
	count := func() string { n, _ := s.rdb.HGet(ctx, urun, "u1").Result(); return n }
	// lease leases a job now and rewrites it as an older broker stored it.
	lease := func(token, run string) wire.LeasedJob {
		t.Helper()
		submitJob(t, s, "u1", 8)
		j := leaseOne(t, s, "w1")
		j.Lease = token
		must(t, s.rdb.HSet(ctx, jobKey(shard, j.ID), "lease", token).Err())
		if run != "" {
			must(t, s.rdb.HSet(ctx, jobKey(shard, j.ID), "run", run).Err())
		} else {
			must(t, s.rdb.HIncrBy(ctx, urun, "u1", -1).Err()) // the old broker held no slot
		}
		return j
	}
	first := lease("0123456789abcdef.0f", "1")
	past := lease("0123456789abcdef.1", "1")
	noSlot := lease("0123456789abcdef.2f", "")
	expiring := lease("fedcba9876543210.0f", "1")
	if got := count(); got != "3" {
		t.Fatalf("running count %s; want 3", got)
	}
	for _, j := range []wire.LeasedJob{first, past, noSlot} {
		must(t, s.Complete(ctx, "w1", &wire.Report{Job: j.ID, Lease: j.Lease}))
	}
	if got := count(); got != "1" {
		t.Fatalf("running count after three completions %s; want 1 (the expiring job's)", got)
	}
	if st := state(t, s, past.ID); st != wire.StateDone {
		t.Fatalf("job with a past: %s", st)
	}
	clk.Add(s.cfg.Lease + time.Millisecond)
	s.Recover(ctx, shard)
	s.Recover(ctx, shard)
	if got := count(); got != "0" || state(t, s, expiring.ID) != wire.StateQueued {
		t.Fatalf("after the expiry: running count %s, job %s; want 0, queued", got, state(t, s, expiring.ID))
	}
}

// TestLeaseReadsConstraintsOfJobsBefore: a job stored before p's flag
// (p starting with a digit) still has its eligible list read.
func TestLeaseReadsConstraintsOfJobsBefore(t *testing.T) {
	ctx := context.Background()
	s, clk := newTestStore(t, StoreConfig{})
	shard := wire.ShardOf(model)
	id := wire.NewJobID(model)
	must(t, s.rdb.HSet(ctx, jobKey(shard, id), "state", "queued", "model", model, "user", "u1",
		"p", "64 "+strconv.FormatInt(clk.Now().UnixMilli(), 10)+" payload", "elig", "w2").Err())
	must(t, s.rdb.RPush(ctx, userQueueKey(shard, model, "u1"), id).Err())
	must(t, s.rdb.RPush(ctx, rotationKey(shard, model), "u1").Err())
	must(t, s.rdb.Incr(ctx, depthKey(shard, model)).Err())
	if jobs, err := s.Lease(ctx, model, "w1", 1); err != nil || len(jobs) != 0 {
		t.Fatalf("ineligible worker leased %v, %v", jobs, err)
	}
	j := leaseOne(t, s, "w2")
	if j.ID != id || j.MaxTokens != 64 || string(j.Payload) != "payload" {
		t.Fatalf("eligible worker leased %+v", j)
	}
}
