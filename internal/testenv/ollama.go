package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/cocoon-network/cocoon/internal/tinymodel"
)

// Ollama is a real `ollama serve` owned by one test, serving the tiny model.
type Ollama struct {
	Host   string // base URL, e.g. http://127.0.0.1:41234
	Model  string // "tiny:latest"
	Client *api.Client
	Proc   *tinymodel.OllamaProc // Kill it to simulate a crashed GPU worker
}

// StartOllama starts `ollama serve` (COCOON_OLLAMA_BIN, else
// <repo>/.tools/bin/ollama) on a free port with its state in t.TempDir(),
// installs the tiny model and stops the server in t.Cleanup. It skips the
// test under -short; startup takes ~0.2 s.
func StartOllama(t testing.TB) *Ollama {
	t.Helper()
	if testing.Short() {
		t.Skip("real Ollama: skipped with -short")
	}
	if _, err := tinymodel.OllamaBinary(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "ollama.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := tinymodel.RunOllama(ctx, dir, logf)
	if err != nil {
		logf.Close()
		logOllamaTail(t, logPath)
		t.Fatalf("start ollama: %v", err)
	}
	t.Cleanup(func() {
		p.Stop()
		logf.Close()
		if t.Failed() {
			logOllamaTail(t, logPath)
		}
	})
	return &Ollama{Host: p.Host, Model: p.Model, Client: p.Client, Proc: p}
}

// logOllamaTail logs the end of the server log to help debug a failure.
func logOllamaTail(t testing.TB, path string) {
	b, _ := os.ReadFile(path)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	t.Logf("ollama log (%s), tail:\n%s", path, b)
}
