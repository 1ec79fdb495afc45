package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/teststack"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// cocoonBin builds bin/cocoon once per test binary.
func cocoonBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cocoon-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "cocoon")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/cocoon-network/cocoon/cmd/cocoon").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build cocoon: %v", buildErr)
	}
	return binPath
}

// workerProc runs `cocoon worker` as a real process against the stack.
func workerProc(t *testing.T, s *teststack.Stack, name string, poolSize int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(cocoonBin(t), "worker")
	cmd.Dir = t.TempDir() // no .cocoon/dev.env here
	cmd.Env = append(os.Environ(), "COCOON_BROKER_URL="+s.URL, "OLLAMA_HOST="+s.Ollama.Host,
		"COCOON_WORKER_INSECURE=true", "COCOON_WORKER_MAX_JOBS=4", "COCOON_WORKER_NAME="+name)
	if os.Getenv("COCOON_TEST_LOG") == "1" {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _, _ = cmd.Process.Wait() })
	waitWorkers(t, s, poolSize)
	return cmd
}

// workerNames maps live worker ids to their names.
func workerNames(t *testing.T, s *teststack.Stack) map[string]string {
	t.Helper()
	pool, err := s.Client.Pool(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, raw := range pool {
		var w struct{ ID, Name string }
		if err := json.Unmarshal(raw, &w); err != nil {
			t.Fatal(err)
		}
		m[w.ID] = w.Name
	}
	return m
}

// waitWorkers waits until the pool has n live workers.
func waitWorkers(t *testing.T, s *teststack.Stack, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ms, err := s.Client.Models(context.Background())
		if err == nil && len(ms) > 0 && ms[0].Workers >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pool never reached %d workers", n)
}
