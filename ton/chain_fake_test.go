package ton

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	liteapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// fakeChain is a Chain over real serialized transactions. Accounts either
// replay stored transactions (deposit history from testdata) or run live in
// the TVM emulator: SendExternalMessage executes the message on the
// destination wallet and delivers its outgoing internal messages.
type fakeChain struct {
	mu       sync.Mutex
	emu      *emulator
	accounts map[string]*fakeAccount
	// onSend, when set, decides what happens to an external message:
	// apply it or not, and what error the sender sees.
	onSend func(n int) (apply bool, err error)
	sends  int
}

type fakeAccount struct {
	addr    *address.Address
	shard   *tlb.ShardAccount // live accounts only
	txs     []*cell.Cell      // oldest first
	visible int               // how many of txs the chain shows
}

func newFakeChain(emu *emulator) *fakeChain {
	return &fakeChain{emu: emu, accounts: map[string]*fakeAccount{}}
}

func (f *fakeChain) account(addr *address.Address) *fakeAccount {
	a := f.accounts[addr.StringRaw()]
	if a == nil {
		a = &fakeAccount{addr: addr}
		f.accounts[addr.StringRaw()] = a
	}
	return a
}

// replay serves txs (oldest first) as addr's history, showing the first n.
func (f *fakeChain) replay(addr *address.Address, txs []*cell.Cell, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.account(addr)
	a.txs, a.visible = txs, n
}

// reveal shows the first n stored transactions of addr.
func (f *fakeChain) reveal(addr *address.Address, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.account(addr).visible = n
}

func (f *fakeChain) CurrentMasterchainInfo(context.Context) (*liteapi.BlockIDExt, error) {
	return &liteapi.BlockIDExt{Workchain: -1, Shard: -1 << 63, SeqNo: 1}, nil
}

func (f *fakeChain) GetTime(context.Context) (uint32, error) {
	return f.emu.now(), nil
}

func (f *fakeChain) GetAccount(_ context.Context, _ *liteapi.BlockIDExt, addr *address.Address) (*tlb.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accounts[addr.StringRaw()]
	if a == nil || a.visible == 0 {
		return &tlb.Account{IsActive: false}, nil
	}
	head, err := parseTx(a.txs[a.visible-1])
	if err != nil {
		return nil, err
	}
	acc := &tlb.Account{IsActive: true, LastTxLT: head.LT, LastTxHash: head.Hash}
	if a.shard != nil {
		var st tlb.AccountState
		if err := tlb.Parse(&st, a.shard.Account); err != nil {
			return nil, err
		}
		acc.IsActive, acc.State = st.IsValid, &st
		if st.Status == tlb.AccountStatusActive {
			acc.Code, acc.Data = st.StateInit.Code, st.StateInit.Data
		}
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
	for i := a.visible - 1; i >= 0; i-- {
		tx, err := parseTx(a.txs[i])
		if err != nil {
			return nil, err
		}
		if tx.LT != lt {
			continue
		}
		if !bytes.Equal(tx.Hash, txHash) {
			return nil, errors.New("incorrect transaction hash, not matches prev tx hash")
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
		if err := f.execute(msg.DstAddr, c, true, 0); err != nil {
			return err
		}
	}
	return sendErr
}

// execute runs one inbound message on dst's live state, records the
// transaction and delivers the outgoing internal messages.
func (f *fakeChain) execute(dst *address.Address, msg *cell.Cell, external bool, depth int) error {
	a := f.account(dst)
	res, err := f.emu.apply(a.shard, dst, msg)
	if err != nil {
		return fmt.Errorf("fake chain: %w", err)
	}
	if external && !res.Accepted {
		return errors.New("fake chain: external message was not accepted by the wallet")
	}
	a.shard = res.NextAccount.ShardAccount()
	a.txs = append(a.txs[:a.visible], res.TransactionCell)
	a.visible = len(a.txs)
	if depth > 3 {
		return nil
	}
	for _, out := range res.OutMessages {
		if out.Msg.MsgType != tlb.MsgTypeInternal {
			continue
		}
		if err := f.execute(out.Msg.AsInternal().DstAddr, out.Cell, false, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// fund makes addr a live account holding nano (as if somebody sent it TON).
func (f *fakeChain) fund(addr *address.Address, nano uint64, from *address.Address) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.execute(addr, f.emu.internalMsg(from, addr, nano, false, false, nil), false, 0); err != nil {
		panic(err)
	}
}

// transactions returns addr's visible transactions, oldest first.
func (f *fakeChain) transactions(addr *address.Address) []*tlb.Transaction {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accounts[addr.StringRaw()]
	if a == nil {
		return nil
	}
	var out []*tlb.Transaction
	for _, c := range a.txs[:a.visible] {
		tx, err := parseTx(c)
		if err != nil {
			panic(err)
		}
		out = append(out, tx)
	}
	return out
}

func parseTx(c *cell.Cell) (*tlb.Transaction, error) {
	var tx tlb.Transaction
	if err := tlb.Parse(&tx, c); err != nil {
		return nil, fmt.Errorf("parse transaction: %w", err)
	}
	tx.Hash = c.Hash()
	return &tx, nil
}
