// Package localredis runs a redis-server child process for `cocoon up`: on
// a free loopback port (never 6379), with AOF on, its files in a folder of
// the project's.
package localredis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// TunedArgs are the redis-server settings Cocoon's workload wants, for
// every Redis the project starts (and docker-compose.yml, and
// docs/operations.md for a Redis of your own): every job has its own event
// stream, and Redis 7 allocates a new stream's first node at
// stream-node-max-bytes (4 KiB by default); at 1 KiB creating one costs
// ~3 µs instead of ~18 µs and ~1.3 KiB instead of ~4.3 KiB.
var TunedArgs = []string{"--stream-node-max-bytes", "1024"}

// Proc is a running redis-server.
type Proc struct {
	URL string
	cmd *exec.Cmd
}

// ErrMissing means redis-server is not installed.
var ErrMissing = errors.New("redis-server not found: install it with `apt-get install -y redis-server` (make up does this when root)")

// Start launches redis-server with its data in dir and waits until it answers.
func Start(ctx context.Context, dir string) (*Proc, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrMissing
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
		"--logfile", filepath.Join(dir, "redis.log")}, TunedArgs...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	p := &Proc{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), cmd: cmd}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for c.Ping(ctx).Err() != nil {
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop()
			return nil, fmt.Errorf("redis-server did not answer; see %s", filepath.Join(dir, "redis.log"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p, nil
}

// Stop terminates the server (SIGTERM: it flushes its AOF) and waits.
func (p *Proc) Stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func freePort() (int, error) {
	for i := 0; i < 10; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port != 6379 {
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}
