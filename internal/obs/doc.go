// Package obs is what every Cocoon process exposes to operators: Prometheus
// metrics (/metrics), liveness (/healthz) and readiness (/readyz) on one
// listener, and the definitions of every metric of the system, in one file.
//
// A subcommand starts the listener once, in main, when COCOON_METRICS_ADDR
// is set, and keeps it up while it drains so the drain can be watched:
//
//	addr := env.String("COCOON_METRICS_ADDR", "")
//	if _, err := obs.Start(context.WithoutCancel(ctx), addr, obs.Draining(ctx, b.Ready)); err != nil {
//		return err
//	}
//
// Components record with the package-level metrics directly:
//
//	obs.Jobs.WithLabelValues(obs.OutcomeDone).Inc()
//	obs.DispatchLatency.WithLabelValues(model).Observe(d.Seconds())
//	obs.QueueDepth.SetSource(func(ctx context.Context) (map[string]float64, error) { ... })
package obs
