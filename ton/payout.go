package ton

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// PayoutLedger is the part of the ledger payouts move money in; every method
// is idempotent by payoutID. ReservePayout moves amount from the worker's
// earnings into a pending payout and fails when the earnings do not cover
// it; ConfirmPayout makes it final once the chain shows the transfer;
// FailPayout gives it back to the worker and is a no-op for an id that was
// never reserved. LedgerAdapter wraps package ledger.
type PayoutLedger interface {
	ReservePayout(ctx context.Context, worker, payoutID string, amount int64) error
	ConfirmPayout(ctx context.Context, worker, payoutID string) error
	FailPayout(ctx context.Context, worker, payoutID string) error
}

// Due is what a worker is owed and where to send it.
type Due struct {
	Worker string
	To     string // the worker's TON address, user-friendly or raw
	Amount int64  // nanoTON
}

// DueSource lists workers' unpaid earnings (the ledger, joined with the
// workers' payout addresses).
type DueSource interface {
	DuePayouts(ctx context.Context) ([]Due, error)
}

// PayoutState is the state of one payout inside a batch.
type PayoutState string

const (
	PayoutPlanned  PayoutState = "planned"  // recorded, not reserved yet
	PayoutReserved PayoutState = "reserved" // reserved in the ledger, in the signed message
	PayoutDropped  PayoutState = "dropped"  // the ledger refused the reservation; nothing sent
	PayoutPaid     PayoutState = "paid"     // found on chain and confirmed
	PayoutFailed   PayoutState = "failed"   // proven never to execute; given back to the worker
)

// Payout is one transfer to a worker. Its comment names its id.
type Payout struct {
	ID     string      `json:"id"`
	Worker string      `json:"worker"`
	To     string      `json:"to"`
	Amount int64       `json:"amount"` // nanoTON
	Bounce bool        `json:"bounce"`
	State  PayoutState `json:"state"`
}

// BatchState is the state of a payout batch.
type BatchState string

const (
	BatchPlanned BatchState = "planned" // payouts recorded; reserving
	BatchSigned  BatchState = "signed"  // the signed message is stored and may be on its way
	BatchDone    BatchState = "done"    // every payout is paid, failed or dropped
)

// Batch is the payouts one external message of the hot wallet carries. Once
// signed, only the stored BOC is ever sent, so re-sending can never pay
// twice: the wallet's seqno lets one copy through.
type Batch struct {
	ID         string     `json:"id"`
	Version    int64      `json:"v"`
	State      BatchState `json:"state"`
	Created    int64      `json:"created"`
	Payouts    []Payout   `json:"payouts"`
	Seqno      uint32     `json:"seqno,omitempty"`
	ValidUntil int64      `json:"valid_until,omitempty"`
	AfterLT    uint64     `json:"after_lt,omitempty"` // the wallet's last LT when signed
	BOC        []byte     `json:"boc,omitempty"`      // the signed external message
	MsgHash    string     `json:"msg_hash,omitempty"` // its normalized hash, hex
	SentAt     int64      `json:"sent_at,omitempty"`
	TxHash     string     `json:"tx,omitempty"` // the wallet transaction that carried it
	Note       string     `json:"note,omitempty"`
}

// ErrPayoutInFlight is returned by Pay while an earlier batch is not done:
// one batch at a time keeps the wallet's seqno unambiguous.
var ErrPayoutInFlight = errors.New("a payout batch is still in flight")

// PayerConfig configures a Payer. Zero values mean the defaults.
type PayerConfig struct {
	Chain        Chain
	Wallet       *HotWallet
	Ledger       PayoutLedger
	Store        PayoutStore
	Threshold    int64         // pay only amounts of at least this (default 1 TON)
	MaxBatch     int           // payouts per message (default 100, at most 255)
	MessageTTL   time.Duration // validity of a signed message (default 2m)
	ExpiryMargin time.Duration // wait past valid_until before failing (default 3m)
	ResendAfter  time.Duration // re-send the same message after (default 30s)
	Interval     time.Duration // Run's period (default 30s)
	Now          func() time.Time
	Logger       *slog.Logger
}

// Payer pays workers from the hot wallet in batches. The ledger reservation
// and the batch record come before anything is signed, the signed message is
// stored before it is sent, and payouts are confirmed only when the wallet
// transaction carrying that message is found on chain.
type Payer struct {
	cfg PayerConfig
	log *slog.Logger
}

// NewPayer checks cfg and fills in defaults.
func NewPayer(cfg PayerConfig) (*Payer, error) {
	if cfg.Chain == nil || cfg.Wallet == nil || cfg.Ledger == nil || cfg.Store == nil {
		return nil, errors.New("ton payer: Chain, Wallet, Ledger and Store are required")
	}
	if cfg.Threshold <= 0 {
		cfg.Threshold = DefaultPayoutThreshold
	}
	if cfg.MaxBatch <= 0 || cfg.MaxBatch > 255 {
		cfg.MaxBatch = 100
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.MessageTTL, 2*time.Minute)
	def(&cfg.ExpiryMargin, 3*time.Minute)
	def(&cfg.ResendAfter, 30*time.Second)
	def(&cfg.Interval, 30*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Payer{cfg: cfg, log: cfg.Logger.With("component", "ton-payer", "wallet", cfg.Wallet.Address().String())}, nil
}

// PayoutComment is the comment of the transfer paying payoutID.
func PayoutComment(payoutID string) string {
	return "cocoon payout " + payoutID
}

// Run settles open batches and starts a new one from src every Interval
// until ctx is done.
func (p *Payer) Run(ctx context.Context, src DueSource) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if err := p.Tick(ctx, src); err != nil && ctx.Err() == nil {
			p.log.Error("payout round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick is one round of Run: settle what is open, then pay what is due.
func (p *Payer) Tick(ctx context.Context, src DueSource) error {
	if err := p.Settle(ctx); err != nil {
		return err
	}
	due, err := src.DuePayouts(ctx)
	if err != nil {
		return fmt.Errorf("due payouts: %w", err)
	}
	_, err = p.Pay(ctx, due)
	if errors.Is(err, ErrPayoutInFlight) {
		return nil
	}
	return err
}

// Pay records a batch of the due amounts of at least Threshold, reserves
// them in the ledger, signs, stores and sends the message. It returns nil
// when nothing is due. A send failure leaves the batch to Settle.
func (p *Payer) Pay(ctx context.Context, due []Due) (*Batch, error) {
	open, err := p.cfg.Store.OpenBatches(ctx)
	if err != nil {
		return nil, err
	}
	if len(open) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrPayoutInFlight, open[0].ID)
	}
	b := &Batch{ID: newID("pb"), State: BatchPlanned, Created: p.cfg.Now().Unix()}
	seen := map[string]bool{}
	for _, d := range due {
		if len(b.Payouts) == p.cfg.MaxBatch {
			break
		}
		if d.Amount < p.cfg.Threshold || seen[d.Worker] {
			continue
		}
		to, err := p.cfg.Wallet.network.ParseAddress(d.To)
		if err != nil || to.Equals(p.cfg.Wallet.Address()) {
			p.log.Warn("worker payout address refused", "worker", d.Worker, "to", d.To, "err", err)
			continue
		}
		seen[d.Worker] = true
		b.Payouts = append(b.Payouts, Payout{ID: newID("po"), Worker: d.Worker, To: to.String(), Amount: d.Amount, State: PayoutPlanned})
	}
	if len(b.Payouts) == 0 {
		return nil, nil
	}
	if err := p.cfg.Store.SaveBatch(ctx, b); err != nil {
		return nil, err
	}
	p.log.Info("payout batch recorded", "batch", b.ID, "payouts", len(b.Payouts))
	return b, p.advance(ctx, b)
}

// advance reserves, signs and sends a batch that is not yet on its way.
func (p *Payer) advance(ctx context.Context, b *Batch) error {
	if b.State == BatchPlanned {
		if err := p.reserve(ctx, b); err != nil {
			return err
		}
		if !b.has(PayoutReserved) {
			b.State, b.Note = BatchDone, "no payout could be reserved"
			return p.cfg.Store.SaveBatch(ctx, b)
		}
		if err := p.sign(ctx, b); err != nil {
			return err
		}
	}
	if b.State == BatchSigned {
		return p.send(ctx, b)
	}
	return nil
}

// reserve takes each planned payout out of the worker's earnings. A refused
// reservation is released (FailPayout) and dropped from the batch.
func (p *Payer) reserve(ctx context.Context, b *Batch) error {
	for i := range b.Payouts {
		po := &b.Payouts[i]
		if po.State != PayoutPlanned {
			continue
		}
		err := p.cfg.Ledger.ReservePayout(ctx, po.Worker, po.ID, po.Amount)
		if err == nil {
			po.State = PayoutReserved
			continue
		}
		p.log.Warn("payout reservation refused", "payout", po.ID, "worker", po.Worker, "amount", po.Amount, "err", err)
		if ferr := p.cfg.Ledger.FailPayout(ctx, po.Worker, po.ID); ferr != nil {
			return fmt.Errorf("release payout %s after refused reservation (%v): %w", po.ID, err, ferr)
		}
		po.State = PayoutDropped
	}
	return p.cfg.Store.SaveBatch(ctx, b)
}

// sign builds and signs the batch's message and stores it. Nothing is sent
// before the store accepted it.
func (p *Payer) sign(ctx context.Context, b *Batch) error {
	master, err := p.cfg.Chain.CurrentMasterchainInfo(ctx)
	if err != nil {
		return fmt.Errorf("ton masterchain info: %w", err)
	}
	hot, err := p.cfg.Chain.GetAccount(ctx, master, p.cfg.Wallet.Address())
	if err != nil {
		return fmt.Errorf("hot wallet account: %w", err)
	}
	seqno, deployed, err := walletSeqno(hot)
	if err != nil {
		return err
	}
	var msgs []*wallet.Message
	for i := range b.Payouts {
		po := &b.Payouts[i]
		if po.State != PayoutReserved {
			continue
		}
		to, err := address.ParseAddr(po.To)
		if err != nil {
			return fmt.Errorf("payout %s: %w", po.ID, err)
		}
		rcpt, err := p.cfg.Chain.GetAccount(ctx, master, to)
		if err != nil {
			return fmt.Errorf("payout %s recipient account: %w", po.ID, err)
		}
		// Bounce only to deployed wallets: an uninitialised one would send
		// the value straight back.
		po.Bounce = to.IsBounceable() && rcpt.IsActive && rcpt.State != nil && rcpt.State.Status == tlb.AccountStatusActive
		m, err := p.cfg.Wallet.transfer(to, po.Amount, po.Bounce, PayoutComment(po.ID))
		if err != nil {
			return fmt.Errorf("payout %s: %w", po.ID, err)
		}
		msgs = append(msgs, m)
	}
	validUntil := p.cfg.Now().Add(p.cfg.MessageTTL)
	ext, err := p.cfg.Wallet.sign(seqno, !deployed, validUntil, msgs)
	if err != nil {
		return err
	}
	c, err := tlb.ToCell(ext)
	if err != nil {
		return fmt.Errorf("serialize payout message: %w", err)
	}
	b.State, b.Seqno, b.ValidUntil, b.AfterLT = BatchSigned, seqno, validUntil.Unix(), hot.LastTxLT
	b.BOC, b.MsgHash = c.ToBOC(), hex.EncodeToString(ext.NormalizedHash())
	if err := p.cfg.Store.SaveBatch(ctx, b); err != nil {
		return err
	}
	p.log.Info("payout batch signed", "batch", b.ID, "seqno", seqno, "msg_hash", b.MsgHash)
	return nil
}

// send sends the stored message, unless it has expired.
func (p *Payer) send(ctx context.Context, b *Batch) error {
	now := p.cfg.Now()
	if now.Unix() > b.ValidUntil {
		return nil
	}
	ext, err := b.message()
	if err != nil {
		return err
	}
	b.SentAt = now.Unix()
	if err := p.cfg.Store.SaveBatch(ctx, b); err != nil {
		return err
	}
	if err := p.cfg.Chain.SendExternalMessage(ctx, ext); err != nil {
		return fmt.Errorf("send payout batch %s (Settle retries it): %w", b.ID, err)
	}
	p.log.Info("payout batch sent", "batch", b.ID, "seqno", b.Seqno)
	return nil
}

func (b *Batch) message() (*tlb.ExternalMessage, error) {
	c, err := cell.FromBOC(b.BOC)
	if err != nil {
		return nil, fmt.Errorf("payout batch %s: stored message: %w", b.ID, err)
	}
	var ext tlb.ExternalMessage
	if err := tlb.Parse(&ext, c); err != nil {
		return nil, fmt.Errorf("payout batch %s: stored message: %w", b.ID, err)
	}
	return &ext, nil
}

func (b *Batch) has(s PayoutState) bool {
	for _, po := range b.Payouts {
		if po.State == s {
			return true
		}
	}
	return false
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

func newID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + "-" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}
