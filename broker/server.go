package broker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cocoon-network/cocoon/internal/obs"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/trust"
)

// notifyChannel is the pub/sub channel submits announce their model on, so
// a worker long-polling any broker wakes at once.
const notifyChannel = "cocoon:notify"

// Broker serves the client and worker APIs over one job store.
type Broker struct {
	cfg      Config
	store    *Store
	reg      *registry
	notify   *notifier
	log      *slog.Logger
	policyID string

	draining atomic.Bool
	drainCh  chan struct{}
	polls    sync.WaitGroup
	submits  sync.WaitGroup // submits in flight, which a stopping broker lets finish
	submitMu sync.RWMutex   // orders enterSubmit's Add before drain's Wait
	passes   int            // recoverer passes (the recoverer's goroutine only)

	reserveBudget time.Duration // reserveBudget; tests shorten it
}

// New validates cfg and returns a Broker.
func New(cfg Config) (*Broker, error) {
	if cfg.Redis == nil {
		return nil, errors.New("broker: Redis client is required")
	}
	if cfg.Token == "" {
		return nil, errors.New("broker: service token (COCOON_BROKER_TOKEN) is required")
	}
	cfg.setDefaults()
	b := &Broker{
		cfg:     cfg,
		store:   NewStore(cfg.Redis, cfg.Store),
		reg:     newRegistry(cfg.Redis, cfg.Store.Clock, 3*cfg.Heartbeat+time.Second),
		notify:  newNotifier(),
		log:     cfg.Logger,
		drainCh: make(chan struct{}),

		reserveBudget: reserveBudget,
	}
	b.policyID = trust.PolicyID(cfg.Policy)
	if cfg.AllowInsecure {
		b.log.Warn("accepting insecure-dev workers: their answers are NOT attested (COCOON_ALLOW_INSECURE_WORKERS=true)")
	}
	return b, nil
}

// Store exposes the job store (for admin tools and tests).
func (b *Broker) Store() *Store { return b.store }

// Handler returns the broker's HTTP handler (both APIs).
func (b *Broker) Handler() http.Handler {
	mux := http.NewServeMux()
	b.clientRoutes(mux)
	b.workerRoutes(mux)
	b.adminRoutes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if b.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		if err := b.cfg.Redis.Ping(r.Context()).Err(); err != nil {
			http.Error(w, "redis: unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}

// Ready reports whether the broker can serve: not draining and Redis
// answers (what /readyz says).
func (b *Broker) Ready(ctx context.Context) error {
	if b.draining.Load() {
		return errors.New("draining")
	}
	if err := b.cfg.Redis.Ping(ctx).Err(); err != nil {
		return errors.New("redis: unavailable")
	}
	return nil
}

// queueDepths reports the queued jobs of every served model (cocoon_queue_depth).
func (b *Broker) queueDepths(ctx context.Context) (map[string]float64, error) {
	out := map[string]float64{}
	for _, m := range b.reg.models() {
		n, err := b.store.Depth(ctx, m.Name)
		if err != nil {
			return nil, err
		}
		out[m.Name] = float64(n)
	}
	return out, nil
}

// Start runs the background loops (recoverer, janitor, notifications,
// settler, resealer; with billing, the ledger aggregator and the
// submit-intent reconciler) until ctx ends.
func (b *Broker) Start(ctx context.Context) {
	_ = b.reg.refresh(ctx)
	obs.QueueDepth.SetSource(b.queueDepths)
	b.checkRedisConfig(ctx)
	if m := b.cfg.Money; m != nil {
		// Redis 7.0 can leave a script's MULTI block open in an AOF cut by
		// a crash and merge later writes into it on the next restart; a
		// rewrite after start makes the file whole (see ledger.RewriteAOF).
		if err := m.Ledger.RewriteAOF(ctx); err != nil {
			b.log.Warn("AOF rewrite", "err", err)
		}
	}
	go b.recoverer(ctx)
	go b.janitor(ctx)
	go b.listen(ctx)
	go b.settler(ctx)
	go b.resealer(ctx)
	if m := b.cfg.Money; m != nil {
		agg := m.Ledger.NewAggregator(ledger.AggregatorConfig{Logger: b.log})
		agg.Start(ctx)
		go b.reconciler(ctx)
	}
}

// listen relays other brokers' submit notifications ("origin|model") to
// local long-polls, waking every poll on the model; its own were handled
// when the jobs were stored.
func (b *Broker) listen(ctx context.Context) {
	for ctx.Err() == nil {
		ps := b.cfg.Redis.Subscribe(ctx, notifyChannel)
		ch := ps.Channel()
		for m := range ch {
			origin, model, ok := strings.Cut(m.Payload, "|")
			if !ok {
				model = m.Payload
			} else if origin == b.store.origin {
				continue
			}
			b.notify.notify(model)
		}
		ps.Close()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// Run serves on cfg.Addr until ctx ends, then shuts down in order: stop
// handing out jobs (long-polls return what they hold), let in-flight
// requests finish, stop background loops.
func (b *Broker) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", b.cfg.Addr)
	if err != nil {
		return err
	}
	return b.Serve(ctx, ln)
}

// Serve is Run on an existing listener.
func (b *Broker) Serve(ctx context.Context, ln net.Listener) error {
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	b.Start(bg)
	srv := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	b.log.Info("broker listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		b.drain()
		srv.Close()
		b.submits.Wait()
		return err
	case <-ctx.Done():
	}
	b.drain()
	close(b.drainCh)
	b.wakeLocal()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close() // requests still running past the timeout: cut their connections
	}
	b.polls.Wait()
	b.submits.Wait() // returns once the submits admitted before drain end
	b.log.Info("broker stopped")
	return err
}

// drain refuses new submits from now on: enterSubmit's Add happens before
// it or not at all, so submits.Wait after it waits for every submit let in.
func (b *Broker) drain() {
	b.submitMu.Lock()
	b.draining.Store(true)
	b.submitMu.Unlock()
}

// checkRedisConfig warns when Redis allocates more for each job's event
// stream than Cocoon needs (docs/operations.md); a Redis that refuses
// CONFIG GET is not checked.
func (b *Broker) checkRedisConfig(ctx context.Context) {
	v, err := b.cfg.Redis.ConfigGet(ctx, "stream-node-max-bytes").Result()
	if err != nil {
		return
	}
	if n, err := strconv.Atoi(v["stream-node-max-bytes"]); err == nil && n > 1024 {
		b.log.Warn("Redis stream-node-max-bytes is over 1024: every job's event stream allocates that much at once; set it to 1024",
			"stream_node_max_bytes", n)
	}
}

// RefreshRegistry brings this broker's view of the worker pool up to date
// with Redis, as its janitor does every heartbeat interval.
func (b *Broker) RefreshRegistry(ctx context.Context) error { return b.reg.refresh(ctx) }
