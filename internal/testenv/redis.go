// Package testenv starts the real components tests talk to: a redis-server
// (single node or a 3-master cluster) and an ollama serve with the tiny model,
// each on free loopback ports and in the test's own temp directory.
package testenv

import (
	"context"
	"fmt"
	"github.com/cocoon-network/cocoon/internal/localredis"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures StartRedis. The zero value is a plain in-memory server.
type RedisOptions struct {
	AOF bool // appendonly yes, appendfsync everysec
}

// Redis is a redis-server owned by one test.
type Redis struct {
	t    testing.TB
	Addr string // 127.0.0.1:port
	URL  string // redis://127.0.0.1:port/0
	Dir  string
	opts RedisOptions
	cmd  *exec.Cmd
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RedisServerBin locates redis-server or fails the test with the install command.
func RedisServerBin(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found: run `apt-get install -y redis-server` (make test does this when root)")
	}
	return p
}

// StartRedis starts a redis-server on a free port; it is killed at cleanup.
func StartRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	r := &Redis{t: t, Dir: t.TempDir(), opts: opts}
	port := FreePort(t)
	r.Addr = "127.0.0.1:" + strconv.Itoa(port)
	r.URL = "redis://" + r.Addr + "/0"
	r.start()
	t.Cleanup(func() { r.Kill() })
	return r
}

func (r *Redis) start() {
	t := r.t
	t.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", r.Dir, "--save", "", "--logfile", filepath.Join(r.Dir, "redis.log")},
		localredis.TunedArgs...)
	if r.opts.AOF {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec", "--appendfilename", "appendonly.aof")
	} else {
		args = append(args, "--appendonly", "no")
	}
	cmd := exec.Command(RedisServerBin(t), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	r.cmd = cmd
	waitPing(t, r.Addr, r.Dir)
}

func waitPing(t testing.TB, addr, dir string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if strings.Contains(err.Error(), "LOADING") || time.Now().Before(deadline) {
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		break
	}
	log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
	t.Fatalf("redis-server on %s did not answer: %s", addr, log)
}

// Client returns a new go-redis client for this server, closed at cleanup.
func (r *Redis) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	r.t.Cleanup(func() { c.Close() })
	return c
}

// Kill sends SIGKILL (a power cut from Redis's point of view) and waits.
func (r *Redis) Kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Pause stops the server's process (SIGSTOP): connections stay open and
// requests sent meanwhile wait in their sockets, as with a Redis stalled
// by a fork or a slow disk; Resume lets it run them.
func (r *Redis) Pause() { r.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (r *Redis) Resume() { r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig syscall.Signal) {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = syscall.Kill(-r.cmd.Process.Pid, sig)
	}
}

// Restart starts the server again on the same port and directory (after Kill).
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	r.start()
}

// AOFFiles lists the append-only files Redis 7 keeps under appenddirname.
func (r *Redis) AOFFiles() []string {
	m, _ := filepath.Glob(filepath.Join(r.Dir, "appendonlydir", "*"))
	return m
}

// TruncateAOFTail cuts n bytes off the end of the newest incremental AOF file,
// as a lost fsync window would. Call it between Kill and Restart.
func (r *Redis) TruncateAOFTail(n int64) error {
	var incr string
	for _, f := range r.AOFFiles() {
		if strings.Contains(f, ".incr.aof") && f > incr {
			incr = f
		}
	}
	if incr == "" {
		return fmt.Errorf("no incremental AOF file in %s", r.Dir)
	}
	st, err := os.Stat(incr)
	if err != nil {
		return err
	}
	size := st.Size() - n
	if size < 0 {
		size = 0
	}
	return os.Truncate(incr, size)
}
