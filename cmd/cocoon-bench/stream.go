package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/tinymodel"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
	"github.com/cocoon-network/cocoon/worker"
)

const (
	streamTokens = 256
	streamPrompt = "Tell me a long story about a moth."
)

// streamOpts are the Ollama options of both sides: one thread, greedy.
var streamOpts = map[string]any{"num_thread": 1, "temperature": 0, "seed": 42, "repeat_penalty": 1.3, "repeat_last_n": 32}

// streamRun is one timed answer: time to first token, time to last token
// and the tokens seen, all from the moment the request started.
type streamRun struct {
	ttft, last time.Duration
	tokens     int
}

func (r streamRun) tps() float64 { return float64(r.tokens) / r.last.Seconds() }

// stream compares a follower reading an answer through Cocoon (submitter →
// client API → broker → worker package → Ollama, chunks back through the
// worker API and the event stream) with a client reading the same Ollama
// directly, in pairs whose order alternates.
func (b *bench) stream(ctx context.Context) error {
	odir := filepath.Join(b.dir, "ollama")
	if err := os.MkdirAll(odir, 0o755); err != nil {
		return err
	}
	octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	olog := &ginLog{}
	op, err := tinymodel.RunOllama(octx, odir, olog)
	cancel()
	if err != nil {
		return fmt.Errorf("ollama (needs `make tools`): %w", err)
	}
	defer op.Stop()

	if err := b.flush(ctx); err != nil {
		return err
	}
	br, err := b.startBroker(ctx, nil)
	if err != nil {
		return err
	}
	defer br.stop()
	w, err := worker.New(worker.Config{BrokerURL: br.URL, OllamaHost: op.Host, Insecure: true, MaxJobs: 1, Name: "bench",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	wctx, wcancel := context.WithCancel(ctx)
	wdone := make(chan error, 1)
	go func() { wdone <- w.Run(wctx) }()
	defer func() { wcancel(); <-wdone }()
	sub := &submit.Submitter{C: client.New(br.URL, token), Policy: attest.Policy{AllowInsecureDev: true}}
	if !waitFor(ctx, func() bool {
		ms, err := sub.C.Models(ctx)
		return err == nil && len(ms) > 0
	}, 30*time.Second) {
		return fmt.Errorf("the worker did not join")
	}

	direct := func() (streamRun, error) { return b.streamDirect(ctx, op.Client, op.Model) }
	system := func() (streamRun, error) { return b.streamSystem(ctx, sub, op.Model) }
	for i := 0; i < 2; i++ { // warm up both paths (model load, connections)
		if _, err := direct(); err != nil {
			return err
		}
		if _, err := system(); err != nil {
			return err
		}
	}
	var extra, dTTFT, sTTFT, dTPS, sTPS, dOl, sOl []float64
	var ratios [2][]float64 // per-pair ratios: direct first, Cocoon first
	err = b.profile("stream", func() error {
		for i := 0; i < b.cfg.StreamRuns; i++ {
			olog.take()
			// Which side goes first alternates (direct first in even
			// pairs), so neither always follows the other.
			var d, s streamRun
			var err error
			for k := 0; k < 2; k++ {
				if (k == 0) == (i%2 == 0) {
					d, err = direct()
					dOl = append(dOl, olog.take()...)
				} else {
					s, err = system()
					sOl = append(sOl, olog.take()...)
				}
				if err != nil {
					return err
				}
			}
			if d.tokens != streamTokens || s.tokens != streamTokens {
				return fmt.Errorf("run %d: %d tokens direct, %d through Cocoon; want %d both", i, d.tokens, s.tokens, streamTokens)
			}
			ratios[i%2] = append(ratios[i%2], s.tps()/d.tps())
			extra = append(extra, ms(s.ttft-d.ttft))
			dTTFT, sTTFT = append(dTTFT, ms(d.ttft)), append(sTTFT, ms(s.ttft))
			dTPS, sTPS = append(dTPS, d.tps()), append(sTPS, s.tps())
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The median of all pairs' ratios: a pair's two requests run
	// back to back, so a slow spell of the machine (Ollama's own speed
	// moves ±20 % between spells) lands on both; the ratio of the two
	// sides' medians does not cancel it.
	b.add("stream_ratio", medianF(append(append([]float64(nil), ratios[0]...), ratios[1]...)), "x", 3)
	b.add("ttft_overhead_ms", medianF(extra), "ms", 2)
	b.note("stream: median direct %.0f tok/s, first token %.2f ms; through Cocoon %.0f tok/s, first token %.2f ms (%d pairs, %d tokens)",
		medianF(dTPS), medianF(dTTFT), medianF(sTPS), medianF(sTTFT), len(extra), streamTokens)
	b.note("stream: median of the per-pair ratios %.3f when direct ran first, %.3f when Cocoon ran first",
		medianF(ratios[0]), medianF(ratios[1]))
	b.note("stream: Ollama's own request time (its log): median %.1f ms direct, %.1f ms for the worker's requests",
		medianF(dOl), medianF(sOl))
	return nil
}

// ginLog collects the durations Ollama logs for /api/chat requests.
type ginLog struct {
	mu   sync.Mutex
	buf  []byte
	durs []float64
}

func (g *ginLog) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.buf = append(g.buf, p...)
	for {
		i := bytes.IndexByte(g.buf, '\n')
		if i < 0 {
			break
		}
		line := string(g.buf[:i])
		g.buf = g.buf[i+1:]
		// [GIN] 2026/11/26 - 07:30:00 | 200 |   75.123456ms |  127.0.0.1 | POST     "/api/chat"
		if !strings.Contains(line, "/api/chat") {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) < 3 {
			continue
		}
		if d, err := time.ParseDuration(strings.ReplaceAll(strings.TrimSpace(f[2]), "µ", "u")); err == nil {
			g.durs = append(g.durs, ms(d))
		}
	}
	return len(p), nil
}

func (g *ginLog) take() []float64 {
	time.Sleep(20 * time.Millisecond) // the log line follows the response
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.durs
	g.durs = nil
	return out
}

// streamDirect reads the answer from Ollama itself.
func (b *bench) streamDirect(ctx context.Context, c *api.Client, model string) (streamRun, error) {
	opts := map[string]any{"num_predict": streamTokens}
	for k, v := range streamOpts {
		opts[k] = v
	}
	var r streamRun
	start := time.Now()
	err := c.Chat(ctx, &api.ChatRequest{Model: model, Options: opts,
		Messages: []api.Message{{Role: "user", Content: streamPrompt}}}, func(resp api.ChatResponse) error {
		if resp.Message.Content != "" {
			now := time.Since(start)
			if r.tokens == 0 {
				r.ttft = now
			}
			r.last = now
			r.tokens++
		}
		return nil
	})
	return r, err
}

// streamSystem asks the pool through the submit package (sealed to the
// worker, chunks opened by the follower) and times the deltas it shows;
// the tokens are the job's completion tokens.
func (b *bench) streamSystem(ctx context.Context, sub *submit.Submitter, model string) (streamRun, error) {
	var r streamRun
	start := time.Now()
	first := true
	res, err := sub.Run(ctx, &submit.Request{Model: model, User: "bench:stream", MaxTokens: streamTokens, Options: streamOpts,
		Messages: []wire.Message{{Role: "user", Content: streamPrompt}}}, func(string) {
		now := time.Since(start)
		if first {
			r.ttft, first = now, false
		}
		r.last = now
	})
	if err != nil {
		return r, err
	}
	if res.State != wire.StateDone {
		return r, fmt.Errorf("job %s ended %s: %s", res.JobID, res.State, res.Error)
	}
	// A chunk may carry several tokens: count what the job reports.
	r.tokens = res.CompletionTokens
	return r, nil
}
