package ton

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/redis/go-redis/v9"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// TestStoredDepositsAreReal checks testdata/deposits.boc: a linked chain of
// transactions of one account whose inbound messages are the cases'.
func TestStoredDepositsAreReal(t *testing.T) {
	roots, addr := loadDeposits(t)
	var prevLT uint64
	var prevHash = make([]byte, 32)
	for i, c := range depositCases {
		tx, err := parseTx(roots[i])
		if err != nil {
			t.Fatal(err)
		}
		if !address.NewAddress(0, 0, tx.AccountAddr).Equals(addr) {
			t.Fatalf("%s: transaction of another account", c.name)
		}
		if tx.PrevTxLT != prevLT || hex.EncodeToString(tx.PrevTxHash) != hex.EncodeToString(prevHash) {
			t.Fatalf("%s: not linked to the previous transaction", c.name)
		}
		prevLT, prevHash = tx.LT, tx.Hash
		d := classify(tx)
		switch {
		case c.sweep:
			if !d.skip {
				t.Errorf("%s: want skipped, got %+v", c.name, d)
			}
		case c.wantUser != "":
			if d.rec.Reason != "" || d.user != c.wantUser || d.amount != int64(c.nano) {
				t.Errorf("%s: want credit %s %d, got %+v", c.name, c.wantUser, c.nano, d)
			}
		case c.wantReason == ReasonUnknownUser:
			if d.rec.Reason != "" {
				t.Errorf("%s: memo should parse, got %s", c.name, d.rec.Reason)
			}
		default:
			if d.rec.Reason != c.wantReason {
				t.Errorf("%s: want %s, got %q (%s)", c.name, c.wantReason, d.rec.Reason, d.rec.Detail)
			}
		}
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type watcherEnv struct {
	t      *testing.T
	rdb    *redis.Client
	chain  *fakeChain
	ledger *fakeLedger
	addr   *address.Address
	n      int // stored transactions
}

func newWatcherEnv(t *testing.T) *watcherEnv {
	roots, addr := loadDeposits(t)
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	chain := newFakeChain(nil)
	chain.replay(addr, roots, 0)
	return &watcherEnv{t: t, rdb: r.Client(), chain: chain, ledger: newFakeLedger(), addr: addr, n: len(roots)}
}

// watcher returns a fresh Watcher on the shared Redis, as after a restart.
func (e *watcherEnv) watcher(cursors CursorStore) *Watcher {
	if cursors == nil {
		cursors = NewRedisCursors(e.rdb)
	}
	w, err := NewWatcher(WatcherConfig{
		Chain: e.chain, Address: e.addr, Cursors: cursors, Ledger: e.ledger,
		Unmatched: NewRedisUnmatched(e.rdb), KnownUser: knownUser, PageSize: 3, Logger: quiet,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

func (e *watcherEnv) poll(w *Watcher) int {
	e.t.Helper()
	n, err := w.Poll(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// check asserts the end state: each credit once, each refusal recorded once.
func (e *watcherEnv) check() {
	t := e.t
	t.Helper()
	roots, _ := loadDeposits(t)
	wantBalance := map[string]int64{}
	var wantReasons []Reason
	for _, c := range depositCases {
		if c.wantUser != "" {
			wantBalance[c.wantUser] += int64(c.nano)
		}
		if c.wantReason != "" {
			wantReasons = append(wantReasons, c.wantReason)
		}
	}
	balance, _ := e.ledger.snapshot()
	if len(balance) != len(wantBalance) {
		t.Errorf("balances %v, want %v", balance, wantBalance)
	}
	for u, v := range wantBalance {
		if balance[u] != v {
			t.Errorf("balance of %s = %d, want %d", u, balance[u], v)
		}
	}
	for i, c := range depositCases {
		if c.wantUser == "" {
			continue
		}
		tx, _ := parseTx(roots[i])
		if user := e.ledger.ops[hex.EncodeToString(tx.Hash)]; user != c.wantUser {
			t.Errorf("%s: op %x credited to %q", c.name, tx.Hash, user)
		}
	}
	un, err := NewRedisUnmatched(e.rdb).ListUnmatched(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(un) != len(wantReasons) {
		t.Fatalf("%d unmatched records, want %d: %+v", len(un), len(wantReasons), un)
	}
	for i, u := range un {
		if u.Reason != wantReasons[i] {
			t.Errorf("unmatched #%d: reason %s, want %s", i, u.Reason, wantReasons[i])
		}
		if _, credited := e.ledger.ops[u.TxHash]; credited {
			t.Errorf("unmatched %s was also credited", u.TxHash)
		}
	}
}

func TestWatcherCreditsEachTransferOnceAcrossRestarts(t *testing.T) {
	e := newWatcherEnv(t)
	w := e.watcher(nil)
	if n := e.poll(w); n != 0 {
		t.Fatalf("empty account: handled %d", n)
	}
	e.chain.reveal(e.addr, 4)
	if n := e.poll(w); n != 4 {
		t.Fatalf("handled %d, want 4", n)
	}
	if n := e.poll(w); n != 0 {
		t.Fatalf("second poll handled %d, want 0", n)
	}
	e.chain.reveal(e.addr, 9)
	if n := e.poll(e.watcher(nil)); n != 5 { // restarted
		t.Fatalf("handled %d, want 5", n)
	}
	e.chain.reveal(e.addr, e.n)
	if n := e.poll(e.watcher(nil)); n != e.n-9 { // restarted again
		t.Fatalf("handled %d, want %d", n, e.n-9)
	}
	if n := e.poll(e.watcher(nil)); n != 0 {
		t.Fatalf("after everything: handled %d, want 0", n)
	}
	e.check()
	_, calls := e.ledger.snapshot()
	for op, n := range calls {
		if n != 1 {
			t.Errorf("op %s credited %d times, want 1 call", op, n)
		}
	}
}

// crashingCursors fails the save after the given number of successful
// saves, like a process dying between the ledger credit and the cursor write.
type crashingCursors struct {
	CursorStore
	saves int
}

var errCrash = errors.New("crash")

func (c *crashingCursors) SaveCursor(ctx context.Context, addr *address.Address, cur Cursor) error {
	if c.saves == 0 {
		return errCrash
	}
	c.saves--
	return c.CursorStore.SaveCursor(ctx, addr, cur)
}

func TestWatcherCrashBetweenCreditAndCursorSaveDoesNotDoubleCredit(t *testing.T) {
	e := newWatcherEnv(t)
	e.chain.reveal(e.addr, e.n)
	// Dies after handling transaction #3 (the 5 TON deposit) but before
	// saving the cursor past it.
	crashing := e.watcher(&crashingCursors{CursorStore: NewRedisCursors(e.rdb), saves: 3})
	if _, err := crashing.Poll(context.Background()); !errors.Is(err, errCrash) {
		t.Fatalf("want the crash, got %v", err)
	}
	roots, _ := loadDeposits(t)
	tx3, _ := parseTx(roots[3])
	op3 := hex.EncodeToString(tx3.Hash)
	if bal, _ := e.ledger.snapshot(); bal["tg:42"] != 6_000_000_000 {
		t.Fatalf("before restart tg:42 has %d", bal["tg:42"])
	}
	e.poll(e.watcher(nil)) // restart
	e.check()
	_, calls := e.ledger.snapshot()
	if calls[op3] != 2 {
		t.Errorf("op %s: %d Credit calls, want 2 (the repeat is absorbed by the ledger)", op3, calls[op3])
	}
}

func TestWatcherLedgerOutageLosesNothing(t *testing.T) {
	e := newWatcherEnv(t)
	e.chain.reveal(e.addr, e.n)
	e.ledger.failNext = 1
	n, err := e.watcher(nil).Poll(context.Background())
	if err == nil || n != 0 {
		t.Fatalf("want the ledger error at the first transaction, got n=%d err=%v", n, err)
	}
	cur, _ := NewRedisCursors(e.rdb).LoadCursor(context.Background(), e.addr)
	if cur.LT != 0 {
		t.Fatalf("cursor moved past an uncredited deposit: %+v", cur)
	}
	e.poll(e.watcher(nil))
	e.check()
}

func TestWatcherRefusesCursorOffTheChain(t *testing.T) {
	e := newWatcherEnv(t)
	e.chain.reveal(e.addr, e.n)
	roots, _ := loadDeposits(t)
	tx, _ := parseTx(roots[5])
	bad := Cursor{LT: tx.LT, Hash: make([]byte, 32)}
	if err := NewRedisCursors(e.rdb).SaveCursor(context.Background(), e.addr, bad); err != nil {
		t.Fatal(err)
	}
	if _, err := e.watcher(nil).Poll(context.Background()); !errors.Is(err, ErrCursor) {
		t.Fatalf("want ErrCursor, got %v", err)
	}
	if bal, _ := e.ledger.snapshot(); len(bal) != 0 {
		t.Fatalf("ledger touched: %v", bal)
	}
}

func TestWatcherPageSizes(t *testing.T) {
	for _, page := range []uint32{1, 2, 16} {
		e := newWatcherEnv(t)
		e.chain.reveal(e.addr, e.n)
		w, _ := NewWatcher(WatcherConfig{Chain: e.chain, Address: e.addr, Cursors: NewRedisCursors(e.rdb),
			Ledger: e.ledger, Unmatched: NewRedisUnmatched(e.rdb), KnownUser: knownUser, PageSize: page, Logger: quiet})
		if n := e.poll(w); n != e.n {
			t.Fatalf("page %d: handled %d, want %d", page, n, e.n)
		}
		e.check()
	}
}

func TestWatcherMaxBacklogHandlesOldestFirst(t *testing.T) {
	e := newWatcherEnv(t)
	e.chain.reveal(e.addr, e.n)
	w, _ := NewWatcher(WatcherConfig{Chain: e.chain, Address: e.addr, Cursors: NewRedisCursors(e.rdb),
		Ledger: e.ledger, Unmatched: NewRedisUnmatched(e.rdb), KnownUser: knownUser, PageSize: 4, MaxBacklog: 5, Logger: quiet})
	total := 0
	for i := 0; i < 10; i++ {
		total += e.poll(w)
	}
	if total != e.n {
		t.Fatalf("handled %d, want %d", total, e.n)
	}
	e.check()
}

func TestCursorNeverMovesBack(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	s := NewRedisCursors(r.Client())
	ctx := context.Background()
	addr := treasury
	h := func(b byte) []byte { x := make([]byte, 32); x[0] = b; return x }
	for _, c := range []Cursor{{LT: 100, Hash: h(1)}, {LT: 50, Hash: h(2)}, {LT: 100, Hash: h(3)}} {
		if err := s.SaveCursor(ctx, addr, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.LoadCursor(ctx, addr)
	if err != nil || got.LT != 100 || got.Hash[0] != 1 {
		t.Fatalf("cursor %+v %v, want lt 100 hash 01…", got, err)
	}
	if err := s.SaveCursor(ctx, addr, Cursor{LT: 1 << 62, Hash: h(4)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.LoadCursor(ctx, addr); got.LT != 1<<62 {
		t.Fatalf("large lt: %+v", got)
	}
	if k := cursorKey(addr); k != "cocoon:{ton}:cursor:"+addr.StringRaw() {
		t.Fatalf("key %s", k)
	}
}

func TestUnmatchedRecordedOnce(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	s := NewRedisUnmatched(r.Client())
	ctx := context.Background()
	u := Unmatched{TxHash: "ab", LT: 7, Amount: "5", Reason: ReasonBadMemo}
	for i, want := range []bool{true, false} {
		added, err := s.RecordUnmatched(ctx, u)
		if err != nil || added != want {
			t.Fatalf("record #%d: added=%v err=%v", i, added, err)
		}
	}
	list, err := s.ListUnmatched(ctx)
	if err != nil || len(list) != 1 || list[0] != u {
		t.Fatalf("list %+v %v", list, err)
	}
}

func TestWatcherRunStopsWithContext(t *testing.T) {
	e := newWatcherEnv(t)
	e.chain.reveal(e.addr, e.n)
	w, _ := NewWatcher(WatcherConfig{Chain: e.chain, Address: e.addr, Cursors: NewRedisCursors(e.rdb),
		Ledger: e.ledger, Unmatched: NewRedisUnmatched(e.rdb), KnownUser: knownUser, PollInterval: 10 * time.Millisecond, Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if cur, _ := NewRedisCursors(e.rdb).LoadCursor(ctx, e.addr); cur.LT != 0 {
			if tx, _ := parseTx(mustLast(t)); cur.LT == tx.LT {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("watcher did not catch up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e.check()
}

func mustLast(t *testing.T) *cell.Cell {
	roots, _ := loadDeposits(t)
	return roots[len(roots)-1]
}

// TestStoresOnRedisCluster: every key shares the {ton} hash tag, so the
// multi-key scripts run on a real 3-master cluster.
func TestStoresOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	rdb := testenv.StartCluster(t).Client(t)
	ctx := context.Background()
	if err := NewRedisCursors(rdb).SaveCursor(ctx, treasury, Cursor{LT: 5, Hash: make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRedisUnmatched(rdb).RecordUnmatched(ctx, Unmatched{TxHash: "ab"}); err != nil {
		t.Fatal(err)
	}
	s := NewRedisPayouts(rdb)
	b := &Batch{ID: "pb-cluster", State: BatchPlanned}
	if err := s.SaveBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	if open, err := s.OpenBatches(ctx); err != nil || len(open) != 1 {
		t.Fatalf("open %v %v", open, err)
	}
}
