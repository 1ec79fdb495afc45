package ledger

import (
	"context"
	"testing"
	"time"
)

// testFailoverSettlement: worker A dies after streaming part of the answer,
// worker B finishes and signs. The user pays for every token received; B is
// paid its segment minus commission; A's share goes to the operator.
func testFailoverSettlement(t *testing.T, e *env) {
	ctx := context.Background()
	price := Price{PromptPer1K: 1_000_000, CompletionPer1K: 3_000_000} // 0.001 / 0.003 TON per 1K
	const commission = 1_000                                           // 10%
	e.credit("u", "tx", 1_000_000_000)
	reserve, err := price.ReserveAmount(400, 256, 1_500)
	if err != nil {
		t.Fatal(err)
	}
	e.reserve("u", "job", reserve)

	s, err := NewSettlement("u", "job", "tiny:latest", price, commission, []SegmentUsage{
		{WorkerID: "wa", PromptTokens: 100, CompletionTokens: 37, Coef: 1_000, Signed: false},
		{WorkerID: "wb", PromptTokens: 0, CompletionTokens: 219, Coef: 1_200, Signed: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	costA, _ := price.Cost(100, 37, 1_000) // 100*1e6+37*3e6 = 211e6 /1e3 = 211,000
	costB, _ := price.Cost(0, 219, 1_200)  // 219*3e6*1.2/1e3 = 788,400
	wantB, opB, _ := Split(costB, commission)
	if costA != 211_000 || costB != 788_400 || wantB != 709_560 {
		t.Fatalf("costs %d %d %d", costA, costB, wantB)
	}
	if s.Charge != costA+costB || s.Operator != costA+opB || len(s.Segments) != 1 || s.Segments[0] != (Segment{"wb", wantB}) {
		t.Fatalf("settlement %+v", s)
	}
	rc := e.settle(s)
	if rc.Charged != costA+costB || rc.Released != reserve-rc.Charged {
		t.Fatalf("receipt %+v", rc)
	}
	e.apply("u")
	if a := e.earnings("wa"); a.Earnings != 0 {
		t.Fatalf("dead worker earned %+v", a)
	}
	if a := e.earnings("wb"); a.Earnings != wantB {
		t.Fatalf("wb earned %+v, want %d", a, wantB)
	}
	if r := e.revenue(); r != costA+opB {
		t.Fatalf("operator revenue %d, want %d", r, costA+opB)
	}
	if b := e.balance("u"); b.Available != 1_000_000_000-costA-costB || b.Reserved != 0 {
		t.Fatalf("user %+v", b)
	}
	if _, err := e.l.Settle(ctx, s); err != nil {
		t.Fatalf("retry of the failover settlement: %v", err)
	}
}

// testOutboxCrash: the aggregator crashes between crediting payees and
// trimming the outbox, or between two payees, or runs twice on a stale
// snapshot: every entry is still applied exactly once.
func testOutboxCrash(t *testing.T, e *env) {
	ctx := context.Background()
	e.credit("u", "tx", 100_000)
	s := Settlement{User: "u", JobID: "j1", Model: "m", Charge: 1_000, Operator: 100,
		Segments: []Segment{{"w1", 500}, {"w2", 400}}}
	e.reserve("u", "j1", 1_000)
	e.settle(s)

	entries, err := e.l.outbox(ctx, "u")
	if err != nil || len(entries) != 3 {
		t.Fatalf("outbox %v %v", entries, err)
	}
	// Crash after the first payee only.
	if err := e.l.applyEntries(ctx, "u", entries[:1]); err != nil {
		t.Fatal(err)
	}
	if r := e.check(); r.OutboxInTransit != 500 || r.WorkerEarnings != 500 {
		t.Fatalf("after partial apply:\n%s", r)
	}
	// Crash after every payee, before the outbox is trimmed.
	if err := e.l.applyEntries(ctx, "u", entries); err != nil {
		t.Fatal(err)
	}
	if r := e.check(); r.OutboxInTransit != 0 || r.WorkerEarnings != 900 || r.OperatorRevenue != 100 {
		t.Fatalf("after apply without trim:\n%s", r)
	}
	// Another settlement for w1 lands before the aggregator restarts, so its
	// next snapshot holds applied and unapplied entries of the same payee.
	e.reserve("u", "j1b", 100)
	e.settle(Settlement{User: "u", JobID: "j1b", Model: "m", Charge: 100, Segments: []Segment{{"w1", 100}}})
	// Restart: the next run trims without paying again.
	if n := e.apply("u"); n != 4 {
		t.Fatalf("restart applied %d entries", n)
	}
	if a := e.earnings("w1"); a.Earnings != 600 {
		t.Fatalf("w1 after restart: %+v", a)
	}
	stale := entries
	// A new settlement, then a second aggregator wakes up with the stale snapshot.
	s2 := Settlement{User: "u", JobID: "j2", Model: "m", Charge: 300, Segments: []Segment{{"w1", 300}}}
	e.reserve("u", "j2", 300)
	e.settle(s2)
	if err := e.l.applyEntries(ctx, "u", stale); err != nil {
		t.Fatal(err)
	}
	if err := e.l.removeEntries(ctx, "u", stale); err != nil {
		t.Fatal(err)
	}
	if a := e.earnings("w1"); a.Earnings != 600 {
		t.Fatalf("stale aggregator paid again: %+v", a)
	}
	if r := e.check(); r.OutboxInTransit != 300 {
		t.Fatalf("new entry lost:\n%s", r)
	}
	e.apply("u")
	if a, b, r := e.earnings("w1"), e.earnings("w2"), e.revenue(); a.Earnings != 900 || b.Earnings != 400 || r != 100 {
		t.Fatalf("earnings %d %d revenue %d", a.Earnings, b.Earnings, r)
	}
}

// testAggregator runs the background loop: hinted users are applied within
// a few intervals; an outbox whose hint was lost is found by the sweep.
func testAggregator(t *testing.T, e *env) {
	ctx := context.Background()
	e.credit("u1", "tx", 10_000)
	e.credit("u2", "tx", 10_000)
	e.reserve("u1", "lost", 1_000)
	e.settle(settlement("u1", "lost", 900, 100))
	e.rdb.Del(ctx, keyPending()) // the hint was lost (crash right after Settle)

	agg := e.l.NewAggregator(AggregatorConfig{Interval: 5 * time.Millisecond, Sweep: time.Hour})
	agg.Start(ctx)
	defer agg.Shutdown()
	waitEmpty(t, e, "u1")
	if a := e.earnings("w1"); a.Earnings != 900 {
		t.Fatalf("sweep: %+v", a)
	}
	for i, u := range []string{"u1", "u2", "u1"} {
		job := "j" + string(rune('0'+i))
		e.reserve(u, job, 1_000)
		e.settle(settlement(u, job, 500, 50))
	}
	waitEmpty(t, e, "u1")
	waitEmpty(t, e, "u2")
	agg.Shutdown()
	if a, r := e.earnings("w1"), e.revenue(); a.Earnings != 2_400 || r != 250 {
		t.Fatalf("earnings %+v revenue %d", a, r)
	}
}

func waitEmpty(t *testing.T, e *env, user string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := e.rdb.HLen(context.Background(), keyOutbox(user)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox of %s still has %d entries", user, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
