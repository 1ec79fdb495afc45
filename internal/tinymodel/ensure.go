package tinymodel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ollama/ollama/api"
)

const (
	// Name is the name the model is created under.
	Name = "tiny"
	// Model is the name Ollama reports for it (and accepts in requests).
	Model = Name + ":latest"
	// FileName is the GGUF file name used in Modelfile and CreateRequest.Files.
	FileName = "tiny.gguf"
	// DefaultSeed is the weight seed used by RunOllama and `cocoon up`.
	DefaultSeed int64 = 1
)

// Template renders every message as "<|role|>\ncontent<|end|>\n" and ends a
// conversation whose last turn is not the assistant's with an open
// "<|assistant|>\n" header. A last assistant message is left open (no end
// marker, no new header), so Ollama continues that partial answer; failover
// relies on this.
const Template = `{{- range $i, $m := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}<|{{ .Role }}|>
{{ .Content }}
{{- if not (and $last (eq .Role "assistant")) }}<|end|>
{{ end }}
{{- if and $last (ne .Role "assistant") }}<|assistant|>
{{ end }}
{{- end }}`

// Modelfile creates the model with `ollama create tiny -f Modelfile` next to
// a tiny.gguf written by Write.
const Modelfile = "FROM ./" + FileName + "\n" +
	"TEMPLATE \"\"\"" + Template + "\"\"\"\n" +
	"PARAMETER temperature 0\n" +
	"PARAMETER seed 42\n" +
	"PARAMETER num_ctx 2048\n" +
	"PARAMETER repeat_penalty 1.3\n" +
	"PARAMETER repeat_last_n 32\n"

// Parameters returns the Modelfile parameters as CreateRequest.Parameters.
func Parameters() map[string]any {
	// A repeat penalty keeps greedy decoding on random weights out of
	// loops: Ollama aborts a stream after 30 identical tokens in a row.
	return map[string]any{"temperature": 0, "seed": 42, "num_ctx": ContextLength, "repeat_penalty": 1.3, "repeat_last_n": 32}
}

// Ensure makes sure the running Ollama behind client has the tiny model with
// the weights of seed and the current Template and Parameters, creating it through the API
// (CreateBlob + Create, ~20 ms) when it is missing or differs. It returns the
// model name to use in requests.
func Ensure(ctx context.Context, client *api.Client, seed int64) (string, error) {
	var buf bytes.Buffer
	if err := Write(&buf, seed); err != nil {
		return "", fmt.Errorf("tinymodel: write gguf: %w", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	hexsum := hex.EncodeToString(sum[:])

	// Show's Modelfile names the weights blob as ".../sha256-<hex>".
	show, err := client.Show(ctx, &api.ShowRequest{Model: Model})
	if err == nil && show.Template == Template && strings.Contains(show.Modelfile, "sha256-"+hexsum) &&
		paramsMatch(show.Parameters) {
		return Model, nil
	}

	digest := "sha256:" + hexsum
	if err := client.CreateBlob(ctx, digest, &buf); err != nil {
		return "", fmt.Errorf("tinymodel: upload blob: %w", err)
	}
	req := &api.CreateRequest{
		Model:      Name,
		Files:      map[string]string{FileName: digest},
		Template:   Template,
		Parameters: Parameters(),
	}
	if err := client.Create(ctx, req, func(api.ProgressResponse) error { return nil }); err != nil {
		return "", fmt.Errorf("tinymodel: create %s: %w", Name, err)
	}
	return Model, nil
}

// paramsMatch reports whether Show's parameter listing ("key   value" lines)
// holds exactly Parameters().
func paramsMatch(listing string) bool {
	want := Parameters()
	lines := strings.Split(strings.TrimSpace(listing), "\n")
	if len(lines) != len(want) {
		return false
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 2 || want[f[0]] == nil || fmt.Sprint(want[f[0]]) != f[1] {
			return false
		}
	}
	return true
}
