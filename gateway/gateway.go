package gateway

import (
	"context"
	"errors"
	"fmt"
	"github.com/cocoon-network/cocoon/internal/obs"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Gateway serves the OpenAI-compatible API.
type Gateway struct {
	cfg      Config
	lim      Limits
	log      *slog.Logger
	perKey   keyLimiter
	inflight sync.WaitGroup
}

// New checks cfg and returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	cfg.setDefaults()
	if cfg.Broker == nil {
		return nil, errors.New("gateway: Config.Broker is required")
	}
	if cfg.Keys == nil {
		return nil, errors.New("gateway: Config.Keys is required")
	}
	return &Gateway{cfg: cfg, lim: cfg.limits(), log: cfg.Logger,
		perKey: keyLimiter{max: cfg.KeyConcurrency, n: map[string]int{}}}, nil
}

// Handler is the HTTP API. Unknown paths and methods answer in OpenAI's
// error shape too.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", g.only(http.MethodPost, g.handleChat))
	mux.HandleFunc("/v1/models", g.only(http.MethodGet, g.handleModels))
	mux.HandleFunc("/v1/models/{model...}", g.only(http.MethodGet, g.handleModel))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		(&APIError{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: "unknown_url",
			Message: fmt.Sprintf("unknown request URL: %s %s", r.Method, r.URL.Path)}).write(w)
	})
	return mux
}

func (g *Gateway) only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			(&APIError{Status: http.StatusMethodNotAllowed, Type: TypeInvalidRequest, Code: "method_not_allowed",
				Message: fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, method)}).write(w)
			return
		}
		g.inflight.Add(1)
		defer g.inflight.Done()
		h(w, r)
	}
}

// authenticate resolves the bearer API key of r to its id.
func (g *Gateway) authenticate(r *http.Request) (id string, apiErr *APIError) {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return "", errMissingKey
	}
	id, _, err := g.cfg.Keys.Resolve(r.Context(), key)
	if err != nil {
		e := fromKey(err)
		if e.Status >= 500 {
			g.log.Error("resolve API key", "err", err)
		}
		return "", e
	}
	return id, nil
}

// keyLimiter caps the requests one key has running in this process.
type keyLimiter struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

func (l *keyLimiter) acquire(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[id] >= l.max {
		return false
	}
	l.n[id]++
	return true
}

func (l *keyLimiter) release(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[id]--; l.n[id] <= 0 {
		delete(l.n, id)
	}
}

// Run listens on Config.Addr and serves until ctx ends (see Serve).
func (g *Gateway) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.cfg.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen on %s (COCOON_GATEWAY_ADDR): %w", g.cfg.Addr, err)
	}
	return g.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down in this order: stop
// accepting connections and close idle ones; let running requests finish
// for up to DrainTimeout; cancel those still running, which cancels their
// jobs at the broker (a cancelled job is charged for what it streamed);
// wait for their handlers to return.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           promhttp.InstrumentHandlerCounter(obs.GatewayRequests, g.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	g.log.Info("gateway listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
	}
	g.log.Info("gateway draining", "timeout", g.cfg.DrainTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		g.log.Warn("gateway drain timed out: cancelling running requests")
		cancelBase()
		done := make(chan struct{})
		go func() { g.inflight.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		srv.Close()
	}
	<-errc
	g.log.Info("gateway stopped")
	return nil
}
