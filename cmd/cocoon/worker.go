package main

import (
	"context"

	"errors"
	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/internal/obs"
	"github.com/cocoon-network/cocoon/worker"
)

func runWorker(ctx context.Context, env *config.Env, args []string) error {
	cfg := workerConfig(env)
	metricsAddr := env.String("COCOON_METRICS_ADDR", "")
	if err := env.Err(); err != nil {
		return err
	}
	cfg.Logger = newLogger(env)
	w, err := worker.New(cfg)
	if err != nil {
		return err
	}
	joined := func(context.Context) error {
		if w.ID() == "" {
			return errors.New("not joined")
		}
		return nil
	}
	if _, err := obs.Start(context.WithoutCancel(ctx), metricsAddr, obs.Draining(ctx, joined)); err != nil {
		return err
	}
	return w.Run(ctx)
}
