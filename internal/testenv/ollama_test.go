package testenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"
)

// ollamaChat streams one chat and returns the text and the final response.
func ollamaChat(t *testing.T, o *Ollama, msgs ...api.Message) (string, api.ChatResponse) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := &api.ChatRequest{
		Model:    o.Model,
		Messages: msgs,
		Options:  map[string]any{"temperature": 0, "seed": 42, "num_predict": 64, "num_thread": 1},
	}
	var text strings.Builder
	var last api.ChatResponse
	var chunks int
	start := time.Now()
	var first time.Duration
	err := o.Client.Chat(ctx, req, func(r api.ChatResponse) error {
		if chunks == 0 {
			first = time.Since(start)
		}
		chunks++
		text.WriteString(r.Message.Content)
		last = r
		return nil
	})
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	if chunks < 2 {
		t.Fatalf("got %d stream chunks, want a streamed answer", chunks)
	}
	tps := float64(last.EvalCount) / last.EvalDuration.Seconds()
	t.Logf("prompt %d tok, eval %d tok, first chunk %v, %.0f tok/s: %q",
		last.PromptEvalCount, last.EvalCount, first.Round(time.Microsecond), tps, text.String())
	return text.String(), last
}

func TestOllamaTinyModel(t *testing.T) {
	o := StartOllama(t)
	if o.Model != "tiny:latest" {
		t.Errorf("Model = %q, want tiny:latest", o.Model)
	}
	user := api.Message{Role: "user", Content: "Hello, who are you?"}

	text, resp := ollamaChat(t, o, user)
	if resp.DoneReason != "length" || resp.EvalCount != 64 {
		t.Fatalf("done_reason %q eval_count %d, want length and 64", resp.DoneReason, resp.EvalCount)
	}
	if again, _ := ollamaChat(t, o, user); again != text {
		t.Fatalf("not deterministic:\n%q\n%q", text, again)
	}

	t.Run("history adds prompt tokens", func(t *testing.T) {
		_, withHistory := ollamaChat(t, o,
			api.Message{Role: "system", Content: "Answer briefly."},
			api.Message{Role: "user", Content: "What is a cocoon?"},
			api.Message{Role: "assistant", Content: "A silk case spun by a moth larva."},
			user)
		if withHistory.PromptEvalCount <= resp.PromptEvalCount {
			t.Fatalf("prompt tokens with history %d, without %d", withHistory.PromptEvalCount, resp.PromptEvalCount)
		}
	})

	t.Run("partial assistant answer is continued", func(t *testing.T) {
		partial := text[:len(text)/2]
		cont, contResp := ollamaChat(t, o, user, api.Message{Role: "assistant", Content: partial})
		if contResp.PromptEvalCount <= resp.PromptEvalCount {
			t.Fatalf("prompt tokens with partial answer %d, fresh %d", contResp.PromptEvalCount, resp.PromptEvalCount)
		}
		if cont == text {
			t.Fatalf("continuation equals the fresh answer %q", cont)
		}
		if contResp.DoneReason != "length" || contResp.EvalCount != 64 {
			t.Fatalf("done_reason %q eval_count %d", contResp.DoneReason, contResp.EvalCount)
		}
	})
}
