package escrowsvc

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/ton"
)

// Ledger is the part of the ledger the escrow service uses; *ledger.Ledger
// satisfies it. Credit and EscrowRefund are idempotent by their ids.
type Ledger interface {
	Credit(ctx context.Context, user, opID string, src ledger.Source, amount int64) (ledger.Receipt, error)
	EscrowRefund(ctx context.Context, user, refundID string, amount int64) (ledger.Receipt, error)
	Balance(ctx context.Context, user string) (ledger.Balance, error)
	Usage(ctx context.Context, user string, days int) ([]ledger.UsageRow, error)
}

var _ Ledger = (*ledger.Ledger)(nil)

// Defaults of Config.
const (
	DefaultMinCloseDelay = time.Hour
	DefaultMaxCloseDelay = 30 * 24 * time.Hour
	DefaultPollInterval  = 10 * time.Second
	DefaultRedeemEvery   = time.Hour
	DefaultMinRedeem     = 500_000_000 // 0.5 TON
	DefaultVoucherTTL    = 10 * time.Minute
	DefaultFeeMargin     = 5_000_000 // 0.005 TON: an external redeem's import, gas and forward fees
)

// Config configures a Service. Zero values mean the defaults.
type Config struct {
	Chain      ton.Chain             // required
	Redis      redis.UniversalClient // required; keys under cocoon:{escrow}:
	Ledger     Ledger                // required
	Treasury   *address.Address      // required: receives redeemed amounts
	ServiceKey ed25519.PrivateKey    // required: signs vouchers
	Workchain  int8                  // of new escrows (0)

	MinCloseDelay time.Duration // shortest close delay a client may register (1h): the time left to redeem after a close request
	MaxCloseDelay time.Duration // longest (30 days)
	PollInterval  time.Duration // between polls of every escrow (10s)
	RedeemEvery   time.Duration // redeem at least this often when anything is owed (1h)
	MinRedeem     int64         // redeem early once this much nanoTON is owed (0.5 TON)
	VoucherTTL    time.Duration // voucher expiry after the chain's time (10m)
	FeeMargin     uint64        // nanoTON left on the escrow, beyond escrow.MinReserve, for the redeem's own fees (0.005 TON)
	PageSize      uint32        // transactions per ListTransactions call (16)
	Now           func() time.Time
	Logger        *slog.Logger
}

// Service registers API clients' escrows, credits their deposits, redeems
// what they owe and records what they take back. Run one per deployment.
type Service struct {
	cfg Config
	rdb redis.UniversalClient
	pub ed25519.PublicKey
	log *slog.Logger
}

// New checks cfg and fills in defaults.
func New(cfg Config) (*Service, error) {
	if cfg.Chain == nil || cfg.Redis == nil || cfg.Ledger == nil {
		return nil, errors.New("escrowsvc: Chain, Redis and Ledger are required")
	}
	if cfg.Treasury == nil || cfg.Treasury.Type() != address.StdAddress {
		return nil, errors.New("escrowsvc: Treasury must be a standard address")
	}
	if len(cfg.ServiceKey) != ed25519.PrivateKeySize {
		return nil, errors.New("escrowsvc: ServiceKey must be an ed25519 private key")
	}
	if cfg.MinCloseDelay <= 0 {
		cfg.MinCloseDelay = DefaultMinCloseDelay
	}
	if cfg.MaxCloseDelay <= 0 {
		cfg.MaxCloseDelay = DefaultMaxCloseDelay
	}
	if cfg.MaxCloseDelay < cfg.MinCloseDelay {
		return nil, fmt.Errorf("escrowsvc: MaxCloseDelay %v below MinCloseDelay %v", cfg.MaxCloseDelay, cfg.MinCloseDelay)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.RedeemEvery <= 0 {
		cfg.RedeemEvery = DefaultRedeemEvery
	}
	if cfg.MinRedeem <= 0 {
		cfg.MinRedeem = DefaultMinRedeem
	}
	if cfg.VoucherTTL <= 0 {
		cfg.VoucherTTL = DefaultVoucherTTL
	}
	if cfg.FeeMargin == 0 {
		cfg.FeeMargin = DefaultFeeMargin
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 16
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{
		cfg: cfg, rdb: cfg.Redis,
		pub: cfg.ServiceKey.Public().(ed25519.PublicKey),
		log: cfg.Logger.With("component", "escrow"),
	}, nil
}

// Run polls every registered escrow until ctx is done. Errors are logged and
// retried at the next poll: cursors only move past handled transactions.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		if err := s.Poll(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("escrow poll failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Poll handles every registered escrow once: new transactions (deposits,
// redeem payments, withdrawals), the close state, and a redeem when one is
// due. One escrow's failure does not stop the others.
func (s *Service) Poll(ctx context.Context) error {
	users, err := s.Users(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range users {
		if err := s.PollUser(ctx, u); err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// PollUser handles user's escrow once (see Poll).
func (s *Service) PollUser(ctx context.Context, user string) error {
	st, err := s.Status(ctx, user)
	if err != nil {
		return err
	}
	master, err := s.cfg.Chain.CurrentMasterchainInfo(ctx)
	if err != nil {
		return fmt.Errorf("escrowsvc: masterchain info: %w", err)
	}
	acc, err := s.cfg.Chain.GetAccount(ctx, master, st.Address)
	if err != nil {
		return fmt.Errorf("escrowsvc: escrow %s of %s: %w", st.Address.StringRaw(), user, err)
	}
	if err := s.scan(ctx, st, acc); err != nil {
		return fmt.Errorf("escrowsvc: escrow of %s: %w", user, err)
	}
	if acc.State == nil || acc.Data == nil {
		return nil // not deployed yet
	}
	if err := s.reconcile(ctx, user, acc); err != nil {
		return fmt.Errorf("escrowsvc: escrow of %s: %w", user, err)
	}
	return nil
}
