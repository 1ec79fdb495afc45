package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/apikey"
	"github.com/cocoon-network/cocoon/broker"
	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/internal/localredis"
	"github.com/cocoon-network/cocoon/internal/tinymodel"
	"github.com/cocoon-network/cocoon/worker"
)

// runUp runs the local stack in the foreground and stops everything it
// started on SIGINT/SIGTERM, in order: worker (drains), broker, Ollama, Redis.
func runUp(ctx context.Context, env *config.Env, args []string) error {
	log := newLogger(env)
	state, err := filepath.Abs(".cocoon")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(state, "redis"), 0o700); err != nil {
		return err
	}
	// Settings the user set win; dev.env from an earlier run does not count.
	redisURL, ollamaHost := os.Getenv("REDIS_URL"), os.Getenv("OLLAMA_HOST")
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()
	if redisURL == "" {
		rp, err := localredis.Start(ctx, filepath.Join(state, "redis"))
		if err != nil {
			return err
		}
		stops = append(stops, rp.Stop)
		redisURL = rp.URL
		log.Info("redis started", "url", redisURL, "aof", "everysec")
	}
	model := os.Getenv("COCOON_DEFAULT_MODEL")
	if ollamaHost == "" {
		op, err := tinymodel.RunOllama(ctx, filepath.Join(state, "ollama"), logFile(filepath.Join(state, "ollama.log")))
		if err != nil {
			return err
		}
		stops = append(stops, op.Stop)
		ollamaHost = op.Host
		if model == "" {
			model = op.Model
		}
		log.Info("ollama started with the tiny model", "host", ollamaHost, "model", op.Model)
	}
	ropt, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()

	token := os.Getenv("COCOON_BROKER_TOKEN")
	if token == "" {
		b := make([]byte, 24)
		rand.Read(b)
		token = hex.EncodeToString(b)
	}
	bcfg := brokerConfig(env)
	bcfg.Token, bcfg.AllowInsecure = token, true
	secret := make([]byte, 32)
	rand.Read(secret)
	bcfg.Redis, bcfg.Logger = rdb, log.With("component", "broker")
	// Billing on, with a trial credit, so `ask` is charged on a fresh machine.
	if _, ok := env.Lookup("COCOON_PRICES"); !ok {
		os.Setenv("COCOON_PRICES", model+"=1000/2000")
	}
	if _, ok := env.Lookup("COCOON_TRIAL_CREDIT_NANOTON"); !ok {
		os.Setenv("COCOON_TRIAL_CREDIT_NANOTON", "1000000000")
	}
	bcfg.Money = money(env, rdb)
	bcfg.Payer = apikey.New(rdb).Payer
	if err := env.Err(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", bcfg.Addr)
	if err != nil {
		return fmt.Errorf("COCOON_BROKER_ADDR %s: %w (is another `make up` running?)", bcfg.Addr, err)
	}
	brokerURL := "http://" + ln.Addr().String()
	b, err := broker.New(bcfg)
	if err != nil {
		return err
	}
	bctx, stopBroker := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := b.Serve(bctx, ln); err != nil {
			log.Error("broker", "err", err)
		}
	}()
	stops = append(stops, func() { stopBroker(); wg.Wait() })

	wcfg := workerConfig(env)
	wcfg.BrokerURL, wcfg.OllamaHost, wcfg.Insecure = brokerURL, ollamaHost, true
	wcfg.Logger = log.With("component", "worker")
	w, err := worker.New(wcfg)
	if err != nil {
		return err
	}
	if err := w.Join(ctx); err != nil {
		return err
	}
	wdone := make(chan error, 1)
	go func() { wdone <- w.Run(ctx) }()

	if err := writeDevEnv(filepath.Join(state, "dev.env"), map[string]string{
		"COCOON_BROKER_URL": brokerURL, "COCOON_BROKER_TOKEN": token, "COCOON_DEFAULT_MODEL": model, "REDIS_URL": redisURL,
		"COCOON_ALLOW_INSECURE_WORKERS": "true", "COCOON_SUBMITTER_SECRET": hex.EncodeToString(secret),
		"COCOON_PRICES": os.Getenv("COCOON_PRICES"),
	}); err != nil {
		return err
	}
	gatewayURL, stopGateway, err := startGateway(ctx, env, brokerURL, token, secret, rdb, log.With("component", "gateway"))
	if err != nil {
		return err
	}
	stops = append(stops, stopGateway)
	fmt.Printf("cocoon: ready  broker=%s  gateway=%s  model=%s  (try: bin/cocoon ask hello; settings in .cocoon/dev.env; Ctrl-C stops)\n", brokerURL, gatewayURL, model)
	if err := startBot(ctx, env, botOverrides{BrokerURL: brokerURL, BrokerToken: token, RedisURL: redisURL, AllowInsecure: true, Secret: secret,
		HistoryKeyFile: filepath.Join(state, "bot-history.key")}, log); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("stopping: worker drains, then broker, ollama, redis")
	if err := <-wdone; err != nil {
		log.Warn("worker", "err", err)
	}
	os.Remove(filepath.Join(state, "dev.env"))
	return nil
}

func writeDevEnv(path string, vals map[string]string) error {
	var s string
	s += "# written by `cocoon up`; read by bin/cocoon when these are unset\n"
	for _, k := range []string{"COCOON_BROKER_URL", "COCOON_BROKER_TOKEN", "COCOON_DEFAULT_MODEL", "REDIS_URL",
		"COCOON_ALLOW_INSECURE_WORKERS", "COCOON_SUBMITTER_SECRET", "COCOON_PRICES"} {
		s += k + "=" + vals[k] + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o600)
}

func logFile(path string) io.Writer {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return io.Discard
	}
	return f
}
