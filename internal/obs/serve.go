package obs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readyTimeout bounds one readiness check.
const readyTimeout = 2 * time.Second

// Handler serves /metrics (Registry), /healthz (200 while the process runs)
// and /readyz (200 when ready returns nil, else 503 with the reason; a nil
// ready is always ready).
func Handler(ready func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			if err := ready(ctx); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}

// Serve listens on addr and serves Handler(ready) until ctx ends.
func Serve(ctx context.Context, addr string, ready func(context.Context) error) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("obs: listen on %s (COCOON_METRICS_ADDR): %w", addr, err)
	}
	return ServeListener(ctx, ln, ready)
}

// ServeListener is Serve on an existing listener.
func ServeListener(ctx context.Context, ln net.Listener, ready func(context.Context) error) error {
	srv := &http.Server{Handler: Handler(ready), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// Start is Serve in the background: it binds addr at once (so a busy port
// fails the process at start) and serves until ctx ends. An empty addr
// serves nothing and returns nil.
func Start(ctx context.Context, addr string, ready func(context.Context) error) (net.Addr, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("obs: listen on %s (COCOON_METRICS_ADDR): %w", addr, err)
	}
	go ServeListener(ctx, ln, ready)
	return ln.Addr(), nil
}

// ErrDraining is the readiness error of a process that is shutting down.
var ErrDraining = errors.New("draining")

// Draining wraps ready so it fails with ErrDraining once run ends (the
// process got SIGTERM and drains) while the listener, started on a context
// that outlives run, keeps serving /metrics during the drain.
func Draining(run context.Context, ready func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if run.Err() != nil {
			return ErrDraining
		}
		if ready == nil {
			return nil
		}
		return ready(ctx)
	}
}
