package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-network/cocoon/broker"
	"github.com/cocoon-network/cocoon/contracts/escrow"
	"github.com/cocoon-network/cocoon/escrowsvc"
	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/ton"
	"github.com/cocoon-network/cocoon/wire"
)

// startEscrows runs the escrow service inside the broker process when
// COCOON_ESCROW_TREASURY is set (it needs the TON chain of startTON).
func startEscrows(ctx context.Context, env *config.Env, chain ton.Chain, rdb redis.UniversalClient, m *broker.Money, log *slog.Logger) (broker.Escrows, error) {
	tr, ok := env.Lookup("COCOON_ESCROW_TREASURY")
	if !ok {
		return nil, nil
	}
	if chain == nil || m == nil {
		return nil, errors.New("COCOON_ESCROW_TREASURY needs COCOON_TON_CONFIG_URL and billing (COCOON_PRICES)")
	}
	treasury, err := address.ParseAddr(tr)
	if err != nil {
		return nil, fmt.Errorf("COCOON_ESCROW_TREASURY: %w", err)
	}
	keyFile := env.Required("COCOON_ESCROW_SERVICE_KEY_FILE", "the ed25519 seed that signs escrow vouchers")
	if err := env.Err(); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("COCOON_ESCROW_SERVICE_KEY_FILE: %w", err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("COCOON_ESCROW_SERVICE_KEY_FILE: want 64 hex digits (a 32-byte ed25519 seed)")
	}
	svc, err := escrowsvc.New(escrowsvc.Config{Chain: chain, Redis: rdb, Ledger: m.Ledger, Treasury: treasury,
		ServiceKey: ed25519.NewKeyFromSeed(seed), Logger: log.With("component", "escrows")})
	if err != nil {
		return nil, err
	}
	go func() {
		if err := svc.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("escrow service stopped", "err", err)
		}
	}()
	return escrowAdapter{svc}, nil
}

// escrowAdapter gives the broker the escrow service in wire types.
type escrowAdapter struct{ s *escrowsvc.Service }

func (a escrowAdapter) Closing(ctx context.Context, user string) bool { return a.s.Closing(ctx, user) }

func (a escrowAdapter) Register(ctx context.Context, user, client string, closeDelay time.Duration) (*wire.EscrowInfo, error) {
	addr, err := address.ParseAddr(client)
	if err != nil {
		return nil, fmt.Errorf("%w: client: %v", broker.ErrEscrowInvalid, err)
	}
	e, err := a.s.Register(ctx, user, addr, closeDelay)
	if errors.Is(err, escrowsvc.ErrInvalid) || errors.Is(err, escrowsvc.ErrRegistered) {
		return nil, fmt.Errorf("%w: %v", broker.ErrEscrowInvalid, err)
	}
	if err != nil {
		return nil, err
	}
	si, err := escrow.StateInit(e.Params)
	if err != nil {
		return nil, err
	}
	boc, err := si.ToCell()
	if err != nil {
		return nil, err
	}
	return &wire.EscrowInfo{Address: e.Address.String(), StateInit: boc.ToBOC()}, nil
}
