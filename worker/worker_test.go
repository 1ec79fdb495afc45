package worker

import (
	"testing"
	"time"
)

// TestJobAverage: the heartbeat's avg_job_ms is 0 until a job is answered,
// then a moving average weighting the newest job by avgWeight.
func TestJobAverage(t *testing.T) {
	w := &Worker{}
	if got := w.avgJobMs(); got != 0 {
		t.Fatalf("before any job: %d ms, want 0", got)
	}
	w.observeJob(time.Second)
	w.observeJob(2 * time.Second)
	if got := w.avgJobMs(); got != 1200 {
		t.Fatalf("after 1 s and 2 s: %d ms, want 1200", got)
	}
	w.observeJob(time.Microsecond)
	if got := w.avgJobMs(); got != 960 {
		t.Fatalf("after a 1 µs job: %d ms, want 960", got)
	}
}
