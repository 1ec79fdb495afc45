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

// startTON runs the deposit watcher and the worker payer inside the broker
// process when COCOON_TON_CONFIG_URL names a liteserver config (the global
// config of mainnet or testnet). Without it the broker bills from Stars
// and trial credit only.
func startTON(ctx context.Context, env *config.Env, rdb redis.UniversalClient, b *broker.Broker, m *broker.Money, log *slog.Logger) error {
	cfgURL, ok := env.Lookup("COCOON_TON_CONFIG_URL")
	if !ok || m == nil {
		return nil
	}
	st, err := ton.SettingsFromEnv(env.Get)
	if err != nil {
		return err
	}
	pool := liteclient.NewConnectionPool()
	if err := pool.AddConnectionsFromConfigUrl(ctx, cfgURL); err != nil {
		return fmt.Errorf("COCOON_TON_CONFIG_URL: %w", err)
	}
	chain := tonapi.NewAPIClient(pool, tonapi.ProofCheckPolicyFast).WithRetry()
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
