package escrow

import (
	"crypto/ed25519"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// These tests run the committed escrow code in tonutils-go's TVM, with the
// blockchain config exported from the JS sandbox (contracts/testdata/config.boc).

const tonNano = uint64(1_000_000_000)

var chainNow = time.Unix(1_800_000_000, 0)

func loadChainConfig(t *testing.T) *tvm.PreparedBlockchainConfig {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "config.boc"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	root, err := cell.FromBOC(raw)
	if err != nil {
		t.Fatalf("config BOC: %v", err)
	}
	cfg, err := tvm.PrepareBlockchainConfig(root)
	if err != nil {
		t.Fatalf("prepare config: %v", err)
	}
	return cfg
}

// chain is one escrow account driven transaction by transaction.
type chain struct {
	t       *testing.T
	machine *tvm.TVM
	cfg     *tvm.PreparedBlockchainConfig
	addr    *address.Address
	acc     *tvm.PreparedAccount
	now     uint32
	lt      uint64
}

func newChain(t *testing.T, addr *address.Address) *chain {
	t.Helper()
	none := &tlb.ShardAccount{Account: cell.BeginCell().MustStoreBoolBit(false).EndCell(), LastTransHash: make([]byte, 32)}
	acc, err := tvm.PrepareAccount(none, addr)
	if err != nil {
		t.Fatalf("prepare account: %v", err)
	}
	return &chain{t: t, machine: tvm.NewTVM(), cfg: loadChainConfig(t), addr: addr, acc: acc, now: uint32(chainNow.Unix()), lt: 1_000_000}
}

func (c *chain) run(msgCell *cell.Cell) *tvm.TransactionExecutionResult {
	c.t.Helper()
	block, err := c.cfg.NewBlockContext(tvm.BlockOptions{Now: c.now, RandSeed: make([]byte, 32)})
	if err != nil {
		c.t.Fatalf("block: %v", err)
	}
	msg, err := tvm.PrepareMessage(msgCell)
	if err != nil {
		c.t.Fatalf("prepare message: %v", err)
	}
	c.lt += 1000
	res, err := c.machine.EmulateTransaction(block, c.acc, msg, tvm.TransactionOptions{LogicalTime: int64(c.lt)})
	if err != nil {
		c.t.Fatalf("emulate: %v", err)
	}
	if res.NextAccount != nil {
		c.acc = res.NextAccount
		c.lt = res.EndLT
	}
	return res
}

func (c *chain) internal(from *address.Address, value uint64, body *cell.Cell, si *tlb.StateInit) *tvm.TransactionExecutionResult {
	c.t.Helper()
	m, err := tlb.ToCell(&tlb.InternalMessage{
		IHRDisabled: true, Bounce: si == nil, SrcAddr: from, DstAddr: c.addr,
		Amount: tlb.FromNanoTONU(value), CreatedLT: c.lt, CreatedAt: c.now, StateInit: si, Body: body,
	})
	if err != nil {
		c.t.Fatalf("internal message: %v", err)
	}
	return c.run(m)
}

func (c *chain) external(m *tlb.ExternalMessage) *tvm.TransactionExecutionResult {
	c.t.Helper()
	mc, err := tlb.ToCell(m)
	if err != nil {
		c.t.Fatalf("external message: %v", err)
	}
	return c.run(mc)
}

func (c *chain) state() State {
	c.t.Helper()
	st := c.acc.State()
	if st == nil || st.StateInit == nil {
		c.t.Fatal("escrow account has no state")
	}
	s, err := ParseData(st.StateInit.Data)
	if err != nil {
		c.t.Fatalf("parse data: %v", err)
	}
	return s
}

func (c *chain) balance() *big.Int { return c.acc.State().Balance.Nano() }

type fixture struct {
	params   Params
	addr     *address.Address
	priv     ed25519.PrivateKey
	client   *address.Address
	treasury *address.Address
	c        *chain
}

func newFixture(t *testing.T, escrowID uint32) *fixture {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	client := address.NewAddress(0, 0, filledBytes(0xc1))
	treasury := address.NewAddress(0, 0, filledBytes(0x7e))
	p := Params{Client: client, Treasury: treasury, ServiceKey: priv.Public().(ed25519.PublicKey), CloseDelay: time.Hour, EscrowID: escrowID}
	addr, err := Address(p)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{params: p, addr: addr, priv: priv, client: client, treasury: treasury, c: newChain(t, addr)}
}

func filledBytes(b byte) []byte {
	out := make([]byte, 32)
	for i := range out {
		out[i] = b
	}
	return out
}

func (f *fixture) deploy(t *testing.T, value uint64) {
	t.Helper()
	si, err := StateInit(f.params)
	if err != nil {
		t.Fatal(err)
	}
	res := f.c.internal(f.client, value, DepositBody(5), si)
	if res.ExitCode != 0 || f.c.acc.State().Status != tlb.AccountStatusActive {
		t.Fatalf("deploy+deposit: exit %d, status %s", res.ExitCode, f.c.acc.State().Status)
	}
}

func (f *fixture) redeem(t *testing.T, v Voucher, priv ed25519.PrivateKey, queryID uint64) *tvm.TransactionExecutionResult {
	t.Helper()
	sig, err := v.Sign(priv)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ExternalRedeem(v, sig, queryID)
	if err != nil {
		t.Fatal(err)
	}
	m.DstAddr = f.addr // the escrow we run, whichever escrow the voucher names
	return f.c.external(m)
}

func paymentTo(t *testing.T, res *tvm.TransactionExecutionResult, to *address.Address) (*tlb.InternalMessage, bool) {
	t.Helper()
	for _, om := range res.OutMessages {
		im, ok := om.Msg.Msg.(*tlb.InternalMessage)
		if ok && im.DstAddr.Equals(to) {
			return im, true
		}
	}
	return nil, false
}

func TestTVMDepositThenRedeemPaysTreasury(t *testing.T) {
	f := newFixture(t, 0)
	f.deploy(t, 10*tonNano)
	if got := f.c.balance(); got.Cmp(new(big.Int).SetUint64(9*tonNano)) < 0 {
		t.Fatalf("balance after deposit %s", got)
	}

	v1 := Voucher{Escrow: f.addr, Cumulative: tonNano, Seqno: 1, Expiry: chainNow.Add(10 * time.Minute)}
	res := f.redeem(t, v1, f.priv, 77)
	if !res.Accepted || res.ExitCode != 0 {
		t.Fatalf("redeem: accepted %v exit %s", res.Accepted, ExitCode(res.ExitCode))
	}
	pay, ok := paymentTo(t, res, f.treasury)
	if !ok {
		t.Fatalf("no payment to the treasury among %d messages", len(res.OutMessages))
	}
	if got := pay.Amount.Nano().Uint64(); got != tonNano {
		t.Fatalf("treasury got %d nanoTON, want %d", got, tonNano)
	}
	if pay.Bounce {
		t.Error("payment to the treasury must be non-bounceable")
	}
	r, err := ParseRedeemed(pay.Body)
	if err != nil {
		t.Fatal(err)
	}
	if r != (Redeemed{QueryID: 77, Seqno: 1, Cumulative: tonNano}) {
		t.Fatalf("redeemed body %+v", r)
	}
	if st := f.c.state(); st.Seqno != 1 || st.Redeemed != tonNano || !st.Params.Client.Equals(f.client) {
		t.Fatalf("state after redeem %+v", st)
	}

	// the next voucher pays only the difference
	v2 := Voucher{Escrow: f.addr, Cumulative: 3 * tonNano, Seqno: 2, Expiry: chainNow.Add(10 * time.Minute)}
	res = f.redeem(t, v2, f.priv, 78)
	pay, ok = paymentTo(t, res, f.treasury)
	if !res.Accepted || !ok || pay.Amount.Nano().Uint64() != 2*tonNano {
		t.Fatalf("second redeem: accepted %v exit %s payment %v", res.Accepted, ExitCode(res.ExitCode), pay)
	}
	if st := f.c.state(); st.Seqno != 2 || st.Redeemed != 3*tonNano {
		t.Fatalf("state after second redeem %+v", st)
	}
}

func TestTVMRefusesBadVouchers(t *testing.T) {
	f := newFixture(t, 0)
	f.deploy(t, 10*tonNano)
	exp := chainNow.Add(10 * time.Minute)
	v1 := Voucher{Escrow: f.addr, Cumulative: tonNano, Seqno: 1, Expiry: exp}
	if res := f.redeem(t, v1, f.priv, 1); !res.Accepted {
		t.Fatalf("first redeem refused: %s", ExitCode(res.ExitCode))
	}

	otherKey := ed25519.NewKeyFromSeed(filledBytes(9))
	otherEscrow, err := Address(Params{Client: f.client, Treasury: f.treasury, ServiceKey: f.params.ServiceKey, CloseDelay: time.Hour, EscrowID: 1})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		v        Voucher
		priv     ed25519.PrivateKey
		wantExit ExitCode
	}{
		{"replayed voucher", v1, f.priv, ExitSeqnoNotIncreasing},
		{"new seqno, same amount", Voucher{Escrow: f.addr, Cumulative: tonNano, Seqno: 2, Expiry: exp}, f.priv, ExitCumulativeNotIncreasing},
		{"wrong key", Voucher{Escrow: f.addr, Cumulative: 2 * tonNano, Seqno: 2, Expiry: exp}, otherKey, ExitBadSignature},
		{"another escrow's voucher", Voucher{Escrow: otherEscrow, Cumulative: 2 * tonNano, Seqno: 2, Expiry: exp}, f.priv, ExitWrongEscrow},
		{"expired", Voucher{Escrow: f.addr, Cumulative: 2 * tonNano, Seqno: 2, Expiry: chainNow.Add(-time.Second)}, f.priv, ExitVoucherExpired},
		{"over balance", Voucher{Escrow: f.addr, Cumulative: 100 * tonNano, Seqno: 2, Expiry: exp}, f.priv, ExitOverBalance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.c.balance()
			res := f.redeem(t, tt.v, tt.priv, 2)
			if res.Accepted {
				t.Fatal("external redeem accepted")
			}
			if ExitCode(res.ExitCode) != tt.wantExit {
				t.Fatalf("exit %s, want %s", ExitCode(res.ExitCode), tt.wantExit)
			}
			if len(res.OutMessages) != 0 || f.c.balance().Cmp(before) != 0 {
				t.Fatal("a refused external redeem must not move money")
			}
			if st := f.c.state(); st.Seqno != 1 || st.Redeemed != tonNano {
				t.Fatalf("state changed: %+v", st)
			}
		})
	}

	// The same replay sent as an internal message is refused too and bounces the attached value.
	t.Run("replayed voucher, internal", func(t *testing.T) {
		sig, _ := v1.Sign(f.priv)
		body, err := RedeemBody(v1, sig, 3)
		if err != nil {
			t.Fatal(err)
		}
		service := address.NewAddress(0, 0, filledBytes(0x5e))
		res := f.c.internal(service, tonNano/10, body, nil)
		if ExitCode(res.ExitCode) != ExitSeqnoNotIncreasing {
			t.Fatalf("exit %s", ExitCode(res.ExitCode))
		}
		if _, paid := paymentTo(t, res, f.treasury); paid {
			t.Fatal("paid the treasury on a replay")
		}
		if _, bounced := paymentTo(t, res, service); !bounced {
			t.Fatal("attached value not bounced back")
		}
	})
}

func TestEmbeddedCodeMatchesBuild(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "build", "escrow.boc"))
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != string(codeBOC) {
		t.Fatal("contracts/escrow/escrow.boc differs from contracts/build/escrow.boc: run npm run build in contracts/_js")
	}
	hash, err := os.ReadFile(filepath.Join("..", "build", "escrow.code-hash"))
	if err != nil {
		t.Fatal(err)
	}
	if got := hexHash(CodeHash()) + "\n"; got != string(hash) {
		t.Fatalf("code hash %q, build says %q", got, hash)
	}
}

func TestInputValidation(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	a := address.NewAddress(0, 0, filledBytes(1))
	good := Params{Client: a, Treasury: a, ServiceKey: pub, CloseDelay: time.Hour}
	bad := map[string]Params{
		"nil client":          {Treasury: a, ServiceKey: pub},
		"none treasury":       {Client: a, Treasury: address.NewAddressNone(), ServiceKey: pub},
		"short key":           {Client: a, Treasury: a, ServiceKey: pub[:31]},
		"fractional delay":    {Client: a, Treasury: a, ServiceKey: pub, CloseDelay: 1500 * time.Millisecond},
		"negative delay":      {Client: a, Treasury: a, ServiceKey: pub, CloseDelay: -time.Second},
		"delay over uint32 s": {Client: a, Treasury: a, ServiceKey: pub, CloseDelay: (1 << 32) * time.Second},
	}
	if _, err := Address(good); err != nil {
		t.Fatalf("good params: %v", err)
	}
	for name, p := range bad {
		if _, err := Address(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	addr, _ := Address(good)
	badVouchers := map[string]Voucher{
		"no escrow":       {Cumulative: 1, Seqno: 1, Expiry: chainNow},
		"zero expiry":     {Escrow: addr, Cumulative: 1, Seqno: 1},
		"expiry too late": {Escrow: addr, Cumulative: 1, Seqno: 1, Expiry: time.Unix(1<<32, 0)},
	}
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	for name, v := range badVouchers {
		if _, err := v.Sign(priv); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	v := Voucher{Escrow: addr, Cumulative: 1, Seqno: 1, Expiry: chainNow}
	if _, err := RedeemBody(v, make([]byte, 63), 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("short signature: %v", err)
	}
	if _, err := ParseRedeemed(DepositBody(1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseRedeemed(deposit body): %v", err)
	}
}
