package escrowsvc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	liteapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-network/cocoon/ton"
)

// fakeChain is a ton.Chain whose accounts run live in tonutils-go's TVM:
// every message (internal from a test, or an external sent by the service)
// runs as a real transaction on its destination, and outgoing internal
// messages are delivered in turn. History is served from the real
// transaction cells.
type fakeChain struct {
	mu       sync.Mutex
	cfg      *tvm.PreparedBlockchainConfig
	machine  *tvm.TVM
	now      uint32
	lt       uint64
	accounts map[string]*fakeAccount
	// onSend decides what an external message does: apply it or not, and
	// what error the sender sees. nil applies it and reports acceptance.
	onSend func(n int) (apply bool, err error)
	sends  int
}

type fakeAccount struct {
	acc      *tvm.PreparedAccount
	txs      []*cell.Cell // oldest first
	received uint64       // nanoTON delivered by internal messages
}

var _ ton.Chain = (*fakeChain)(nil)

func newFakeChain(t testing.TB, now uint32) *fakeChain {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "contracts", "testdata", "config.boc"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := cell.FromBOC(raw)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tvm.PrepareBlockchainConfig(root)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeChain{cfg: cfg, machine: tvm.NewTVM(), now: now, lt: 1_000_000, accounts: map[string]*fakeAccount{}}
}

func (f *fakeChain) advance(sec uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now += sec
}

func (f *fakeChain) clock() uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeChain) account(addr *address.Address) *fakeAccount {
	a := f.accounts[addr.StringRaw()]
	if a == nil {
		none := &tlb.ShardAccount{Account: cell.BeginCell().MustStoreBoolBit(false).EndCell(), LastTransHash: make([]byte, 32)}
		acc, err := tvm.PrepareAccount(none, addr)
		if err != nil {
			panic(err)
		}
		a = &fakeAccount{acc: acc}
		f.accounts[addr.StringRaw()] = a
	}
	return a
}

// run executes msg on dst and delivers its outgoing internal messages.
func (f *fakeChain) run(dst *address.Address, msg *cell.Cell, depth int) (*tvm.TransactionExecutionResult, error) {
	a := f.account(dst)
	block, err := f.cfg.NewBlockContext(tvm.BlockOptions{Now: f.now, RandSeed: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		return nil, err
	}
	pm, err := tvm.PrepareMessage(msg)
	if err != nil {
		return nil, err
	}
	f.lt += 1000
	res, err := f.machine.EmulateTransaction(block, a.acc, pm, tvm.TransactionOptions{LogicalTime: int64(f.lt)})
	if err != nil {
		return nil, fmt.Errorf("emulate: %w", err)
	}
	if res.TransactionCell == nil || res.NextAccount == nil {
		return res, nil // an external message that was not accepted leaves no transaction
	}
	a.acc = res.NextAccount
	a.txs = append(a.txs, res.TransactionCell)
	f.lt = max(f.lt, res.EndLT)
	if pm := msgOf(msg); pm != nil && pm.MsgType == tlb.MsgTypeInternal {
		a.received += pm.AsInternal().Amount.Nano().Uint64()
	}
	if depth > 3 {
		return res, nil
	}
	for _, out := range res.OutMessages {
		if out.Msg.MsgType != tlb.MsgTypeInternal {
			continue
		}
		if _, err := f.run(out.Msg.AsInternal().DstAddr, out.Cell, depth+1); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func msgOf(c *cell.Cell) *tlb.Message {
	var m tlb.Message
	if err := tlb.LoadFromCell(&m, c.MustBeginParse()); err != nil {
		return nil
	}
	return &m
}

// internal sends value from from to to, as another wallet would.
func (f *fakeChain) internal(t testing.TB, from, to *address.Address, value uint64, bounce, bounced bool, body *cell.Cell, si *tlb.StateInit) *tvm.TransactionExecutionResult {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lt += 1000
	c, err := tlb.ToCell(&tlb.InternalMessage{
		IHRDisabled: true, Bounce: bounce, Bounced: bounced, SrcAddr: from, DstAddr: to,
		Amount: tlb.FromNanoTONU(value), CreatedLT: f.lt, CreatedAt: f.now, StateInit: si, Body: body,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.run(to, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// received is what internal messages delivered to addr in total.
func (f *fakeChain) received(addr *address.Address) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := f.accounts[addr.StringRaw()]; a != nil {
		return a.received
	}
	return 0
}

func (f *fakeChain) balance(addr *address.Address) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.account(addr).acc.State().Balance.Nano().Uint64()
}

func (f *fakeChain) txCount(addr *address.Address) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.account(addr).txs)
}

func (f *fakeChain) CurrentMasterchainInfo(context.Context) (*liteapi.BlockIDExt, error) {
	return &liteapi.BlockIDExt{Workchain: -1, Shard: -1 << 63, SeqNo: 1}, nil
}

func (f *fakeChain) GetTime(context.Context) (uint32, error) { return f.clock(), nil }

func (f *fakeChain) GetAccount(_ context.Context, _ *liteapi.BlockIDExt, addr *address.Address) (*tlb.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accounts[addr.StringRaw()]
	if a == nil || len(a.txs) == 0 {
		return &tlb.Account{IsActive: false}, nil
	}
	head, err := parseTx(a.txs[len(a.txs)-1])
	if err != nil {
		return nil, err
	}
	st := a.acc.State()
	acc := &tlb.Account{IsActive: st.IsValid, State: st, LastTxLT: head.LT, LastTxHash: head.Hash}
	if st.Status == tlb.AccountStatusActive && st.StateInit != nil {
		acc.Code, acc.Data = st.StateInit.Code, st.StateInit.Data
	}
	return acc, nil
}

func (f *fakeChain) ListTransactions(_ context.Context, addr *address.Address, num uint32, lt uint64, txHash []byte) ([]*tlb.Transaction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accounts[addr.StringRaw()]
	if a == nil {
		return nil, liteapi.ErrNoTransactionsWereFound
	}
	for i := len(a.txs) - 1; i >= 0; i-- {
		tx, err := parseTx(a.txs[i])
		if err != nil {
			return nil, err
		}
		if tx.LT != lt {
			continue
		}
		if !bytes.Equal(tx.Hash, txHash) {
			return nil, errors.New("incorrect transaction hash")
		}
		from := max(0, i-int(num)+1)
		out := make([]*tlb.Transaction, 0, i-from+1)
		for _, c := range a.txs[from : i+1] {
			t, err := parseTx(c)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
		return out, nil
	}
	return nil, liteapi.ErrNoTransactionsWereFound
}

func (f *fakeChain) SendExternalMessage(_ context.Context, msg *tlb.ExternalMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends++
	apply, sendErr := true, error(nil)
	if f.onSend != nil {
		apply, sendErr = f.onSend(f.sends)
	}
	if apply {
		c, err := tlb.ToCell(msg)
		if err != nil {
			return err
		}
		res, err := f.run(msg.DstAddr, c, 0)
		if err != nil {
			return err
		}
		if !res.Accepted && sendErr == nil {
			sendErr = fmt.Errorf("external message not accepted: exit code %d", res.ExitCode)
		}
	}
	return sendErr
}

func parseTx(c *cell.Cell) (*tlb.Transaction, error) {
	var tx tlb.Transaction
	if err := tlb.Parse(&tx, c); err != nil {
		return nil, fmt.Errorf("parse transaction: %w", err)
	}
	tx.Hash = c.Hash()
	return &tx, nil
}
