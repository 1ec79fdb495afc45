// Package teststack wires real components into a running Cocoon for tests:
// a redis-server, an ollama serve with the tiny model, a broker on a free
// port and any number of workers, all in the test's process but talking
// over HTTP exactly as in production.
package teststack

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/broker"
	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/worker"
)

// Token is the service token of every test broker.
const Token = "test-service-token"

// Options configures Start. The zero value: a single Redis, one Ollama.
type Options struct {
	Redis  redis.UniversalClient // use this instead of starting a redis-server
	Ollama *testenv.Ollama       // share one Ollama between stacks
	Broker func(*broker.Config)  // adjust the broker config
	// Policy verifies worker evidence at the broker and in the submitter;
	// nil accepts insecure-dev workers only.
	Policy *attest.Policy
	// Prices turns billing on (COCOON_PRICES syntax); Trial is each new
	// user's starting credit in nanoTON.
	Prices string
	Trial  int64
	// LogWriter receives every component's logs (text); default: discarded
	// unless COCOON_TEST_LOG=1.
	LogWriter io.Writer
}

// Stack is a running broker with its Redis and Ollama.
type Stack struct {
	t         testing.TB
	Redis     redis.UniversalClient
	RedisProc *testenv.Redis // nil when Options.Redis was given
	Ollama    *testenv.Ollama
	Broker    *broker.Broker
	URL       string
	Client    *client.Client
	Submitter *submit.Submitter
	Ledger    *ledger.Ledger // nil unless Options.Prices is set

	policy     attest.Policy
	log        *slog.Logger
	addr       string
	stopBroker context.CancelFunc
	brokerDone chan struct{}
	bcfg       broker.Config
}

// Log is the logger the stack's components use.
func (s *Stack) Log() *slog.Logger { return s.log }

// Logger returns a logger for components under test: quiet unless
// COCOON_TEST_LOG=1.
func Logger() *slog.Logger {
	if os.Getenv("COCOON_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Start brings up Redis (unless given), Ollama (unless given) and a broker.
func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	s := &Stack{t: t, Redis: opts.Redis, Ollama: opts.Ollama}
	if s.Redis == nil {
		s.RedisProc = testenv.StartRedis(t, testenv.RedisOptions{AOF: true})
		s.Redis = redis.NewClient(&redis.Options{Addr: s.RedisProc.Addr, PoolSize: 128})
		t.Cleanup(func() { s.Redis.Close() })
	}
	if s.Ollama == nil {
		s.Ollama = testenv.StartOllama(t)
	}
	s.policy = attest.Policy{AllowInsecureDev: true}
	if opts.Policy != nil {
		s.policy = *opts.Policy
	}
	s.log = Logger()
	if opts.LogWriter != nil {
		s.log = slog.New(slog.NewTextHandler(opts.LogWriter, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s.bcfg = broker.Config{Redis: s.Redis, Token: Token, AllowInsecure: s.policy.AllowInsecureDev, Policy: s.policy, Logger: s.log,
		RecoverEvery: 50 * time.Millisecond,
		Store:        broker.StoreConfig{Lease: 3 * time.Second, Backoff: 10 * time.Millisecond}}
	if opts.Prices != "" {
		prices, err := ledger.ParsePrices(opts.Prices)
		if err != nil {
			t.Fatal(err)
		}
		s.Ledger = ledger.New(s.Redis)
		s.bcfg.Money = &broker.Money{Ledger: s.Ledger, Prices: prices, CommissionBP: 1000, Trial: opts.Trial}
	}
	if opts.Broker != nil {
		opts.Broker(&s.bcfg)
	}
	s.addr = "127.0.0.1:0"
	s.StartBroker()
	t.Cleanup(s.StopBroker)
	return s
}

// StartBroker (re)starts the broker on the same address.
func (s *Stack) StartBroker() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("broker listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.URL = "http://" + s.addr
	b, err := broker.New(s.bcfg)
	if err != nil {
		s.t.Fatalf("broker: %v", err)
	}
	s.Broker = b
	ctx, cancel := context.WithCancel(context.Background())
	s.stopBroker, s.brokerDone = cancel, make(chan struct{})
	go func() {
		defer close(s.brokerDone)
		if err := b.Serve(ctx, ln); err != nil {
			s.t.Logf("broker: %v", err)
		}
	}()
	s.Client = client.New(s.URL, Token)
	s.Submitter = &submit.Submitter{C: s.Client, Policy: s.policy}
}

// StopBroker shuts the broker down gracefully and waits.
func (s *Stack) StopBroker() {
	if s.stopBroker != nil {
		s.stopBroker()
		<-s.brokerDone
		s.stopBroker = nil
	}
}

// Worker is a worker started by AddWorker.
type Worker struct {
	*worker.Worker
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Stop drains the worker and waits for it to leave.
func (w *Worker) Stop() error {
	var err error
	w.once.Do(func() { w.cancel(); err = <-w.done })
	return err
}

// AddWorker joins a worker on the stack's Ollama (or ollamaHost if given)
// and runs it until the test ends.
func (s *Stack) AddWorker(adjust func(*worker.Config)) *Worker {
	s.t.Helper()
	cfg := worker.Config{BrokerURL: s.URL, OllamaHost: s.Ollama.Host, Insecure: s.policy.AllowInsecureDev, MaxJobs: 8, Logger: s.log,
		DrainTimeout: 5 * time.Second}
	if adjust != nil {
		adjust(&cfg)
	}
	w, err := worker.New(cfg)
	if err != nil {
		s.t.Fatalf("worker: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := w.Join(ctx); err != nil {
		cancel()
		s.t.Fatalf("worker join: %v", err)
	}
	tw := &Worker{Worker: w, cancel: cancel, done: make(chan error, 1)}
	go func() { tw.done <- w.Run(ctx) }()
	s.t.Cleanup(func() { tw.Stop() })
	return tw
}
