package ton

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	liteapi "github.com/xssnick/tonutils-go/ton"
)

// maxScan bounds how many wallet transactions Settle reads looking for one
// batch.
const maxScan = 5000

// Settle drives every open batch forward: it finishes reserving and signing
// planned ones, confirms signed ones whose transaction is on chain, fails
// those proven never to execute (the wallet's seqno moved past them, or they
// expired), and re-sends the stored message of the rest. Safe to repeat and
// to run after a crash.
func (p *Payer) Settle(ctx context.Context) error {
	open, err := p.cfg.Store.OpenBatches(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range open {
		if err := p.settle(ctx, b); err != nil {
			errs = append(errs, fmt.Errorf("payout batch %s: %w", b.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (p *Payer) settle(ctx context.Context, b *Batch) error {
	if b.State != BatchSigned {
		return p.advance(ctx, b)
	}
	master, err := p.cfg.Chain.CurrentMasterchainInfo(ctx)
	if err != nil {
		return fmt.Errorf("ton masterchain info: %w", err)
	}
	hot, err := p.cfg.Chain.GetAccount(ctx, master, p.cfg.Wallet.Address())
	if err != nil {
		return fmt.Errorf("hot wallet account: %w", err)
	}
	tx, err := p.findTx(ctx, hot, b)
	if err != nil {
		return err
	}
	if tx != nil {
		return p.finish(ctx, b, tx)
	}
	// Not executed as of this account state. Both checks below read the same
	// state the search did, so the message cannot have slipped in between.
	seqno, _, err := walletSeqno(hot)
	if err != nil {
		return err
	}
	if seqno > b.Seqno {
		return p.fail(ctx, b, fmt.Sprintf("wallet seqno is %d, past the batch's %d, without it", seqno, b.Seqno))
	}
	now := p.cfg.Now().Unix()
	if deadline := b.ValidUntil + int64(p.cfg.ExpiryMargin/time.Second); now > deadline {
		// Expired by our clock; make sure the chain agrees, so a fast local
		// clock cannot make us give up on a message that may still land.
		chainNow, err := p.cfg.Chain.GetTime(ctx)
		if err != nil {
			return fmt.Errorf("liteserver time: %w", err)
		}
		if int64(chainNow) > deadline {
			return p.fail(ctx, b, "the message expired without executing")
		}
		return nil
	}
	if now-b.SentAt >= int64(p.cfg.ResendAfter/time.Second) {
		return p.send(ctx, b)
	}
	return nil
}

// findTx looks for the wallet transaction whose inbound external message is
// the batch's, among the transactions after the batch was signed.
func (p *Payer) findTx(ctx context.Context, hot *tlb.Account, b *Batch) (*tlb.Transaction, error) {
	addr := p.cfg.Wallet.Address()
	lt, hash := hot.LastTxLT, hot.LastTxHash
	for scanned := 0; lt > b.AfterLT; {
		page, err := p.cfg.Chain.ListTransactions(ctx, addr, 16, lt, hash)
		if errors.Is(err, liteapi.ErrNoTransactionsWereFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("hot wallet transactions: %w", err)
		}
		if len(page) == 0 {
			return nil, nil
		}
		for i := len(page) - 1; i >= 0; i-- {
			tx := page[i]
			if tx.LT <= b.AfterLT {
				return nil, nil
			}
			if tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeExternalIn &&
				hex.EncodeToString(tx.IO.In.AsExternalIn().NormalizedHash()) == b.MsgHash {
				return tx, nil
			}
		}
		if scanned += len(page); scanned > maxScan {
			return nil, fmt.Errorf("batch message not within the last %d wallet transactions", maxScan)
		}
		lt, hash = page[0].PrevTxLT, page[0].PrevTxHash
	}
	return nil, nil
}

// finish confirms each payout the transaction sent and fails the ones it did
// not (the wallet skips a transfer it cannot afford).
func (p *Payer) finish(ctx context.Context, b *Batch, tx *tlb.Transaction) error {
	var outs []tlb.Message
	if tx.IO.Out != nil {
		var err error
		if outs, err = tx.IO.Out.ToSlice(); err != nil {
			return fmt.Errorf("payout transaction %x: %w", tx.Hash, err)
		}
	}
	for i := range b.Payouts {
		po := &b.Payouts[i]
		if po.State != PayoutReserved {
			continue
		}
		if sent(outs, po) {
			if err := p.cfg.Ledger.ConfirmPayout(ctx, po.Worker, po.ID); err != nil {
				return fmt.Errorf("confirm payout %s: %w", po.ID, err)
			}
			po.State = PayoutPaid
			continue
		}
		if err := p.cfg.Ledger.FailPayout(ctx, po.Worker, po.ID); err != nil {
			return fmt.Errorf("fail payout %s: %w", po.ID, err)
		}
		po.State = PayoutFailed
		p.log.Warn("payout not sent by its transaction", "payout", po.ID, "worker", po.Worker, "amount", po.Amount)
	}
	b.State, b.TxHash = BatchDone, hex.EncodeToString(tx.Hash)
	if err := p.cfg.Store.SaveBatch(ctx, b); err != nil {
		return err
	}
	p.log.Info("payout batch confirmed", "batch", b.ID, "tx", b.TxHash)
	return nil
}

// fail gives every reserved payout of a batch that can never execute back to
// its worker.
func (p *Payer) fail(ctx context.Context, b *Batch, why string) error {
	for i := range b.Payouts {
		po := &b.Payouts[i]
		if po.State != PayoutReserved {
			continue
		}
		if err := p.cfg.Ledger.FailPayout(ctx, po.Worker, po.ID); err != nil {
			return fmt.Errorf("fail payout %s: %w", po.ID, err)
		}
		po.State = PayoutFailed
	}
	b.State, b.Note = BatchDone, why
	if err := p.cfg.Store.SaveBatch(ctx, b); err != nil {
		return err
	}
	p.log.Warn("payout batch failed", "batch", b.ID, "why", why)
	return nil
}

// sent reports whether outs holds the transfer paying po.
func sent(outs []tlb.Message, po *Payout) bool {
	to, err := address.ParseAddr(po.To)
	if err != nil {
		return false
	}
	for _, m := range outs {
		if m.MsgType != tlb.MsgTypeInternal {
			continue
		}
		in := m.AsInternal()
		if in.DstAddr.Equals(to) && in.Amount.Nano().Cmp(big.NewInt(po.Amount)) == 0 && in.Comment() == PayoutComment(po.ID) {
			return true
		}
	}
	return false
}
