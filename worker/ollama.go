package worker

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ollama/ollama/api"

	"github.com/cocoon-network/cocoon/wire"
)

// ollama is the worker's view of its local Ollama server.
type ollama struct {
	c    *api.Client
	base *url.URL
	hc   *http.Client
}

func newOllama(host string, hc *http.Client) (*ollama, error) {
	u, err := url.Parse(host)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("OLLAMA_HOST %q: want a URL like http://127.0.0.1:11434", host)
	}
	return &ollama{c: api.NewClient(u, hc), base: u, hc: hc}, nil
}

// models lists the local models with their digests (/api/tags).
func (o *ollama) models(ctx context.Context) ([]wire.ModelDigest, error) {
	resp, err := o.c.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("ollama /api/tags: %w", err)
	}
	out := make([]wire.ModelDigest, 0, len(resp.Models))
	for _, m := range resp.Models {
		out = append(out, wire.ModelDigest{Name: m.Name, Digest: m.Digest})
	}
	return out, nil
}

// loaded lists the models resident in memory (/api/ps).
func (o *ollama) loaded(ctx context.Context) []string {
	resp, err := o.c.ListRunning(ctx)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(resp.Models))
	for _, m := range resp.Models {
		out = append(out, m.Name)
	}
	return out
}

// segmentBudget is how many tokens a leased job may still generate: its
// maximum less what earlier segments streamed (at least 1).
func segmentBudget(j *wire.LeasedJob) int { return max(j.MaxTokens-j.Tokens, 1) }

// allowedOptions are the Ollama options a payload may set; num_predict is
// always the job's remaining token budget.
var allowedOptions = map[string]bool{
	"temperature": true, "seed": true, "top_k": true, "top_p": true, "min_p": true,
	"num_thread": true, "repeat_penalty": true, "repeat_last_n": true, "stop": true,
	"presence_penalty": true, "frequency_penalty": true, "num_ctx": true,
}

// chatRequest builds the Ollama request for a leased job: the payload's
// messages, then — when an earlier worker already streamed part of the
// answer — that partial answer as the last (assistant) turn, which Ollama
// continues.
func chatRequest(j *wire.LeasedJob, p *wire.Payload, prefix string) *api.ChatRequest {
	msgs := make([]api.Message, 0, len(p.Messages)+1)
	for _, m := range p.Messages {
		msgs = append(msgs, api.Message{Role: m.Role, Content: m.Content})
	}
	if prefix != "" {
		msgs = append(msgs, api.Message{Role: "assistant", Content: prefix})
	}
	opts := map[string]any{}
	for k, v := range p.Options {
		if allowedOptions[k] {
			opts[k] = v
		}
	}
	opts["num_predict"] = segmentBudget(j)
	stream := true
	return &api.ChatRequest{Model: j.Model, Messages: msgs, Options: opts, Stream: &stream}
}
