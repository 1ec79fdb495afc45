package main

import (
	"context"

	"github.com/cocoon-network/cocoon/broker"
	"github.com/cocoon-network/cocoon/internal/config"
)

func runBroker(ctx context.Context, env *config.Env, args []string) error {
	cfg := brokerConfig(env)
	env.Required("COCOON_BROKER_TOKEN", "the service token submitters authenticate with")
	rdb, err := redisClient(env)
	if err := firstErr(err, env.Err()); err != nil {
		return err
	}
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return &exitError{1, "REDIS_URL: cannot reach Redis: " + err.Error()}
	}
	cfg.Redis, cfg.Logger = rdb, newLogger(env)
	b, err := broker.New(cfg)
	if err != nil {
		return err
	}
	return b.Run(ctx)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
