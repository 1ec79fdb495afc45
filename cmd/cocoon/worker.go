package main

import (
	"context"

	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/worker"
)

func runWorker(ctx context.Context, env *config.Env, args []string) error {
	cfg := workerConfig(env)
	if err := env.Err(); err != nil {
		return err
	}
	cfg.Logger = newLogger(env)
	w, err := worker.New(cfg)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
