package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/internal/teststack"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// detOpts: the tiny model answers the same through Cocoon and directly.
var detOpts = testenv.DetOptions()

func TestSpineAnswerEqualsDirectOllama(t *testing.T) {
	s := teststack.Start(t, teststack.Options{})
	s.AddWorker(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	msgs := []wire.Message{{Role: "user", Content: "hello"}}
	var deltas []string
	// 240 tokens: a fast stream's tokens join few chunks (one per report
	// round trip, or 25 ms), so a short answer may come in one piece.
	res, err := s.Submitter.Run(ctx, &submit.Request{Model: s.Ollama.Model, User: "cli:test", MaxTokens: 240,
		Messages: msgs, Options: detOpts}, func(d string) { deltas = append(deltas, d) })
	if err != nil {
		t.Fatalf("ask: %v", err)
	}
	want, m := s.Ollama.Direct(t, msgs, 240)
	if res.Text != want {
		t.Fatalf("answer through Cocoon differs from Ollama's:\n got %q\nwant %q", res.Text, want)
	}
	if len(deltas) < 2 || strings.Join(deltas, "") != want {
		t.Errorf("answer did not stream in pieces: %d deltas", len(deltas))
	}
	if res.PromptTokens != m.PromptEvalCount || res.CompletionTokens != m.EvalCount || m.EvalCount != 240 {
		t.Errorf("tokens: got %d+%d, Ollama says %d+%d", res.PromptTokens, res.CompletionTokens, m.PromptEvalCount, m.EvalCount)
	}
	st, err := s.Broker.Store().Get(ctx, res.JobID)
	if err != nil || st.State != wire.StateDone || st.CompletionTokens != 240 {
		t.Errorf("job in Redis: %+v, %v", st, err)
	}
}

func TestSpineBadInput(t *testing.T) {
	s := teststack.Start(t, teststack.Options{})
	ctx := context.Background()

	// No worker yet: a clear "no capacity", not a hang.
	_, err := s.Submitter.Run(ctx, &submit.Request{Model: s.Ollama.Model, User: "cli:test", MaxTokens: 8,
		Messages: []wire.Message{{Role: "user", Content: "hi"}}}, nil)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeNoCapacity {
		t.Fatalf("no worker: got %v, want no_capacity", err)
	}
	s.AddWorker(nil)

	_, err = s.Submitter.Run(ctx, &submit.Request{Model: "nope:1", User: "cli:test", MaxTokens: 8,
		Messages: []wire.Message{{Role: "user", Content: "hi"}}}, nil)
	if !errors.As(err, &we) || we.Code != wire.CodeUnknownModel || !strings.Contains(we.Message, s.Ollama.Model) {
		t.Fatalf("unknown model: got %v, want unknown_model naming %s", err, s.Ollama.Model)
	}

	long := strings.Repeat("x", 16385)
	var tl *submit.ErrPromptTooLong
	_, err = s.Submitter.Run(ctx, &submit.Request{Model: s.Ollama.Model, User: "cli:test", MaxTokens: 8,
		Messages: []wire.Message{{Role: "user", Content: long}}}, nil)
	if !errors.As(err, &tl) {
		t.Fatalf("long prompt: got %v", err)
	}
	if n, _ := s.Broker.Store().Depth(ctx, s.Ollama.Model); n != 0 {
		t.Errorf("a job was queued for a rejected prompt: depth %d", n)
	}

	cases := []struct {
		name, token, body string
		wantStatus        int
		wantField         string
	}{
		{"no token", "", `{}`, http.StatusUnauthorized, ""},
		{"wrong token", "nope", `{}`, http.StatusUnauthorized, ""},
		{"malformed", teststack.Token, `{"model":`, http.StatusBadRequest, ""},
		{"unknown field", teststack.Token, `{"modle":"x"}`, http.StatusBadRequest, "modle"},
		{"wrong type", teststack.Token, `{"model":"tiny:latest","max_tokens":"many"}`, http.StatusBadRequest, "max_tokens"},
		{"bad user", teststack.Token, `{"model":"tiny:latest","user":"","max_tokens":5,"payload":"eA=="}`, http.StatusBadRequest, "user"},
		{"max tokens", teststack.Token, `{"model":"tiny:latest","user":"u1","max_tokens":0,"payload":"eA=="}`, http.StatusBadRequest, "max_tokens"},
		{"empty payload", teststack.Token, `{"model":"tiny:latest","user":"u1","max_tokens":5}`, http.StatusBadRequest, "payload"},
		{"prompt bytes", teststack.Token, `{"model":"tiny:latest","user":"u1","max_tokens":5,"prompt_bytes":2000000,"payload":"eA=="}`, http.StatusRequestEntityTooLarge, "prompt_bytes"},
		{"bad id", teststack.Token, `{"id":"zz","model":"tiny:latest","user":"u1","max_tokens":5,"payload":"eA=="}`, http.StatusBadRequest, "id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, e := postJSON(t, s.URL+"/v1/jobs", c.token, c.body)
			if status != c.wantStatus || e.Field != c.wantField {
				t.Errorf("got %d field %q (%s), want %d field %q", status, e.Field, e.Message, c.wantStatus, c.wantField)
			}
		})
	}
}
