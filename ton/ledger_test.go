package ton

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/xssnick/tonutils-go/address"
)

func checkBooks(t *testing.T, l *ledger.Ledger) ledger.Report {
	t.Helper()
	rep, err := l.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("ledger invariant fails:\n%s", rep)
	}
	return rep
}

// The deposit watcher against the real Redis ledger: a crash between the
// credit and the cursor save, a restart, and the books balance with every
// deposit counted once.
func TestRealLedgerDepositsCreditedOnce(t *testing.T) {
	e := newWatcherEnv(t)
	e.chain.reveal(e.addr, e.n)
	l := ledger.New(e.rdb)
	watcher := func(c CursorStore) *Watcher {
		w, err := NewWatcher(WatcherConfig{Chain: e.chain, Address: e.addr, Cursors: c, Ledger: LedgerAdapter{L: l},
			Unmatched: NewRedisUnmatched(e.rdb), KnownUser: knownUser, PageSize: 3, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	if _, err := watcher(&crashingCursors{CursorStore: NewRedisCursors(e.rdb), saves: 3}).Poll(context.Background()); !errors.Is(err, errCrash) {
		t.Fatalf("want the crash, got %v", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := watcher(NewRedisCursors(e.rdb)).Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int64{}
	var total int64
	for _, c := range depositCases {
		if c.wantUser != "" {
			want[c.wantUser] += int64(c.nano)
			total += int64(c.nano)
		}
	}
	for user, v := range want {
		b, err := l.Balance(context.Background(), user)
		if err != nil || b.Available != v {
			t.Errorf("%s: balance %+v %v, want %d", user, b, err, v)
		}
	}
	if rep := checkBooks(t, l); rep.DepositsTON != total {
		t.Errorf("TON deposits %d, want %d", rep.DepositsTON, total)
	}
}

// A transfer the ledger refuses for good (here: above its MaxAmount) is
// recorded for refund instead of blocking the watcher.
func TestRealLedgerRefusalIsRecorded(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	err := LedgerAdapter{L: ledger.New(r.Client())}.Credit(context.Background(), "tg:42", "ab", CreditSource, ledger.MaxAmount+1)
	if !errors.Is(err, ErrCreditRefused) {
		t.Fatalf("want ErrCreditRefused, got %v", err)
	}
	if err := (LedgerAdapter{L: ledger.New(r.Client())}).FailPayout(context.Background(), "w", "po-never"); err != nil {
		t.Fatalf("failing an unknown payout: %v", err)
	}
}

// Worker payouts against the real ledger: earnings from a settled job, one
// batch lost and expired (given back), the next paid; the books balance at
// every step.
func TestRealLedgerPayouts(t *testing.T) {
	e := newPayEnv(t)
	ctx := context.Background()
	l := ledger.New(e.rdb)
	price := ledger.Price{PromptPer1K: NanoPerTON, CompletionPer1K: NanoPerTON}
	if _, err := l.Credit(ctx, "u1", "deposit", ledger.SourceTON, 100*NanoPerTON); err != nil {
		t.Fatal(err)
	}
	reserve, err := price.ReserveAmount(1000, 8000, ledger.CoefOne)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reserve(ctx, "u1", "job-1", reserve); err != nil {
		t.Fatal(err)
	}
	s, err := ledger.NewSettlement("u1", "job-1", "tiny", price, 1000, []ledger.SegmentUsage{
		{WorkerID: "A", PromptTokens: 1000, CompletionTokens: 3000, Coef: ledger.CoefOne, Signed: true},
		{WorkerID: "B", CompletionTokens: 1500, Coef: ledger.CoefOne, Signed: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Settle(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ApplyOutbox(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	earned := map[string]int64{}
	for _, w := range []string{"A", "B"} {
		acct, _ := l.Worker(ctx, w)
		earned[w] = acct.Earnings
	}
	checkBooks(t, l)

	addrs := map[string]string{"A": e.a.String(), "B": e.b.String()}
	due := LedgerDue{L: l, PayoutAddress: func(_ context.Context, w string) (string, error) { return addrs[w], nil }}
	p, err := NewPayer(PayerConfig{Chain: e.chain, Wallet: e.hot, Ledger: LedgerAdapter{L: l}, Store: NewRedisPayouts(e.rdb),
		Now: e.clock.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}

	e.chain.onSend = func(int) (bool, error) { return false, nil } // the first batch never arrives
	if err := p.Tick(ctx, due); err != nil {
		t.Fatal(err)
	}
	if rep := checkBooks(t, l); rep.PayoutsInFlight != earned["A"]+earned["B"] {
		t.Fatalf("in flight %d, want %d", rep.PayoutsInFlight, earned["A"]+earned["B"])
	}
	e.clock.Add(10 * time.Minute)
	if err := p.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if rep := checkBooks(t, l); rep.PayoutsInFlight != 0 || rep.WorkerEarnings != earned["A"]+earned["B"] {
		t.Fatalf("expired batch not given back: %s", rep)
	}

	e.chain.onSend = nil
	for i := 0; i < 3; i++ {
		if err := p.Tick(ctx, due); err != nil {
			t.Fatal(err)
		}
	}
	for w, addr := range map[string]*address.Address{"A": e.a, "B": e.b} {
		got := e.received(addr)
		if len(got) != 1 || got[0].Amount.Nano().Int64() != earned[w] {
			t.Fatalf("%s received %d transfers (want 1 of %d)", w, len(got), earned[w])
		}
		acct, _ := l.Worker(ctx, w)
		if acct.Earnings != 0 || acct.InFlight != 0 || acct.PaidOut != earned[w] {
			t.Fatalf("%s: %+v", w, acct)
		}
	}
	if rep := checkBooks(t, l); rep.Payouts != earned["A"]+earned["B"] {
		t.Fatalf("paid out %d, want %d", rep.Payouts, earned["A"]+earned["B"])
	}
}
