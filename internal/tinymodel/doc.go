// Package tinymodel builds a tiny llama-architecture model with seeded random
// weights and serves it from a local Ollama, so tests and `cocoon up` run real
// inference without downloading a model.
//
// The output is nonsense but deterministic: with the same seed the GGUF file is
// byte-identical, and with temperature 0 the same prompt yields the same text.
// Assert on structure (done_reason, eval_count), never on meaning.
//
//	p, err := tinymodel.RunOllama(ctx, dir, os.Stderr) // ollama serve + tiny model
//	if err != nil { ... }
//	defer p.Stop()
//	err = p.Client.Chat(ctx, &api.ChatRequest{Model: p.Model, Messages: msgs}, fn)
//
// Against an Ollama that is already running, Ensure installs the model through
// the API (no CLI needed):
//
//	model, err := tinymodel.Ensure(ctx, client, tinymodel.DefaultSeed)
package tinymodel
