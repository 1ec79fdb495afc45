// Package worker joins a broker's pool, leases jobs for the models of its
// local Ollama, runs them with streaming chat and pushes the chunks back. It
// speaks only the broker's worker API (never Redis).
//
//	w, err := worker.New(worker.Config{BrokerURL: u, OllamaHost: h, Insecure: true})
//	if err != nil { ... }
//	err = w.Run(ctx) // until ctx ends, then drains
package worker
