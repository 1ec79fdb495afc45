package main

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/broker"
	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/trust"
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

// attestPolicy reads how TDX evidence is checked: the measurement allowlist
// (COCOON_TDX_ALLOW), whether collateral is fetched (COCOON_TDX_COLLATERAL)
// and whether insecure-dev workers are accepted.
func attestPolicy(env *config.Env) attest.Policy {
	p := attest.Policy{AllowInsecureDev: env.Bool("COCOON_ALLOW_INSECURE_WORKERS", false)}
	allow, err := trust.ParseAllowlist(env.String("COCOON_TDX_ALLOW", ""))
	if err != nil {
		env.Invalid("COCOON_TDX_ALLOW", err.Error())
	}
	p.Allow = allow
	switch c := env.String("COCOON_TDX_COLLATERAL", "offline"); c {
	case "offline":
	case "online":
		p.Getter = attest.NewCachingGetter(nil, time.Hour)
	default:
		env.Invalid("COCOON_TDX_COLLATERAL", "want offline or online")
	}
	return p
}

// submitterSecret reads COCOON_SUBMITTER_SECRET (hex, >= 16 bytes): chunk
// keys derive from it, so a restarted submitter can still read its jobs.
func submitterSecret(env *config.Env) []byte {
	v, ok := env.Lookup("COCOON_SUBMITTER_SECRET")
	if !ok {
		return nil
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) < 16 {
		env.Invalid("COCOON_SUBMITTER_SECRET", "want at least 32 hex digits")
		return nil
	}
	return b
}

// money reads the billing settings; billing is on when COCOON_PRICES is set.
func money(env *config.Env, rdb redis.UniversalClient) *broker.Money {
	ps, ok := env.Lookup("COCOON_PRICES")
	if !ok {
		return nil
	}
	prices, err := ledger.ParsePrices(ps)
	if err != nil {
		env.Invalid("COCOON_PRICES", err.Error())
		return nil
	}
	return &broker.Money{Ledger: ledger.New(rdb), Prices: prices,
		CommissionBP: int64(env.Int("COCOON_COMMISSION_BP", 1000, 0, int(ledger.MaxCommissionBP))),
		Trial:        env.Int64("COCOON_TRIAL_CREDIT_NANOTON", 0)}
}

// brokerConfig reads the broker's settings (without the Redis client).
func brokerConfig(env *config.Env) broker.Config {
	return broker.Config{
		Addr:           env.String("COCOON_BROKER_ADDR", defaultBrokerAddr),
		Token:          env.String("COCOON_BROKER_TOKEN", ""),
		AllowInsecure:  env.Bool("COCOON_ALLOW_INSECURE_WORKERS", false),
		MaxPromptBytes: env.Int("COCOON_MAX_PROMPT_BYTES", 16384, 1, 1<<20),
		MaxTokens:      env.Int("COCOON_MAX_TOKENS", 8192, 1, 1<<20),
		Policy:         attestPolicy(env),
		Reattest:       env.Duration("COCOON_REATTEST", 30*time.Minute),
		Store: broker.StoreConfig{
			Lease:       env.Duration("COCOON_LEASE", 15*time.Second),
			MaxAttempts: env.Int("COCOON_MAX_ATTEMPTS", 5, 1, 100),
			Backoff:     env.Duration("COCOON_RETRY_BACKOFF", 100*time.Millisecond),
			MaxQueue:    env.Int("COCOON_MAX_QUEUE", 10000, 0, 1<<30),
			MaxUserJobs: env.Int("COCOON_MAX_USER_JOBS", 8, 0, 1<<20),
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
		PayoutAddr: env.String("COCOON_WORKER_PAYOUT_ADDRESS", ""),
		PriceCoef:  env.Int("COCOON_WORKER_PRICE_COEF", 1000, 1, 100000),
	}
}

// maxPriceCoef is the most worker price coefficient a submitter accepts.
func maxPriceCoef(env *config.Env) int {
	return env.Int("COCOON_MAX_PRICE_COEF", 1000, 1, 100000)
}
