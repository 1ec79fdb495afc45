package testenv

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"

	"github.com/cocoon-network/cocoon/wire"
)

// DetOptions are the Ollama options under which the tiny model answers the
// same text through Cocoon and directly: greedy, seeded, one thread (thread
// count changes float sums), and the repeat penalty of its Modelfile.
func DetOptions() map[string]any {
	return map[string]any{"temperature": 0, "seed": 42, "num_thread": 1, "repeat_penalty": 1.3, "repeat_last_n": 32}
}

// Direct asks this Ollama itself, bypassing Cocoon, with DetOptions and
// num_predict, and returns the answer and Ollama's token counts.
func (o *Ollama) Direct(t testing.TB, msgs []wire.Message, numPredict int) (string, api.Metrics) {
	t.Helper()
	am := make([]api.Message, 0, len(msgs))
	for _, m := range msgs {
		am = append(am, api.Message{Role: m.Role, Content: m.Content})
	}
	opts := DetOptions()
	maps.Copy(opts, map[string]any{"num_predict": numPredict})
	var sb strings.Builder
	var metrics api.Metrics
	err := o.Client.Chat(context.Background(), &api.ChatRequest{Model: o.Model, Messages: am, Options: opts},
		func(r api.ChatResponse) error {
			sb.WriteString(r.Message.Content)
			if r.Done {
				metrics = r.Metrics
			}
			return nil
		})
	if err != nil {
		t.Fatalf("direct ollama: %v", err)
	}
	return sb.String(), metrics
}
