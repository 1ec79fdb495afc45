package tinymodel

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/fs/ggml"
	"github.com/ollama/ollama/template"
)

func write(t *testing.T, seed int64) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, seed); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWriteDeterministic(t *testing.T) {
	a, b, c := write(t, 42), write(t, 42), write(t, 43)
	if !bytes.Equal(a, b) {
		t.Fatal("two writes with seed 42 differ")
	}
	if bytes.Equal(a, c) {
		t.Fatal("seeds 42 and 43 wrote the same bytes")
	}
	if len(a) > 1<<20 {
		t.Fatalf("model is %d bytes, want under 1 MiB", len(a))
	}
}

func TestVocabUnique(t *testing.T) {
	seen := map[string]int{}
	for i, tok := range Vocab() {
		if j, dup := seen[tok]; dup {
			t.Fatalf("token %q at %d and %d", tok, j, i)
		}
		seen[tok] = i
	}
	if got := Vocab()[firstNormal]; got != "▁" {
		t.Fatalf("first normal piece = %q, want ▁", got)
	}
}

// TestDecodesWithOllama reads the file back with Ollama's own GGUF reader.
func TestDecodesWithOllama(t *testing.T) {
	raw := write(t, 1)
	f, err := ggml.Decode(bytes.NewReader(raw), -1)
	if err != nil {
		t.Fatal(err)
	}
	kv := f.KV()
	if kv.Architecture() != "llama" || kv.ContextLength() != ContextLength || kv.BlockCount() != layers {
		t.Fatalf("arch %q ctx %d blocks %d", kv.Architecture(), kv.ContextLength(), kv.BlockCount())
	}
	if got := len(kv.Strings("tokenizer.ggml.tokens")); got != len(Vocab()) {
		t.Fatalf("%d tokens, want %d", got, len(Vocab()))
	}
	if got, want := len(f.Tensors().Items()), 3+9*layers; got != want {
		t.Fatalf("%d tensors, want %d", got, want)
	}
	for _, tt := range f.Tensors().Items() {
		if tt.Offset%alignment != 0 {
			t.Errorf("tensor %s at offset %d, not %d-aligned", tt.Name, tt.Offset, alignment)
		}
	}
	if f.Length != int64(len(raw)) {
		t.Fatalf("decoded length %d, file %d", f.Length, len(raw))
	}
}

func TestTemplate(t *testing.T) {
	tmpl, err := template.Parse(Template)
	if err != nil {
		t.Fatal(err)
	}
	render := func(msgs ...api.Message) string {
		var b strings.Builder
		if err := tmpl.Execute(&b, template.Values{Messages: msgs}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	sys := api.Message{Role: "system", Content: "Be brief."}
	user := api.Message{Role: "user", Content: "Hi"}
	asst := api.Message{Role: "assistant", Content: "Hello there"}
	tests := []struct {
		name string
		msgs []api.Message
		want string
	}{
		{"user", []api.Message{user}, "<|user|>\nHi<|end|>\n<|assistant|>\n"},
		{"all turns", []api.Message{sys, user, asst, user},
			"<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello there<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n"},
		{"partial answer stays open", []api.Message{user, asst},
			"<|user|>\nHi<|end|>\n<|assistant|>\nHello there"},
	}
	for _, tt := range tests {
		if got := render(tt.msgs...); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestModelfile(t *testing.T) {
	wants := []string{"FROM ./tiny.gguf\n", "TEMPLATE \"\"\"" + Template + "\"\"\"\n"}
	for k, v := range Parameters() {
		wants = append(wants, fmt.Sprintf("PARAMETER %s %v\n", k, v))
	}
	for _, want := range wants {
		if !strings.Contains(Modelfile, want) {
			t.Errorf("Modelfile lacks %q", want)
		}
	}
}
