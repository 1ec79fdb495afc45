package ledger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cocoon-network/cocoon/internal/testenv"
)

// workload runs n random ledger operations; refusals are expected (it does
// not track state, and after a power cut its ids may point at lost records),
// Redis errors are not.
func workload(t *testing.T, e *env, rng *rand.Rand, round, n int) {
	t.Helper()
	ctx := context.Background()
	users := []string{"u1", "u2", "u3", "api1"}
	workers := []string{"w1", "w2", "w3"}
	for i := 0; i < n; i++ {
		u := users[rng.IntN(len(users))]
		job := fmt.Sprintf("r%d-j%d", round, rng.IntN(n))
		var err error
		switch k := rng.IntN(10); k {
		case 0:
			_, err = e.l.Credit(ctx, u, fmt.Sprintf("r%d-tx%d", round, i), Sources[rng.IntN(3)], 1+rng.Int64N(50_000))
		case 1:
			_, err = e.l.GrantTrial(ctx, u, 10_000)
		case 2, 3:
			_, err = e.l.Reserve(ctx, u, job, 1+rng.Int64N(5_000))
		case 4, 5:
			w := rng.Int64N(3_000)
			s := Settlement{User: u, JobID: job, Model: "tiny", Operator: 1 + rng.Int64N(300), CompletionTokens: rng.Int64N(500)}
			s.Charge = s.Operator
			if w > 0 {
				s.Segments = []Segment{{workers[rng.IntN(3)], w}}
				s.Charge += w
			}
			_, err = e.l.Settle(ctx, s)
		case 6:
			_, err = e.l.Release(ctx, u, job)
		case 7:
			_, err = e.l.ApplyOutbox(ctx, u)
		case 8:
			w := workers[rng.IntN(3)]
			p := fmt.Sprintf("r%d-p%d", round, rng.IntN(n/4+1))
			switch rng.IntN(3) {
			case 0:
				_, err = e.l.ReservePayout(ctx, w, p, 1+rng.Int64N(2_000))
			case 1:
				_, err = e.l.ConfirmPayout(ctx, w, p)
			default:
				_, err = e.l.FailPayout(ctx, w, p)
			}
		case 9:
			_, err = e.l.EscrowRefund(ctx, u, fmt.Sprintf("r%d-wd%d", round, i), 1+rng.Int64N(3_000))
		}
		if err != nil && !isRefusal(err) {
			t.Fatalf("op %d: %v", i, err)
		}
	}
}

// TestAOFPowerCut: with AOF on, run operations, kill Redis, cut the AOF's
// tail (a lost fsync window, possibly mid-script), restart: the invariant
// holds for whatever survived, repeats of lost and kept operations are safe,
// and the aggregator finishes whatever was in transit. Five rounds, so each
// restart also loads what the previous restart left behind.
func TestAOFPowerCut(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{AOF: true})
	e := newEnv(t, r.Client())
	for round, cut := range []int64{1, 17, 211, 1_500, 9_000} {
		seed := func() *rand.Rand { return rand.New(rand.NewPCG(uint64(round), 7)) }
		workload(t, e, seed(), round, 400)
		before := e.check()
		r.Kill()
		if err := r.TruncateAOFTail(cut); err != nil {
			t.Fatalf("truncate: %v", err)
		}
		r.Restart()
		after := e.check()
		t.Logf("cut %d bytes: held %d -> %d", cut, before.Held(), after.Held())
		// What the broker does on start: replace an AOF that Redis 7.0 may
		// have left with an open MULTI block (see RewriteAOF).
		if err := e.l.RewriteAOF(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The clients retry the same round: kept ops are repeats, lost ones run again.
		workload(t, e, seed(), round, 400)
		e.check()
		if _, err := e.l.ApplyAllOutboxes(context.Background()); err != nil {
			t.Fatal(err)
		}
		if rep := e.check(); rep.OutboxInTransit != 0 {
			t.Fatalf("outbox left after sweep:\n%s", rep)
		}
	}
}
