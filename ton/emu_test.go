package ton

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// configCell loads the blockchain config cell the TVM needs:
// testdata/config.boc, a mainnet config (global version 13) taken from
// tonutils-go v1.18.0's own replay fixtures. It is ours rather than
// contracts/testdata/config.boc so testdata/deposits.boc stays reproducible
// whatever happens to the contracts' copy.
func configCell(t testing.TB) *tvm.PreparedBlockchainConfig {
	t.Helper()
	b, err := os.ReadFile("testdata/config.boc")
	if err != nil {
		t.Fatal(err)
	}
	root, err := cell.FromBOC(b)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tvm.PrepareBlockchainConfig(root)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// emulator runs real transactions in tonutils-go's TVM with a controllable
// clock and strictly increasing logical times.
type emulator struct {
	mu      sync.Mutex
	cfg     *tvm.PreparedBlockchainConfig
	machine *tvm.TVM
	now     func() uint32
	lt      uint64
}

func newEmulator(t testing.TB, now func() uint32) *emulator {
	return &emulator{cfg: configCell(t), machine: tvm.NewTVM(), now: now, lt: 1_000_000}
}

// nextLT returns a fresh logical time (for created_lt of inbound messages).
func (e *emulator) nextLT() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lt += 1000
	return e.lt
}

// apply runs one transaction of the account in shard (nil: a new account).
func (e *emulator) apply(shard *tlb.ShardAccount, addr *address.Address, msg *cell.Cell) (*tvm.TransactionExecutionResult, error) {
	if shard == nil {
		shard = &tlb.ShardAccount{Account: cell.BeginCell().MustStoreBoolBit(false).EndCell(), LastTransHash: make([]byte, 32)}
	}
	block, err := e.cfg.NewBlockContext(tvm.BlockOptions{Now: e.now(), RandSeed: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		return nil, err
	}
	acc, err := tvm.PrepareAccount(shard, addr)
	if err != nil {
		return nil, err
	}
	pm, err := tvm.PrepareMessage(msg)
	if err != nil {
		return nil, err
	}
	return e.machine.EmulateTransaction(block, acc, pm, tvm.TransactionOptions{LogicalTime: int64(e.nextLT())})
}

// internalMsg builds an inbound internal message as another wallet would
// send it.
func (e *emulator) internalMsg(from, to *address.Address, nano uint64, bounce, bounced bool, body *cell.Cell) *cell.Cell {
	c, err := tlb.ToCell(&tlb.InternalMessage{
		IHRDisabled: true, Bounce: bounce, Bounced: bounced,
		SrcAddr: from, DstAddr: to, Amount: tlb.FromNanoTONU(nano),
		CreatedLT: e.nextLT(), CreatedAt: e.now(), Body: body,
	})
	if err != nil {
		panic(fmt.Sprintf("internal message: %v", err))
	}
	return c
}
