package ton

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/redis/go-redis/v9"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	liteapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type payEnv struct {
	t      *testing.T
	rdb    *redis.Client
	emu    *emulator
	chain  *fakeChain
	ledger *fakePayoutLedger
	hot    *HotWallet
	clock  *fakeClock
	skew   time.Duration    // the payer's clock runs this far ahead of the chain's
	a, b   *address.Address // worker A: never deployed; worker B: a deployed wallet
}

const (
	earnA = 3_000_000_000
	earnB = 1_000_000_000 // exactly the threshold
	earnC = 999_999_999   // just below
)

func newPayEnv(t *testing.T) *payEnv {
	clock := &fakeClock{t: time.Now()}
	emu := newEmulator(t, func() uint32 { return uint32(clock.Now().Unix()) }) // block time follows the test clock
	e := &payEnv{t: t, rdb: testenv.StartRedis(t, testenv.RedisOptions{}).Client(), emu: emu,
		chain: newFakeChain(emu), ledger: newFakePayoutLedger(), clock: clock}
	var err error
	if e.hot, err = NewHotWallet(hotSeed, Testnet); err != nil {
		t.Fatal(err)
	}
	e.chain.fund(e.hot.Address(), 50*NanoPerTON, senderAddr) // funded, not deployed yet

	var key [32]byte
	rand.Read(key[:])
	e.a = address.NewAddress(0, 0, key[:]).Testnet(true)

	wb, err := NewHotWallet(workerSeed, Testnet)
	if err != nil {
		t.Fatal(err)
	}
	e.b = wb.Address().Bounce(true)
	e.chain.fund(e.b, 2*NanoPerTON, senderAddr)
	m, _ := wb.transfer(treasury, 1, true, "")
	deploy, err := wb.sign(0, true, clock.Now().Add(time.Minute), []*wallet.Message{m})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.chain.SendExternalMessage(context.Background(), deploy); err != nil {
		t.Fatal(err)
	}

	e.chain.sends = 0
	e.ledger.earnings["A"], e.ledger.addr["A"] = earnA, e.a.String()
	e.ledger.earnings["B"], e.ledger.addr["B"] = earnB, e.b.String()
	e.ledger.earnings["C"], e.ledger.addr["C"] = earnC, treasury.String()
	return e
}

func (e *payEnv) payer(chain Chain) *Payer {
	if chain == nil {
		chain = e.chain
	}
	p, err := NewPayer(PayerConfig{Chain: chain, Wallet: e.hot, Ledger: e.ledger, Store: NewRedisPayouts(e.rdb), Now: func() time.Time { return e.clock.Now().Add(e.skew) }, Logger: quiet})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *payEnv) due() []Due {
	d, _ := e.ledger.DuePayouts(context.Background())
	return d
}

// received lists the payout transfers that reached addr (by comment).
func (e *payEnv) received(addr *address.Address) []*tlb.InternalMessage {
	var out []*tlb.InternalMessage
	for _, tx := range e.chain.transactions(addr) {
		if tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeInternal && strings.HasPrefix(tx.IO.In.AsInternal().Comment(), "cocoon payout ") {
			out = append(out, tx.IO.In.AsInternal())
		}
	}
	return out
}

// assertPaidOnce checks each worker got exactly one transfer of what it was
// owed, the ledger confirmed exactly those, and C (below threshold) nothing.
func (e *payEnv) assertPaidOnce() {
	t := e.t
	t.Helper()
	for _, w := range []struct {
		addr   *address.Address
		amount int64
		bounce bool
	}{{e.a, earnA, false}, {e.b, earnB, true}} {
		got := e.received(w.addr)
		if len(got) != 1 {
			t.Fatalf("%s received %d payouts, want 1", w.addr, len(got))
		}
		if got[0].Amount.Nano().Int64() != w.amount || got[0].Bounce != w.bounce {
			t.Errorf("%s: amount %s bounce %v, want %d bounce %v", w.addr, got[0].Amount.Nano(), got[0].Bounce, w.amount, w.bounce)
		}
		id := strings.TrimPrefix(got[0].Comment(), "cocoon payout ")
		if st := e.ledger.states()[id]; st != "confirmed" {
			t.Errorf("payout %s is %q in the ledger, want confirmed", id, st)
		}
	}
	// A was never deployed: the non-bounceable transfer stayed with it.
	txs := e.chain.transactions(e.a)
	if last := txs[len(txs)-1]; last.EndStatus != tlb.AccountStatusUninit || returnedToSender(last) {
		t.Errorf("worker A: status %s, returned %v", last.EndStatus, returnedToSender(last))
	}
	if e.ledger.earned("A") != 0 || e.ledger.earned("B") != 0 || e.ledger.earned("C") != earnC {
		t.Errorf("earnings A=%d B=%d C=%d", e.ledger.earned("A"), e.ledger.earned("B"), e.ledger.earned("C"))
	}
	confirmed := 0
	for _, st := range e.ledger.states() {
		if st == "confirmed" {
			confirmed++
		}
	}
	if confirmed != 2 {
		t.Errorf("%d confirmed payouts in the ledger, want 2: %v", confirmed, e.ledger.states())
	}
}

func (e *payEnv) settle(p *Payer) {
	e.t.Helper()
	if err := p.Settle(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *payEnv) openBatches() []*Batch {
	b, err := NewRedisPayouts(e.rdb).OpenBatches(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func TestPayoutPaysEachWorkerOnce(t *testing.T) {
	e := newPayEnv(t)
	p := e.payer(nil)
	b, err := p.Pay(context.Background(), e.due())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Payouts) != 2 || b.State != BatchSigned {
		t.Fatalf("batch %+v", b)
	}
	e.settle(p)
	if open := e.openBatches(); len(open) != 0 {
		t.Fatalf("open batches after settle: %d", len(open))
	}
	e.assertPaidOnce()
	// Later rounds find nothing over the threshold.
	for i := 0; i < 3; i++ {
		if err := p.Tick(context.Background(), e.ledger); err != nil {
			t.Fatal(err)
		}
	}
	e.assertPaidOnce()
}

// TestPayoutMessageRunsInTVM runs the stored, signed V5R1 message in the TVM
// and reads the transfers out of the wallet's action list.
func TestPayoutMessageRunsInTVM(t *testing.T) {
	e := newPayEnv(t)
	e.chain.onSend = func(int) (bool, error) { return false, nil } // lost on the way
	p := e.payer(nil)
	b, err := p.Pay(context.Background(), e.due())
	if err != nil {
		t.Fatal(err)
	}
	stored, err := NewRedisPayouts(e.rdb).LoadBatch(context.Background(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := stored.message()
	if err != nil {
		t.Fatal(err)
	}
	if ext.StateInit == nil || !ext.DstAddr.Equals(e.hot.Address()) {
		t.Fatal("first payout must deploy the hot wallet")
	}
	res, err := tvm.NewTVM().EmulateExternalMessage(ext.StateInit.Code, ext.StateInit.Data, ext, tvm.EmulateExternalMessageConfig{
		Address: e.hot.Address(), Now: e.emu.now(), Config: e.emu.cfg, Balance: big.NewInt(50 * NanoPerTON),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Accepted || res.ExitCode != 0 {
		t.Fatalf("wallet refused the message: accepted=%v exit=%d", res.Accepted, res.ExitCode)
	}
	var sends []*tlb.InternalMessage
	for c := res.Actions; c.RefsNum() > 0; {
		var ol tlb.OutList
		if err := tlb.Parse(&ol, c); err != nil {
			t.Fatal(err)
		}
		act, ok := ol.Out.(tlb.ActionSendMsg)
		if !ok || act.Mode != wallet.PayGasSeparately+wallet.IgnoreErrors {
			t.Fatalf("action %#v", ol.Out)
		}
		var im tlb.InternalMessage
		if err := tlb.Parse(&im, act.Msg); err != nil {
			t.Fatal(err)
		}
		sends = append(sends, &im)
		c = ol.Prev
	}
	if len(sends) != 2 {
		t.Fatalf("%d transfers, want 2", len(sends))
	}
	for _, po := range stored.Payouts {
		var found *tlb.InternalMessage
		for _, im := range sends {
			if im.Comment() == PayoutComment(po.ID) {
				found = im
			}
		}
		if found == nil {
			t.Fatalf("no transfer for %s", po.ID)
		}
		want := map[string]struct {
			to     *address.Address
			amount int64
			bounce bool
		}{"A": {e.a, earnA, false}, "B": {e.b, earnB, true}}[po.Worker]
		if !found.DstAddr.Equals(want.to) || found.Amount.Nano().Int64() != want.amount || found.Bounce != want.bounce {
			t.Errorf("%s: to %s amount %s bounce %v, want %s %d %v", po.Worker, found.DstAddr, found.Amount.Nano(), found.Bounce, want.to, want.amount, want.bounce)
		}
	}
	if seqno, _ := res.Data.BeginParse(); seqno != nil {
		seqno.MustLoadBoolBit()
		if n := seqno.MustLoadUInt(32); n != 1 {
			t.Errorf("seqno after the message = %d, want 1", n)
		}
	}
}

func TestPayoutAckLostThenRestartConfirmsOnce(t *testing.T) {
	e := newPayEnv(t)
	e.chain.onSend = func(n int) (bool, error) { return true, errors.New("timeout") } // executed, but we never hear
	if _, err := e.payer(nil).Pay(context.Background(), e.due()); err == nil {
		t.Fatal("want the send error")
	}
	e.chain.onSend = nil
	restarted := e.payer(nil)
	e.clock.Add(time.Minute) // past ResendAfter: Settle must look before re-sending
	e.settle(restarted)
	e.settle(restarted)
	e.assertPaidOnce()
}

func TestPayoutLostMessageIsResentNotResigned(t *testing.T) {
	e := newPayEnv(t)
	e.chain.onSend = func(n int) (bool, error) { return n > 1, nil } // the first copy is lost
	p := e.payer(nil)
	b, err := p.Pay(context.Background(), e.due())
	if err != nil {
		t.Fatal(err)
	}
	e.settle(p) // too early to re-send
	if e.chain.sends != 1 {
		t.Fatalf("sends = %d, want 1", e.chain.sends)
	}
	e.clock.Add(31 * time.Second)
	e.settle(p) // re-sends the stored message
	e.settle(p) // finds it on chain
	e.assertPaidOnce()
	// The very same message arriving again is refused by the wallet (seqno).
	ext, _ := b.message()
	if err := e.chain.SendExternalMessage(context.Background(), ext); err == nil {
		t.Fatal("a replayed payout message was accepted")
	}
	e.settle(p)
	e.assertPaidOnce()
}

func TestPayoutExpiredMessageIsFailedThenRepaid(t *testing.T) {
	e := newPayEnv(t)
	e.chain.onSend = func(int) (bool, error) { return false, nil } // every copy lost
	p := e.payer(nil)
	b, err := p.Pay(context.Background(), e.due())
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(2 * time.Minute)
	e.settle(p) // re-sent, still lost, not expired yet
	if len(e.openBatches()) != 1 || e.ledger.earned("A") != 0 {
		t.Fatal("batch given up too early")
	}
	e.clock.Add(4 * time.Minute) // past valid_until + margin
	e.settle(p)
	done, _ := NewRedisPayouts(e.rdb).LoadBatch(context.Background(), b.ID)
	if done.State != BatchDone || done.Payouts[0].State != PayoutFailed || e.ledger.earned("A") != earnA {
		t.Fatalf("expired batch: %+v, A earns %d", done, e.ledger.earned("A"))
	}
	e.chain.onSend = nil
	if err := p.Tick(context.Background(), e.ledger); err != nil {
		t.Fatal(err)
	}
	e.settle(p)
	e.assertPaidOnce()
}

// A local clock running ahead of the chain must not give up on a message the
// chain may still accept.
func TestPayoutFastLocalClockDoesNotFailEarly(t *testing.T) {
	e := newPayEnv(t)
	e.chain.onSend = func(int) (bool, error) { return false, nil }
	p := e.payer(nil)
	if _, err := p.Pay(context.Background(), e.due()); err != nil {
		t.Fatal(err)
	}
	e.skew = 10 * time.Minute
	e.settle(p)
	if len(e.openBatches()) != 1 || e.ledger.earned("A") != 0 {
		t.Fatal("gave up on a message the chain still considers valid")
	}
	e.clock.Add(10 * time.Minute)
	e.settle(p)
	if len(e.openBatches()) != 0 || e.ledger.earned("A") != earnA {
		t.Fatal("expired batch not failed once the chain agrees")
	}
}

func TestPayoutSeqnoTakenByAnotherMessageIsFailed(t *testing.T) {
	e := newPayEnv(t)
	e.chain.onSend = func(int) (bool, error) { return false, nil }
	p := e.payer(nil)
	if _, err := p.Pay(context.Background(), e.due()); err != nil {
		t.Fatal(err)
	}
	// Something else signed with the same seqno gets in first.
	m, _ := e.hot.transfer(treasury, NanoPerTON, true, "sweep")
	other, err := e.hot.sign(0, true, e.clock.Now().Add(time.Minute), []*wallet.Message{m})
	if err != nil {
		t.Fatal(err)
	}
	e.chain.onSend = nil
	if err := e.chain.SendExternalMessage(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	e.settle(p)
	if len(e.openBatches()) != 0 || e.ledger.earned("A") != earnA || e.ledger.earned("B") != earnB {
		t.Fatalf("batch not failed: earnings A=%d B=%d", e.ledger.earned("A"), e.ledger.earned("B"))
	}
	if len(e.received(e.a)) != 0 || len(e.received(e.b)) != 0 {
		t.Fatal("workers were paid by a message that never executed")
	}
	e.settle(p)
	if err := p.Tick(context.Background(), e.ledger); err != nil {
		t.Fatal(err)
	}
	e.settle(p)
	e.assertPaidOnce()
}

// flakyChain fails CurrentMasterchainInfo a number of times.
type flakyChain struct {
	*fakeChain
	fail int
}

func (f *flakyChain) CurrentMasterchainInfo(ctx context.Context) (*liteapi.BlockIDExt, error) {
	if f.fail > 0 {
		f.fail--
		return nil, errors.New("liteserver down")
	}
	return f.fakeChain.CurrentMasterchainInfo(ctx)
}

func TestPayoutCrashAfterReserveResumes(t *testing.T) {
	e := newPayEnv(t)
	if _, err := e.payer(&flakyChain{fakeChain: e.chain, fail: 1}).Pay(context.Background(), e.due()); err == nil {
		t.Fatal("want the chain error")
	}
	open := e.openBatches()
	if len(open) != 1 || open[0].State != BatchPlanned || e.ledger.earned("A") != 0 {
		t.Fatalf("want a recorded, reserved, unsigned batch: %+v", open)
	}
	restarted := e.payer(nil)
	e.settle(restarted) // signs and sends
	e.settle(restarted) // confirms
	e.assertPaidOnce()
}

func TestPayoutRefusedReservationIsDropped(t *testing.T) {
	e := newPayEnv(t)
	e.ledger.refuse["A"] = true
	p := e.payer(nil)
	b, err := p.Pay(context.Background(), e.due())
	if err != nil {
		t.Fatal(err)
	}
	e.settle(p)
	if len(e.received(e.a)) != 0 || e.ledger.earned("A") != earnA {
		t.Fatal("refused payout was paid or lost")
	}
	if len(e.received(e.b)) != 1 {
		t.Fatal("B not paid")
	}
	for _, po := range b.Payouts {
		if po.Worker == "A" && po.State != PayoutDropped {
			t.Fatalf("A: %s", po.State)
		}
	}
}

func TestPayoutOneBatchInFlight(t *testing.T) {
	e := newPayEnv(t)
	e.chain.onSend = func(int) (bool, error) { return false, nil }
	p := e.payer(nil)
	if _, err := p.Pay(context.Background(), e.due()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Pay(context.Background(), e.due()); !errors.Is(err, ErrPayoutInFlight) {
		t.Fatalf("want ErrPayoutInFlight, got %v", err)
	}
}

func TestPayoutRefusesBadInput(t *testing.T) {
	e := newPayEnv(t)
	p := e.payer(nil)
	b, err := p.Pay(context.Background(), []Due{
		{Worker: "neg", To: e.a.String(), Amount: -5 * NanoPerTON},
		{Worker: "zero", To: e.a.String(), Amount: 0},
		{Worker: "small", To: e.a.String(), Amount: NanoPerTON - 1},
		{Worker: "garbage", To: "not an address", Amount: 2 * NanoPerTON},
		{Worker: "self", To: e.hot.Address().String(), Amount: 2 * NanoPerTON},
	})
	if err != nil || b != nil {
		t.Fatalf("want no batch, got %+v %v", b, err)
	}
	if len(e.ledger.states()) != 0 {
		t.Fatal("ledger touched")
	}
}

func TestPayoutStoreIsCompareAndSet(t *testing.T) {
	s := NewRedisPayouts(testenv.StartRedis(t, testenv.RedisOptions{}).Client())
	ctx := context.Background()
	b := &Batch{ID: "pb-x", State: BatchPlanned}
	if err := s.SaveBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	stale := *b
	b.State = BatchSigned
	if err := s.SaveBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	stale.State = BatchSigned
	if err := s.SaveBatch(ctx, &stale); !errors.Is(err, ErrBatchConflict) {
		t.Fatalf("stale save: %v", err)
	}
	b.State = BatchDone
	if err := s.SaveBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	if open, _ := s.OpenBatches(ctx); len(open) != 0 {
		t.Fatal("done batch still open")
	}
	if _, err := s.LoadBatch(ctx, "pb-none"); !errors.Is(err, ErrBatchNotFound) {
		t.Fatal(err)
	}
}

func TestPayerRunPaysAndStops(t *testing.T) {
	e := newPayEnv(t)
	p, err := NewPayer(PayerConfig{Chain: e.chain, Wallet: e.hot, Ledger: e.ledger, Store: NewRedisPayouts(e.rdb),
		Interval: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx, e.ledger) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.ledger.states()) < 2 || e.ledger.states()[firstID(e)] != "confirmed" || len(e.openBatches()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not paid: %v", e.ledger.states())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a few more rounds pay nothing more
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e.assertPaidOnce()
}

func firstID(e *payEnv) string {
	for id := range e.ledger.states() {
		return id
	}
	return ""
}

// The wallet skips a transfer it cannot afford (mode IgnoreErrors): that
// payout goes back to the worker, the rest is confirmed.
func TestPayoutWalletShortOfFundsFailsThatPayout(t *testing.T) {
	e := newPayEnv(t)
	e.ledger.earnings["A"] = 80 * NanoPerTON // the hot wallet holds 50
	p := e.payer(nil)
	b, err := p.Pay(context.Background(), e.due())
	if err != nil {
		t.Fatal(err)
	}
	e.settle(p)
	done, _ := NewRedisPayouts(e.rdb).LoadBatch(context.Background(), b.ID)
	for _, po := range done.Payouts {
		want := map[string]PayoutState{"A": PayoutFailed, "B": PayoutPaid}[po.Worker]
		if po.State != want {
			t.Errorf("%s: %s, want %s", po.Worker, po.State, want)
		}
	}
	if len(e.received(e.a)) != 0 || e.ledger.earned("A") != 80*NanoPerTON {
		t.Fatalf("A: %d transfers, earns %d", len(e.received(e.a)), e.ledger.earned("A"))
	}
	if len(e.received(e.b)) != 1 || e.ledger.earned("B") != 0 {
		t.Fatal("B not paid")
	}
}
