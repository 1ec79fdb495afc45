package escrowsvc

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	liteapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-network/cocoon/contracts/escrow"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/ton"
)

// ErrCursor reports a saved cursor that is not on the escrow's transaction
// chain; the service stops on that escrow rather than guess.
var ErrCursor = errors.New("escrowsvc: cursor is not on the escrow's transaction chain")

// maxBacklog bounds the transactions handled per escrow and poll.
const maxBacklog = 10000

// RedisCursors is a ton.CursorStore under cocoon:{escrow}:cursor:<raw addr>.
type RedisCursors struct{ rdb redis.UniversalClient }

var _ ton.CursorStore = RedisCursors{}

// LoadCursor implements ton.CursorStore.
func (c RedisCursors) LoadCursor(ctx context.Context, addr *address.Address) (ton.Cursor, error) {
	v, err := c.rdb.Get(ctx, keyCursor(addr)).Result()
	if errors.Is(err, redis.Nil) {
		return ton.Cursor{}, nil
	}
	if err != nil {
		return ton.Cursor{}, fmt.Errorf("load escrow cursor: %w", err)
	}
	lt, h, ok := strings.Cut(v, ":")
	n, err := strconv.ParseUint(lt, 10, 64)
	hash, herr := hex.DecodeString(h)
	if !ok || err != nil || herr != nil || len(hash) != 32 {
		return ton.Cursor{}, fmt.Errorf("load escrow cursor %s: malformed %q", keyCursor(addr), v)
	}
	return ton.Cursor{LT: n, Hash: hash}, nil
}

// saveCursorScript advances a cursor; LTs are 20-digit zero-padded, so string
// order is numeric order.
//
//	KEYS[1] cursor key
//	ARGV[1] "<lt, 20 digits>:<hash hex>"
//	returns 1 when saved, 0 when the stored cursor is already at or past ARGV[1]
var saveCursorScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, 20) >= string.sub(ARGV[1], 1, 20) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`)

// SaveCursor implements ton.CursorStore; it never moves a cursor back.
func (c RedisCursors) SaveCursor(ctx context.Context, addr *address.Address, cur ton.Cursor) error {
	v := fmt.Sprintf("%020d:%s", cur.LT, hex.EncodeToString(cur.Hash))
	if err := saveCursorScript.Run(ctx, c.rdb, []string{keyCursor(addr)}, v).Err(); err != nil {
		return fmt.Errorf("save escrow cursor: %w", err)
	}
	return nil
}

// scan handles the escrow's transactions after the cursor, oldest first,
// saving the cursor after each. A crash between handling and saving repeats
// the handling, which is idempotent (ledger op ids, records by tx hash).
func (s *Service) scan(ctx context.Context, st Status, acc *tlb.Account) error {
	cursors := RedisCursors{s.rdb}
	cur, err := cursors.LoadCursor(ctx, st.Address)
	if err != nil {
		return err
	}
	txs, err := s.newTransactions(ctx, st.Address, cur, acc)
	if err != nil {
		return err
	}
	for _, tx := range txs {
		if err := s.handleTx(ctx, st, tx); err != nil {
			return err
		}
		if err := cursors.SaveCursor(ctx, st.Address, ton.Cursor{LT: tx.LT, Hash: tx.Hash}); err != nil {
			return err
		}
	}
	return nil
}

// newTransactions walks back from the account's last transaction to the
// cursor and returns what lies after it, oldest first (ton.Watcher's walk).
func (s *Service) newTransactions(ctx context.Context, addr *address.Address, cur ton.Cursor, acc *tlb.Account) ([]*tlb.Transaction, error) {
	if acc.LastTxLT <= cur.LT {
		if acc.LastTxLT == cur.LT && cur.LT != 0 && !bytes.Equal(acc.LastTxHash, cur.Hash) {
			return nil, fmt.Errorf("%w: lt %d", ErrCursor, cur.LT)
		}
		return nil, nil
	}
	same := func(lt uint64, hash []byte) bool { return lt == cur.LT && bytes.Equal(hash, cur.Hash) }
	var newest []*tlb.Transaction
	lt, hash := acc.LastTxLT, acc.LastTxHash
	for {
		page, err := s.cfg.Chain.ListTransactions(ctx, addr, s.cfg.PageSize, lt, hash)
		if err != nil {
			if errors.Is(err, liteapi.ErrNoTransactionsWereFound) {
				return nil, fmt.Errorf("escrow history ends at lt %d before the cursor (lt %d): %w", lt, cur.LT, err)
			}
			return nil, fmt.Errorf("list transactions: %w", err)
		}
		if len(page) == 0 {
			return nil, fmt.Errorf("list transactions at lt %d: empty page", lt)
		}
		for i := len(page) - 1; i >= 0; i-- {
			if tx := page[i]; tx.LT > cur.LT {
				newest = append(newest, tx)
				continue
			}
			if !same(page[i].LT, page[i].Hash) {
				return nil, fmt.Errorf("%w: found lt %d where the cursor is lt %d", ErrCursor, page[i].LT, cur.LT)
			}
			return oldestFirst(newest), nil
		}
		lt, hash = page[0].PrevTxLT, page[0].PrevTxHash
		if lt <= cur.LT {
			if cur.LT != 0 && !same(lt, hash) {
				return nil, fmt.Errorf("%w: walked back to lt %d, cursor is lt %d", ErrCursor, lt, cur.LT)
			}
			return oldestFirst(newest), nil
		}
	}
}

func oldestFirst(txs []*tlb.Transaction) []*tlb.Transaction {
	if len(txs) > maxBacklog {
		txs = txs[len(txs)-maxBacklog:] // the oldest; the rest come at the next poll
	}
	for i, j := 0, len(txs)-1; i < j; i, j = i+1, j-1 {
		txs[i], txs[j] = txs[j], txs[i]
	}
	return txs
}

// computeOK reports whether the transaction ran the contract successfully
// and kept its effects (not aborted, not bounced back).
func computeOK(tx *tlb.Transaction) bool {
	d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
	if !ok || d.Aborted || d.BouncePhase != nil {
		return false
	}
	vm, ok := d.ComputePhase.Phase.(tlb.ComputePhaseVM)
	return ok && vm.Success
}

// bodyOp returns the body's opcode; an empty body (a plain transfer) is op 0.
func bodyOp(body *cell.Cell) uint32 {
	if body == nil {
		return 0
	}
	sl, err := body.BeginParse()
	if err != nil || sl.BitsLeft() < 32 {
		return 0
	}
	op, err := sl.LoadUInt(32)
	if err != nil {
		return 0
	}
	return uint32(op)
}

// handleTx applies one escrow transaction. It is safe to repeat.
func (s *Service) handleTx(ctx context.Context, st Status, tx *tlb.Transaction) error {
	txHash := hex.EncodeToString(tx.Hash)
	var out []tlb.Message
	if tx.IO.Out != nil {
		var err error
		if out, err = tx.IO.Out.ToSlice(); err != nil {
			return fmt.Errorf("tx %s: out messages: %w", txHash, err)
		}
	}
	// A payment to the treasury confirms a redeem, whoever sent the voucher.
	for _, m := range out {
		im, ok := m.Msg.(*tlb.InternalMessage)
		if !ok || !im.DstAddr.Equals(st.Params.Treasury) {
			continue
		}
		if r, err := escrow.ParseRedeemed(im.Body); err == nil {
			if err := s.noteRedeemed(ctx, st.User, r, tx.Now); err != nil {
				return err
			}
			s.log.Info("escrow redeemed", "user", st.User, "tx", txHash, "seqno", r.Seqno, "cumulative", r.Cumulative, "paid", im.Amount.Nano().String())
		}
	}
	if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
		return nil
	}
	in := tx.IO.In.AsInternal()
	if in.Bounced || !computeOK(tx) {
		s.log.Debug("escrow transaction not credited: bounced or failed", "user", st.User, "tx", txHash)
		return nil
	}
	switch op := bodyOp(in.Body); op {
	case 0, escrow.OpDeposit, escrow.OpRequestClose: // the attached value stays in the escrow
		return s.credit(ctx, st, tx, in, txHash)
	case escrow.OpWithdraw:
		var withdrawn uint64
		for _, m := range out {
			im, ok := m.Msg.(*tlb.InternalMessage)
			if ok && im.DstAddr.Equals(st.Params.Client) && bodyOp(im.Body) == escrow.OpWithdrawn {
				withdrawn += im.Amount.Nano().Uint64()
			}
		}
		return s.withdrawn(ctx, st.User, txHash, withdrawn, in.Amount.Nano().Uint64())
	}
	return nil // an internal redeem: its value went on to the treasury
}

// recordDepositScript records a credited deposit once.
//
//	KEYS[1] ops hash  KEYS[2] user hash
//	ARGV[1] op field  ARGV[2] nanoTON credited, or "refused"
//	returns 1 when recorded, 0 when it already was
var recordDepositScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if ARGV[2] ~= 'refused' then redis.call('HINCRBY', KEYS[2], 'credited', ARGV[2]) end
return 1
`)

// credit credits what a deposit left in the escrow: the attached value minus
// the transaction's fees (the deploying deposit pays for the deployment).
func (s *Service) credit(ctx context.Context, st Status, tx *tlb.Transaction, in *tlb.InternalMessage, txHash string) error {
	value, fees := in.Amount.Nano(), tx.TotalFees.Coins.Nano()
	net := new(big.Int).Sub(value, fees)
	if net.Sign() <= 0 {
		s.log.Warn("escrow deposit not credited: fees took it all", "user", st.User, "tx", txHash, "value", value.String(), "fees", fees.String())
		return nil
	}
	record := "refused"
	if net.IsInt64() {
		_, err := s.cfg.Ledger.Credit(ctx, st.User, txHash, ledger.SourceEscrow, net.Int64())
		switch {
		case err == nil:
			record = net.String()
		case permanent(err):
			s.log.Error("escrow deposit refused by the ledger; it stays in the escrow for the client", "user", st.User, "tx", txHash, "amount", net.String(), "err", err)
		default:
			return fmt.Errorf("credit deposit %s: %w", txHash, err)
		}
	}
	added, err := recordDepositScript.Run(ctx, s.rdb, []string{keyOps(st.User), keyUser(st.User)}, opDeposit(txHash), record).Int()
	if err != nil {
		return fmt.Errorf("record deposit %s: %w", txHash, err)
	}
	if added == 1 && record != "refused" {
		s.log.Info("escrow deposit credited", "user", st.User, "tx", txHash, "amount", record, "from", in.SrcAddr.StringRaw())
	}
	return nil
}

func permanent(err error) bool {
	for _, e := range []error{ledger.ErrInvalidAmount, ledger.ErrInvalidID, ledger.ErrInvalidSource, ledger.ErrConflict, ledger.ErrOverflow} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
