package ledger

import (
	"context"
	"errors"
	"testing"
	"time"
)

func testCredit(t *testing.T, e *env) {
	ctx := context.Background()
	tests := []struct {
		name        string
		user, op    string
		src         Source
		amount      int64
		wantBalance int64
		wantDup     bool
		wantErr     error
	}{
		{"ton deposit", "u1", "txhash1", SourceTON, 1_000, 1_000, false, nil},
		{"stars payment", "u1", "charge_1", SourceStars, 500, 1_500, false, nil},
		{"escrow deposit", "u1", "txhash2", SourceEscrow, 250, 1_750, false, nil},
		{"trial", "u1", TrialOpID, SourceTrial, 100, 1_850, false, nil},
		{"replayed tx", "u1", "txhash1", SourceTON, 1_000, 1_000, true, nil},
		{"replayed stars payment", "u1", "charge_1", SourceStars, 500, 1_500, true, nil},
		{"same id other source is another op", "u1", "txhash1", SourceStars, 7, 1_857, false, nil},
		{"trial again, other amount", "u1", TrialOpID, SourceTrial, 999, 1_850, true, nil},
		{"replayed tx other amount", "u1", "txhash1", SourceTON, 2, 0, false, ErrConflict},
		{"other user", "u2", "txhash9", SourceTON, 5, 5, false, nil},
	}
	for _, tt := range tests {
		rc, err := e.l.Credit(ctx, tt.user, tt.op, tt.src, tt.amount)
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
		}
		if err != nil {
			continue
		}
		if rc.Balance != tt.wantBalance || rc.Duplicate != tt.wantDup {
			t.Fatalf("%s: receipt %+v, want balance %d dup %v", tt.name, rc, tt.wantBalance, tt.wantDup)
		}
	}
	if b := e.balance("u1"); b.Available != 1_857 || b.Reserved != 0 {
		t.Fatalf("balance %+v", b)
	}
	rc, err := e.l.GrantTrial(ctx, "u3", 42)
	if err != nil || rc.Balance != 42 || rc.Duplicate {
		t.Fatalf("GrantTrial: %+v %v", rc, err)
	}
	if rc, err := e.l.GrantTrial(ctx, "u3", 42); err != nil || !rc.Duplicate || rc.Balance != 42 {
		t.Fatalf("GrantTrial again: %+v %v", rc, err)
	}
	rep := e.check()
	if rep.DepositsTON != 1_005 || rep.DepositsStars != 507 || rep.DepositsEscrow != 250 || rep.DepositsTrial != 142 {
		t.Fatalf("deposit terms:\n%s", rep)
	}
}

func testReserveSettleRelease(t *testing.T, e *env) {
	ctx := context.Background()
	e.credit("u", "tx", 1_000)

	rc, err := e.l.Reserve(ctx, "u", "j1", 300)
	if err != nil || rc.Balance != 700 {
		t.Fatalf("reserve: %+v %v", rc, err)
	}
	e.reserve("u", "j2", 200)
	e.reserve("u", "j3", 100)
	if b := e.balance("u"); b.Available != 400 || b.Reserved != 600 {
		t.Fatalf("after reserves %+v", b)
	}
	if r := e.check(); r.Reservations != 600 || r.UserBalances != 400 {
		t.Fatalf("report:\n%s", r)
	}

	// j1: charge 250 of 300: 200 to w1, 50 to the operator, 50 released.
	src := e.settle(settlement("u", "j1", 200, 50))
	if src.Charged != 250 || src.Released != 50 || src.Balance != 450 || src.Duplicate {
		t.Fatalf("settle %+v", src)
	}
	if r := e.check(); r.OutboxInTransit != 250 || r.Reservations != 300 {
		t.Fatalf("in transit:\n%s", r)
	}
	if n := e.apply("u"); n != 2 {
		t.Fatalf("applied %d entries, want 2", n)
	}
	if a := e.earnings("w1"); a.Earnings != 200 {
		t.Fatalf("w1 %+v", a)
	}
	if r := e.revenue(); r != 50 {
		t.Fatalf("revenue %d", r)
	}
	if n := e.apply("u"); n != 0 {
		t.Fatalf("second apply moved %d", n)
	}

	// j2: charge all of it.
	if rc := e.settle(settlement("u", "j2", 200, 0)); rc.Released != 0 || rc.Balance != 450 {
		t.Fatalf("settle j2 %+v", rc)
	}
	// j3: released.
	rl, err := e.l.Release(ctx, "u", "j3")
	if err != nil || rl.Amount != 100 || rl.Balance != 550 {
		t.Fatalf("release %+v %v", rl, err)
	}
	e.apply("u")
	if b := e.balance("u"); b.Available != 550 || b.Reserved != 0 {
		t.Fatalf("end %+v", b)
	}
	if a := e.earnings("w1"); a.Earnings != 400 {
		t.Fatalf("w1 %+v", a)
	}
	r := e.check()
	if r.UserBalances+r.WorkerEarnings+r.OperatorRevenue != 1_000 || r.OutboxInTransit != 0 {
		t.Fatalf("end report:\n%s", r)
	}
}

func testPayouts(t *testing.T, e *env) {
	ctx := context.Background()
	e.credit("u", "tx", 10_000)
	e.reserve("u", "j", 10_000)
	e.settle(settlement("u", "j", 9_000, 1_000))
	e.apply("u")

	p, err := e.l.ReservePayout(ctx, "w1", "p1", 5_000)
	if err != nil || p.State != PayoutInFlight || p.Earnings != 4_000 {
		t.Fatalf("reserve payout %+v %v", p, err)
	}
	if a := e.earnings("w1"); a != (WorkerAccount{Earnings: 4_000, InFlight: 5_000}) {
		t.Fatalf("after reserve %+v", a)
	}
	if r := e.check(); r.PayoutsInFlight != 5_000 {
		t.Fatalf("report:\n%s", r)
	}
	if p, err := e.l.ConfirmPayout(ctx, "w1", "p1"); err != nil || p.State != PayoutConfirmed || p.Amount != 5_000 {
		t.Fatalf("confirm %+v %v", p, err)
	}
	if a := e.earnings("w1"); a != (WorkerAccount{Earnings: 4_000, PaidOut: 5_000}) {
		t.Fatalf("after confirm %+v", a)
	}
	if r := e.check(); r.Payouts != 5_000 || r.Funded() != 5_000 {
		t.Fatalf("report:\n%s", r)
	}

	e.l.ReservePayout(ctx, "w1", "p2", 3_000)
	if p, err := e.l.FailPayout(ctx, "w1", "p2"); err != nil || p.State != PayoutFailed {
		t.Fatalf("fail %+v %v", p, err)
	}
	if a := e.earnings("w1"); a != (WorkerAccount{Earnings: 4_000, PaidOut: 5_000}) {
		t.Fatalf("after fail %+v", a)
	}
	ps, err := e.l.Payouts(ctx, "w1")
	if err != nil || len(ps) != 2 || ps[0].State != PayoutConfirmed || ps[1].State != PayoutFailed {
		t.Fatalf("payouts %+v %v", ps, err)
	}
	ws, err := e.l.Workers(ctx)
	if err != nil || len(ws) != 1 || ws[0] != "w1" {
		t.Fatalf("workers %v %v", ws, err)
	}
}

func testEscrowRefund(t *testing.T, e *env) {
	ctx := context.Background()
	if _, err := e.l.Credit(ctx, "api1", "esc-tx", SourceEscrow, 1_000); err != nil {
		t.Fatal(err)
	}
	e.credit("api1", "ton-tx", 500)
	e.reserve("api1", "j", 300)
	e.settle(settlement("api1", "j", 300, 0))
	// 1,200 left: at most the 1,000 escrow deposit can be refunded.
	if _, err := e.l.EscrowRefund(ctx, "api1", "wd1", 1_001); !errors.Is(err, ErrInvalidAmount) {
		t.Fatalf("refund above escrow deposits: %v", err)
	}
	rc, err := e.l.EscrowRefund(ctx, "api1", "wd1", 700)
	if err != nil || rc.Balance != 500 {
		t.Fatalf("refund %+v %v", rc, err)
	}
	if _, err := e.l.EscrowRefund(ctx, "api1", "wd2", 301); !errors.Is(err, ErrInvalidAmount) {
		t.Fatalf("refund above what is left of escrow: %v", err)
	}
	r := e.check()
	if r.EscrowRefunds != 700 || r.DepositsEscrow != 1_000 {
		t.Fatalf("report:\n%s", r)
	}
}

func testUsageAndCharges(t *testing.T, e *env) {
	ctx := context.Background()
	e.credit("u", "tx", 10_000)
	for i, s := range []Settlement{
		{JobID: "a", Model: "tiny:latest", PromptTokens: 5, CompletionTokens: 7, Charge: 100, At: testNow.Add(-24 * time.Hour)},
		{JobID: "b", Model: "tiny:latest", PromptTokens: 1, CompletionTokens: 2, Charge: 30},
		{JobID: "c", Model: "llama3", PromptTokens: 3, CompletionTokens: 4, Charge: 40},
		{JobID: "d", Model: "tiny:latest", PromptTokens: 10, CompletionTokens: 20, Charge: 50},
	} {
		s.User, s.Operator = "u", s.Charge
		e.reserve("u", s.JobID, 100)
		e.settle(s)
		_ = i
	}
	rows, err := e.l.Usage(ctx, "u", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []UsageRow{
		{Day: "2026-03-14", Model: "llama3", PromptTokens: 3, CompletionTokens: 4, Cost: 40, Jobs: 1},
		{Day: "2026-03-14", Model: "tiny:latest", PromptTokens: 11, CompletionTokens: 22, Cost: 80, Jobs: 2},
		{Day: "2026-03-13", Model: "tiny:latest", PromptTokens: 5, CompletionTokens: 7, Cost: 100, Jobs: 1},
	}
	if len(rows) != len(want) {
		t.Fatalf("usage %+v", rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Fatalf("usage row %d = %+v, want %+v", i, rows[i], want[i])
		}
	}
	cs, err := e.l.RecentCharges(ctx, "u", 2)
	if err != nil || len(cs) != 2 || cs[0].JobID != "d" || cs[0].Amount != 50 || cs[1].JobID != "c" || !cs[0].At.Equal(testNow) {
		t.Fatalf("recent charges %+v %v", cs, err)
	}
	if _, err := e.l.Usage(ctx, "u", 0); err == nil {
		t.Fatal("usage of 0 days accepted")
	}
}

func testCheckCatchesTampering(t *testing.T, e *env) {
	ctx := context.Background()
	e.credit("u", "tx", 1_000)
	e.reserve("u", "j", 400)
	e.settle(settlement("u", "j", 300, 100))
	e.check()
	if err := e.rdb.IncrBy(ctx, keyBalance("u"), 7).Err(); err != nil {
		t.Fatal(err)
	}
	rep, err := e.l.Check(ctx)
	if err != nil || rep.OK() || rep.Difference() != 7 {
		t.Fatalf("check after invented 7 nanoTON: %v\n%s", err, rep)
	}
	defer func(d time.Duration) { checkRetryDelay = d }(checkRetryDelay)
	checkRetryDelay = time.Millisecond
	var out testWriter
	err = RunCheck(ctx, e.l, &out)
	if !errors.Is(err, ErrInvariant) || !contains(err.Error(), "= 7 nanoTON") || !contains(out.String(), "FAILED") {
		t.Fatalf("RunCheck: %v\n%s", err, out.String())
	}
	e.rdb.DecrBy(ctx, keyBalance("u"), 7)
	out.Reset()
	if err := RunCheck(ctx, e.l, &out); err != nil || !contains(out.String(), "OK") {
		t.Fatalf("RunCheck after repair: %v\n%s", err, out.String())
	}
}

// testUnreserve: a reservation whose job was never queued is undone and the
// same job id reserves again (a submitter's retry is charged); a released or
// settled job's money is not touched.
func testUnreserve(t *testing.T, e *env) {
	ctx := context.Background()
	e.credit("u", "tx", 1_000)
	e.reserve("u", "j1", 300)
	e.reserve("u", "j0", 50)
	if held, err := e.l.Reservations(ctx, "u"); err != nil || len(held) != 2 || held["j1"] != 300 || held["j0"] != 50 {
		t.Fatalf("reservations %v %v", held, err)
	}
	if _, err := e.l.Release(ctx, "u", "j0"); err != nil {
		t.Fatal(err)
	}
	rc, err := e.l.Unreserve(ctx, "u", "j1")
	if err != nil || rc.Amount != 300 || rc.Balance != 1_000 {
		t.Fatalf("unreserve: %+v %v", rc, err)
	}
	if b := e.balance("u"); b.Available != 1_000 || b.Reserved != 0 {
		t.Fatalf("after unreserve %+v", b)
	}
	if _, err := e.l.Unreserve(ctx, "u", "j1"); !errors.Is(err, ErrNoReservation) {
		t.Fatalf("second unreserve: %v, want ErrNoReservation", err)
	}
	if held, err := e.l.Reservations(ctx, "u"); err != nil || len(held) != 0 {
		t.Fatalf("reservations after release and unreserve: %v %v", held, err)
	}
	e.check()
	// The retry reserves afresh (a Release would have made it a duplicate
	// holding nothing), and its job settles.
	rc, err = e.l.Reserve(ctx, "u", "j1", 300)
	if err != nil || rc.Duplicate || rc.Balance != 700 {
		t.Fatalf("reserve again: %+v %v", rc, err)
	}
	if src := e.settle(settlement("u", "j1", 200, 50)); src.Charged != 250 || src.Released != 50 {
		t.Fatalf("settle %+v", src)
	}
	before := e.dump()
	if _, err := e.l.Unreserve(ctx, "u", "j1"); !errors.Is(err, ErrNoReservation) {
		t.Fatalf("unreserve of a settled job: %v", err)
	}
	e.sameDump(before, "unreserve of a settled job")
	e.reserve("u", "j2", 100)
	if _, err := e.l.Release(ctx, "u", "j2"); err != nil {
		t.Fatal(err)
	}
	before = e.dump()
	if _, err := e.l.Unreserve(ctx, "u", "j2"); !errors.Is(err, ErrNoReservation) {
		t.Fatalf("unreserve of a released job: %v", err)
	}
	e.sameDump(before, "unreserve of a released job")
	if _, err := e.l.Unreserve(ctx, "u", "bad id"); err == nil {
		t.Fatal("unreserve of an invalid job id passed")
	}
}
