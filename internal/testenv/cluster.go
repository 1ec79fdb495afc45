package testenv

import (
	"github.com/cocoon-network/cocoon/internal/localredis"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a real 3-master Redis Cluster on loopback ports.
type Cluster struct {
	Addrs []string
	cmds  []*exec.Cmd
}

// StartCluster starts three cluster-enabled redis-servers and joins them.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := RedisServerBin(t)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not found: run `apt-get install -y redis-server`")
	}
	c := &Cluster{}
	t.Cleanup(func() {
		for _, cmd := range c.cmds {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})
	for i := 0; i < 3; i++ {
		dir := t.TempDir()
		port := strconv.Itoa(FreePort(t))
		cmd := exec.Command(bin, append([]string{"--port", port, "--bind", "127.0.0.1", "--cluster-enabled", "yes",
			"--cluster-config-file", dir + "/nodes.conf", "--dir", dir, "--save", "", "--appendonly", "no",
			"--logfile", dir + "/redis.log"}, localredis.TunedArgs...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start cluster node: %v", err)
		}
		c.cmds = append(c.cmds, cmd)
		addr := "127.0.0.1:" + port
		waitPing(t, addr, dir)
		c.Addrs = append(c.Addrs, addr)
	}
	out, err := exec.Command(cli, append(append([]string{"--cluster", "create"}, c.Addrs...), "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v: %s", err, out)
	}
	cc := c.Client(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := cc.ClusterInfo(t.Context()).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ok: %v %s", err, info)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

// Client returns a go-redis ClusterClient for the cluster, closed at cleanup.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { cc.Close() })
	return cc
}
