package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/apikey"
	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/gateway"
	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/internal/obs"
	"github.com/cocoon-network/cocoon/ledger"
)

const defaultGatewayAddr = "127.0.0.1:7800"

const gatewayUsage = `usage:
  cocoon gateway                          serve the OpenAI-compatible API on COCOON_GATEWAY_ADDR
  cocoon gateway key create OWNER         make an API key for OWNER (a user id like tg:42); prints it once
  cocoon gateway key list OWNER           list OWNER's keys
  cocoon gateway key revoke OWNER ID      revoke one of OWNER's keys`

// runGateway serves the OpenAI-compatible API, or manages API keys.
func runGateway(ctx context.Context, env *config.Env, args []string) error {
	if len(args) > 0 && args[0] == "key" {
		return runGatewayKey(ctx, env, args[1:])
	}
	if len(args) > 0 {
		return &exitError{2, gatewayUsage}
	}
	cfg := gatewayConfig(env)
	metricsAddr := env.String("COCOON_METRICS_ADDR", "")
	token := env.Required("COCOON_BROKER_TOKEN", "the broker's service token")
	brokerURL := env.URL("COCOON_BROKER_URL", defaultBrokerURL, "http")
	rdb, err := redisClient(env)
	if err := firstErr(err, env.Err()); err != nil {
		return err
	}
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return &exitError{1, "REDIS_URL: cannot reach Redis (API keys live there): " + err.Error()}
	}
	cfg.Broker, cfg.Keys, cfg.Logger = client.New(brokerURL, token), apikey.New(rdb), newLogger(env)
	cfg.Pricer = gatewayPricer(env, cfg.Broker)
	if err := env.Err(); err != nil {
		return err
	}
	g, err := gateway.New(cfg)
	if err != nil {
		return err
	}
	brokerUp := func(ctx context.Context) error { _, err := cfg.Broker.Models(ctx); return err }
	if _, err := obs.Start(context.WithoutCancel(ctx), metricsAddr, obs.Draining(ctx, brokerUp)); err != nil {
		return err
	}
	return g.Run(ctx)
}

// gatewayConfig reads the gateway's settings (without broker, keys and
// pricer).
func gatewayConfig(env *config.Env) gateway.Config {
	return gateway.Config{
		Policy:           attestPolicy(env),
		Secret:           submitterSecret(env),
		MaxCoef:          maxPriceCoef(env),
		Addr:             env.String("COCOON_GATEWAY_ADDR", defaultGatewayAddr),
		MaxPromptBytes:   env.Int("COCOON_MAX_PROMPT_BYTES", 16384, 1, 1<<20),
		MaxTokens:        env.Int("COCOON_MAX_TOKENS", 8192, 1, 1<<20),
		DefaultMaxTokens: env.Int("COCOON_GATEWAY_DEFAULT_MAX_TOKENS", 1024, 1, 1<<20),
		MaxBodyBytes:     int64(env.Int("COCOON_GATEWAY_MAX_BODY_BYTES", 1<<20, 1024, 64<<20)),
		KeyConcurrency:   env.Int("COCOON_GATEWAY_KEY_CONCURRENCY", 16, 1, 1<<16),
	}
}

// gatewayPricer reports what the broker charged when billing is on
// (COCOON_PRICES set, as for the broker); nil shows costs as 0.
func gatewayPricer(env *config.Env, c *client.Client) gateway.Pricer {
	ps, ok := env.Lookup("COCOON_PRICES")
	if !ok {
		return nil
	}
	prices, err := ledger.ParsePrices(ps)
	if err != nil {
		env.Invalid("COCOON_PRICES", err.Error())
		return nil
	}
	return &gateway.BrokerPricer{C: c, Prices: prices}
}

// startGateway runs a gateway for `cocoon up` on COCOON_GATEWAY_ADDR, with
// up's insecure-dev policy and submitter secret, and returns its base URL
// for OpenAI clients and a stop function that drains it.
func startGateway(ctx context.Context, env *config.Env, brokerURL, token string, secret []byte, rdb redis.UniversalClient, log *slog.Logger) (string, func(), error) {
	cfg := gatewayConfig(env)
	cfg.Policy.AllowInsecureDev, cfg.Secret = true, secret
	cfg.Broker = client.New(brokerURL, token)
	cfg.Pricer = gatewayPricer(env, cfg.Broker)
	if err := env.Err(); err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return "", nil, fmt.Errorf("COCOON_GATEWAY_ADDR %s: %w (is another `make up` running?)", cfg.Addr, err)
	}
	cfg.Keys, cfg.Logger = apikey.New(rdb), log
	cfg.DrainTimeout = 5 * time.Second
	g, err := gateway.New(cfg)
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	gctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := g.Serve(gctx, ln); err != nil {
			log.Error("gateway", "err", err)
		}
	}()
	return "http://" + ln.Addr().String() + "/v1", func() { stop(); wg.Wait() }, nil
}

// runGatewayKey creates, lists and revokes API keys in REDIS_URL.
func runGatewayKey(ctx context.Context, env *config.Env, args []string) error {
	if len(args) < 2 || (args[0] == "revoke") != (len(args) == 3) || len(args) > 3 {
		return &exitError{2, gatewayUsage}
	}
	rdb, err := redisClient(env)
	if err := firstErr(err, env.Err()); err != nil {
		return err
	}
	defer rdb.Close()
	keys := apikey.New(rdb)
	owner := args[1]
	switch args[0] {
	case "create":
		id, key, err := keys.Create(ctx, owner)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "created key %s for %s (jobs run as user %s); it is shown only now:\n", id, owner, apikey.User(id))
		fmt.Println(key)
	case "list":
		ks, err := keys.List(ctx, owner)
		if err != nil {
			return err
		}
		for _, k := range ks {
			state := "active"
			if !k.Active() {
				state = "revoked " + k.Revoked.UTC().Format(time.RFC3339)
			}
			fmt.Printf("%s  created %s  %s\n", k.ID, k.Created.UTC().Format(time.RFC3339), state)
		}
	case "revoke":
		if err := keys.Revoke(ctx, owner, args[2]); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "revoked key %s of %s\n", args[2], owner)
	default:
		return &exitError{2, gatewayUsage}
	}
	return nil
}
