package main

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/broker"
	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/worker"
)

// Defaults of the pinned settings (README table).
const (
	defaultBrokerAddr = "127.0.0.1:7700"
	defaultBrokerURL  = "http://127.0.0.1:7700"
	defaultOllamaHost = "http://127.0.0.1:11434"
	defaultRedisURL   = "redis://127.0.0.1:6379/0"
)

// redisClient opens REDIS_URL; REDIS_CLUSTER=true treats it as a cluster
// URL (redis://host:port?addr=host2:port2...).
func redisClient(env *config.Env) (redis.UniversalClient, error) {
	u := env.URL("REDIS_URL", defaultRedisURL, "redis")
	if env.Bool("REDIS_CLUSTER", false) {
		opt, err := redis.ParseClusterURL(u)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		opt.PoolSize = 256
		return redis.NewClusterClient(opt), nil
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opt.PoolSize = 256
	return redis.NewClient(opt), nil
}

// brokerConfig reads the broker's settings (without the Redis client).
func brokerConfig(env *config.Env) broker.Config {
	return broker.Config{
		Addr:           env.String("COCOON_BROKER_ADDR", defaultBrokerAddr),
		Token:          env.String("COCOON_BROKER_TOKEN", ""),
		AllowInsecure:  env.Bool("COCOON_ALLOW_INSECURE_WORKERS", false),
		MaxPromptBytes: env.Int("COCOON_MAX_PROMPT_BYTES", 16384, 1, 1<<20),
		MaxTokens:      env.Int("COCOON_MAX_TOKENS", 8192, 1, 1<<20),
		Store: broker.StoreConfig{
			Lease:       env.Duration("COCOON_LEASE", 15*time.Second),
			MaxAttempts: env.Int("COCOON_MAX_ATTEMPTS", 5, 1, 100),
			Backoff:     env.Duration("COCOON_RETRY_BACKOFF", 100*time.Millisecond),
			MaxQueue:    env.Int("COCOON_MAX_QUEUE", 10000, 0, 1<<30),
		},
	}
}

// workerConfig reads the worker's settings.
func workerConfig(env *config.Env) worker.Config {
	return worker.Config{
		BrokerURL:  env.URL("COCOON_BROKER_URL", defaultBrokerURL, "http"),
		OllamaHost: env.URL("OLLAMA_HOST", defaultOllamaHost, "http"),
		Name:       env.String("COCOON_WORKER_NAME", ""),
		MaxJobs:    env.Int("COCOON_WORKER_MAX_JOBS", 4, 1, 1024),
		Insecure:   env.Bool("COCOON_WORKER_INSECURE", false),
	}
}
