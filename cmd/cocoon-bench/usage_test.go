package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRedisUsageSplitsKernelTime: the per-job note adds user and system
// CPU into "busy" and gives each per job, from INFO's own lines.
func TestRedisUsageSplitsKernelTime(t *testing.T) {
	info := func(user, sys string, calls int) string {
		return strings.Join([]string{"# CPU", "used_cpu_sys:" + sys, "used_cpu_user:" + user,
			"used_cpu_sys_children:5.0", "used_cpu_user_children:7.0",
			"# Commandstats", "cmdstat_evalsha:calls=" + strconv.Itoa(calls) + ",usec=" + strconv.Itoa(20*calls) + ",usec_per_call=20.00"}, "\r\n")
	}
	u0 := parseUsage(info("1.0", "2.0", 0))
	if u0.cpu != 3 || u0.sys != 2 || u0.childCPU != 12 {
		t.Fatalf("parsed cpu %v sys %v children %v, want 3, 2, 12", u0.cpu, u0.sys, u0.childCPU)
	}
	u := parseUsage(info("1.3", "2.1", 1000))
	u.at = u0.at.Add(time.Second)
	got := u.since(u0, 1000)
	for _, want := range []string{"redis busy 40% of a core", "400.0µs/job (user 300.0, sys 100.0)", "evalsha 1.00/job 20.0µs"} {
		if !strings.Contains(got, want) {
			t.Errorf("note %q lacks %q", got, want)
		}
	}
}
