package main

import (
	"context"
	"errors"
	"os"

	"github.com/cocoon-network/cocoon/apikey"
	"github.com/cocoon-network/cocoon/broker"
	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/internal/obs"
	"github.com/cocoon-network/cocoon/ledger"
)

func runBroker(ctx context.Context, env *config.Env, args []string) error {
	cfg := brokerConfig(env)
	metricsAddr := env.String("COCOON_METRICS_ADDR", "")
	env.Required("COCOON_BROKER_TOKEN", "the service token submitters authenticate with")
	rdb, err := redisClient(env)
	if err != nil {
		return err
	}
	cfg.Money = money(env, rdb)
	cfg.Payer = apikey.New(rdb).Payer // API keys' jobs are paid by their owners
	if err := env.Err(); err != nil {
		return err
	}
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return &exitError{1, "REDIS_URL: cannot reach Redis: " + err.Error()}
	}
	cfg.Redis, cfg.Logger = rdb, newLogger(env)
	chain, err := tonChain(ctx, env)
	if err != nil {
		return err
	}
	if cfg.Escrows, err = startEscrows(ctx, env, chain, rdb, cfg.Money, cfg.Logger); err != nil {
		return err
	}
	b, err := broker.New(cfg)
	if err != nil {
		return err
	}
	if _, err := obs.Start(context.WithoutCancel(ctx), metricsAddr, obs.Draining(ctx, b.Ready)); err != nil {
		return err
	}
	if cfg.Money != nil {
		go watchLedger(ctx, cfg.Money.Ledger, cfg.Logger)
	}
	if err := startTON(ctx, env, chain, rdb, b, cfg.Money, cfg.Logger); err != nil {
		return err
	}
	return b.Run(ctx)
}

// runLedger is `cocoon ledger check`: it exits non-zero when the money
// invariant fails and says by how much.
func runLedger(ctx context.Context, env *config.Env, args []string) error {
	if len(args) != 1 || args[0] != "check" {
		return &exitError{2, "usage: cocoon ledger check"}
	}
	rdb, err := redisClient(env)
	if err := errors.Join(err, env.Err()); err != nil {
		return err
	}
	defer rdb.Close()
	if err := ledger.RunCheck(ctx, ledger.New(rdb), os.Stdout); err != nil {
		return &exitError{1, err.Error()}
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
