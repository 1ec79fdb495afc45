package tinymodel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ollama/ollama/api"
)

// OllamaVersion is the release scripts/install-ollama.sh installs.
const OllamaVersion = "0.17.4"

// ErrNoOllama means no ollama binary was found.
var ErrNoOllama = errors.New("ollama binary not found: run scripts/install-ollama.sh (make tools)")

// OllamaBinary returns $COCOON_OLLAMA_BIN if set, else <repo>/.tools/bin/ollama
// where <repo> is the nearest directory at or above the working directory
// that holds a go.mod.
func OllamaBinary() (string, error) {
	if p := os.Getenv("COCOON_OLLAMA_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("COCOON_OLLAMA_BIN: %w", err)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".tools", "bin", "ollama")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("%w (looked for %s)", ErrNoOllama, p)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoOllama
		}
		dir = parent
	}
}

// OllamaProc is an `ollama serve` process started by RunOllama, with the
// tiny model installed.
type OllamaProc struct {
	Host   string // base URL, e.g. http://127.0.0.1:41234
	Model  string // name to request: Model ("tiny:latest")
	Client *api.Client
	PID    int // of `ollama serve`; its runners share its process group

	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error
	stop    sync.Once
}

// RunOllama starts `ollama serve` on a free loopback port with all its state
// (HOME, models) under dir, writes its log to logw (nil discards it), waits
// until it answers and installs the tiny model with DefaultSeed. ctx bounds
// the start only; call Stop to end the process.
func RunOllama(ctx context.Context, dir string, logw io.Writer) (*OllamaProc, error) {
	bin, err := OllamaBinary()
	if err != nil {
		return nil, err
	}
	if logw == nil {
		logw = io.Discard
	}
	var p *OllamaProc
	for attempt := 0; ; attempt++ {
		// The port is free when picked but may be taken before ollama binds it.
		p, err = startServe(ctx, bin, dir, logw)
		if err == nil || attempt == 2 || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	p.Model, err = Ensure(ctx, p.Client, DefaultSeed)
	if err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func startServe(ctx context.Context, bin, dir string, logw io.Writer) (*OllamaProc, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()

	cmd := exec.Command(bin, "serve")
	cmd.Env = append(environ(),
		"HOME="+dir,
		"OLLAMA_MODELS="+filepath.Join(dir, "models"),
		"OLLAMA_HOST="+addr,
		"OLLAMA_NUM_PARALLEL=8", // default 1 queues concurrent requests
		"OLLAMA_KEEP_ALIVE=-1",  // never unload the model between requests
		"OLLAMA_NO_CLOUD=1",     // no internet here
		"OLLAMA_NOPRUNE=1",
	)
	cmd.Stdout, cmd.Stderr = logw, logw
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = 2 * time.Second // runners may hold the log pipe open
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s serve: %w", bin, err)
	}
	base := &url.URL{Scheme: "http", Host: addr}
	p := &OllamaProc{
		Host:   base.String(),
		Client: api.NewClient(base, http.DefaultClient),
		PID:    cmd.Process.Pid,
		cmd:    cmd,
		done:   make(chan struct{}),
	}
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()

	if err := p.waitReady(ctx); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// environ is os.Environ without HOME and OLLAMA_* settings of the caller.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "OLLAMA_") {
			env = append(env, kv)
		}
	}
	return env
}

func (p *OllamaProc) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := p.Client.Version(ctx); err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("ollama serve exited before answering: %v", p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("ollama serve on %s not ready: %w", p.Host, ctx.Err())
		case <-tick.C:
		}
	}
}

// Stop ends the server and its runners: SIGTERM to the process group, SIGKILL
// after 5 s. It is safe to call more than once.
func (p *OllamaProc) Stop() { p.end(syscall.SIGTERM, 5*time.Second) }

// Kill ends the server and its runners at once with SIGKILL, as a crash would.
func (p *OllamaProc) Kill() { p.end(syscall.SIGKILL, 0) }

func (p *OllamaProc) end(sig syscall.Signal, grace time.Duration) {
	p.stop.Do(func() {
		_ = syscall.Kill(-p.PID, sig)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
		// Also reaps runners left in the group after serve exited.
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		<-p.done
	})
}

// Done is closed when the server process has exited.
func (p *OllamaProc) Done() <-chan struct{} { return p.done }
