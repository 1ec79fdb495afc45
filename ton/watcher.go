package ton

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	liteapi "github.com/xssnick/tonutils-go/ton"
)

// ErrCursor reports a saved cursor that is not on the account's transaction
// chain; the watcher stops rather than guess.
var ErrCursor = errors.New("ton deposit cursor is not on the account's transaction chain")

// WatcherConfig configures a deposit Watcher. Zero values mean the defaults.
type WatcherConfig struct {
	Chain     Chain
	Address   *address.Address // the deposit account
	Cursors   CursorStore
	Ledger    Ledger
	Unmatched UnmatchedStore
	// KnownUser, when set, refuses valid memos of users it does not know
	// (recorded as ReasonUnknownUser).
	KnownUser    func(ctx context.Context, user string) (bool, error)
	PollInterval time.Duration // default 5s
	PageSize     uint32        // transactions per ListTransactions call, default 16
	MaxBacklog   int           // transactions handled per poll at most, default 10000
	Logger       *slog.Logger  // default slog.Default()
}

// Watcher credits incoming TON transfers to the deposit account exactly once:
// it walks new transactions oldest first from a persisted (lt, hash) cursor,
// credits each by transaction hash, records the rest for manual refund, and
// saves the cursor after each transaction. A crash between a credit and the
// cursor save repeats the credit, which the ledger ignores (same opID).
type Watcher struct {
	cfg WatcherConfig
	log *slog.Logger
}

// NewWatcher checks cfg and fills in defaults.
func NewWatcher(cfg WatcherConfig) (*Watcher, error) {
	if cfg.Chain == nil || cfg.Address == nil || cfg.Cursors == nil || cfg.Ledger == nil || cfg.Unmatched == nil {
		return nil, errors.New("ton watcher: Chain, Address, Cursors, Ledger and Unmatched are required")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 16
	}
	if cfg.MaxBacklog <= 0 {
		cfg.MaxBacklog = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Watcher{cfg: cfg, log: cfg.Logger.With("component", "ton-watcher", "addr", cfg.Address.String())}, nil
}

// Run polls until ctx is done. Errors are logged and retried at the next
// poll; nothing is lost because the cursor only moves past handled
// transactions.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	for {
		if _, err := w.Poll(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("deposit poll failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Poll handles every transaction newer than the cursor and returns how many
// it handled.
func (w *Watcher) Poll(ctx context.Context) (int, error) {
	cur, err := w.cfg.Cursors.LoadCursor(ctx, w.cfg.Address)
	if err != nil {
		return 0, err
	}
	txs, err := w.newTransactions(ctx, cur)
	if err != nil {
		return 0, err
	}
	for i, tx := range txs {
		if err := w.handle(ctx, tx); err != nil {
			return i, err
		}
		if err := w.cfg.Cursors.SaveCursor(ctx, w.cfg.Address, Cursor{LT: tx.LT, Hash: tx.Hash}); err != nil {
			return i, err
		}
	}
	return len(txs), nil
}

// handle credits or records one transaction. It is safe to repeat.
func (w *Watcher) handle(ctx context.Context, tx *tlb.Transaction) error {
	d := classify(tx)
	if d.skip {
		return nil
	}
	if d.rec.Reason == "" && w.cfg.KnownUser != nil {
		ok, err := w.cfg.KnownUser(ctx, d.user)
		if err != nil {
			return fmt.Errorf("ton deposit %s: look up user: %w", d.rec.TxHash, err)
		}
		if !ok {
			d.rec.Reason, d.rec.Detail = ReasonUnknownUser, "no user "+d.user
		}
	}
	if d.rec.Reason == "" {
		err := w.cfg.Ledger.Credit(ctx, d.user, d.rec.TxHash, CreditSource, d.amount)
		if err == nil {
			w.log.Info("ton deposit credited", "tx", d.rec.TxHash, "user", d.user, "amount", d.amount)
			return nil
		}
		if !errors.Is(err, ErrCreditRefused) {
			return fmt.Errorf("ton deposit %s: credit %s: %w", d.rec.TxHash, d.user, err)
		}
		d.rec.Reason, d.rec.Detail = ReasonRefused, err.Error()
	}
	added, err := w.cfg.Unmatched.RecordUnmatched(ctx, d.rec)
	if err != nil {
		return err
	}
	if added {
		w.log.Warn("ton transfer not credited; recorded for manual refund",
			"tx", d.rec.TxHash, "from", d.rec.From, "amount", d.rec.Amount, "reason", d.rec.Reason, "detail", d.rec.Detail)
	}
	return nil
}

// newTransactions returns the account's transactions after cur, oldest first.
func (w *Watcher) newTransactions(ctx context.Context, cur Cursor) ([]*tlb.Transaction, error) {
	master, err := w.cfg.Chain.CurrentMasterchainInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("ton masterchain info: %w", err)
	}
	acc, err := w.cfg.Chain.GetAccount(ctx, master, w.cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("ton deposit account: %w", err)
	}
	if acc.LastTxLT <= cur.LT {
		// Nothing new (or a liteserver behind the one we read the cursor from).
		if acc.LastTxLT == cur.LT && cur.LT != 0 && !bytes.Equal(acc.LastTxHash, cur.Hash) {
			return nil, fmt.Errorf("%w: lt %d", ErrCursor, cur.LT)
		}
		return nil, nil
	}
	var newest []*tlb.Transaction // newest first
	lt, hash := acc.LastTxLT, acc.LastTxHash
	for {
		page, err := w.cfg.Chain.ListTransactions(ctx, w.cfg.Address, w.cfg.PageSize, lt, hash)
		if err != nil {
			if errors.Is(err, liteapi.ErrNoTransactionsWereFound) {
				return nil, fmt.Errorf("ton deposit history ends at lt %d before the cursor (lt %d): %w", lt, cur.LT, err)
			}
			return nil, fmt.Errorf("ton list transactions: %w", err)
		}
		if len(page) == 0 {
			return nil, fmt.Errorf("ton list transactions at lt %d: empty page", lt)
		}
		for i := len(page) - 1; i >= 0; i-- {
			if tx := page[i]; tx.LT > cur.LT {
				newest = append(newest, tx)
				continue
			}
			// Reached the cursor inside the page: it must be the cursor itself.
			if !sameTx(page[i].LT, page[i].Hash, cur) {
				return nil, fmt.Errorf("%w: found lt %d where the cursor is lt %d", ErrCursor, page[i].LT, cur.LT)
			}
			return w.oldestFirst(newest), nil
		}
		if len(newest) > w.cfg.MaxBacklog {
			newest = newest[len(newest)-w.cfg.MaxBacklog:]
		}
		lt, hash = page[0].PrevTxLT, page[0].PrevTxHash
		if lt <= cur.LT {
			if cur.LT != 0 && !sameTx(lt, hash, cur) {
				return nil, fmt.Errorf("%w: walked back to lt %d, cursor is lt %d", ErrCursor, lt, cur.LT)
			}
			return w.oldestFirst(newest), nil
		}
	}
}

func sameTx(lt uint64, hash []byte, c Cursor) bool {
	return lt == c.LT && bytes.Equal(hash, c.Hash)
}

// oldestFirst turns the newest-first walk into handling order, keeping only
// the oldest MaxBacklog transactions (the rest come at the next poll).
func (w *Watcher) oldestFirst(txs []*tlb.Transaction) []*tlb.Transaction {
	if len(txs) > w.cfg.MaxBacklog {
		txs = txs[len(txs)-w.cfg.MaxBacklog:]
	}
	for i, j := 0, len(txs)-1; i < j; i, j = i+1, j-1 {
		txs[i], txs[j] = txs[j], txs[i]
	}
	return txs
}
