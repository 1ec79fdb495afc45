package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
	"github.com/xssnick/tonutils-go/liteclient"
	tonapi "github.com/xssnick/tonutils-go/ton"

	"github.com/cocoon-network/cocoon/broker"
	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/ton"
)

// tonChain connects to the liteservers of COCOON_TON_CONFIG_URL (the global
// config of mainnet or testnet); nil when unset.
func tonChain(ctx context.Context, env *config.Env) (ton.Chain, error) {
	cfgURL, ok := env.Lookup("COCOON_TON_CONFIG_URL")
	if !ok {
		return nil, nil
	}
	pool := liteclient.NewConnectionPool()
	if err := pool.AddConnectionsFromConfigUrl(ctx, cfgURL); err != nil {
		return nil, fmt.Errorf("COCOON_TON_CONFIG_URL: %w", err)
	}
	return tonapi.NewAPIClient(pool, tonapi.ProofCheckPolicyFast).WithRetry(), nil
}

// startTON runs the deposit watcher and the worker payer inside the broker
// process when a TON chain is configured. Without it the broker bills from
// Stars and trial credit only.
func startTON(ctx context.Context, env *config.Env, chain ton.Chain, rdb redis.UniversalClient, b *broker.Broker, m *broker.Money, log *slog.Logger) error {
	if chain == nil || m == nil {
		return nil
	}
	st, err := ton.SettingsFromEnv(env.Get)
	if err != nil {
		return err
	}
	var hot *ton.HotWallet
	if len(st.WalletSeed) > 0 {
		if hot, err = ton.NewHotWallet(st.WalletSeed, st.Network); err != nil {
			return err
		}
	}
	deposit := st.DepositAddress
	if deposit == nil && hot != nil {
		deposit = hot.Address()
	}
	if deposit == nil {
		return errors.New("COCOON_TON_DEPOSIT_ADDRESS or a wallet seed is required with COCOON_TON_CONFIG_URL")
	}
	adapter := ton.LedgerAdapter{L: m.Ledger}
	w, err := ton.NewWatcher(ton.WatcherConfig{Chain: chain, Address: deposit, Cursors: ton.NewRedisCursors(rdb),
		Ledger: adapter, Unmatched: ton.NewRedisUnmatched(rdb), PollInterval: st.PollInterval, Logger: log.With("component", "deposits")})
	if err != nil {
		return err
	}
	go func() {
		if err := w.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("deposit watcher stopped", "err", err)
		}
	}()
	if hot != nil {
		p, err := ton.NewPayer(ton.PayerConfig{Chain: chain, Wallet: hot, Ledger: adapter, Store: ton.NewRedisPayouts(rdb),
			Threshold: st.PayoutThreshold, Logger: log.With("component", "payouts")})
		if err != nil {
			return err
		}
		go func() {
			err := p.Run(ctx, ton.LedgerDue{L: m.Ledger, PayoutAddress: b.PayoutAddress})
			if err != nil && ctx.Err() == nil {
				log.Error("payer stopped", "err", err)
			}
		}()
	}
	log.Info("TON deposits watched", "address", st.Network.Format(deposit), "network", st.Network, "payouts", hot != nil)
	return nil
}
