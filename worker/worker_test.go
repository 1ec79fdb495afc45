package worker

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/wire"
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

// TestHeartbeatToBrokerWithoutAverage: a broker from before avg_job_ms
// refuses it as an unknown field; the heartbeat goes again without it and
// later ones leave it out.
func TestHeartbeatToBrokerWithoutAverage(t *testing.T) {
	var calls, withAvg atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		raw, _ := io.ReadAll(r.Body)
		if strings.Contains(string(raw), "avg_job_ms") {
			withAvg.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":{"code":"bad_request","message":"unknown field","field":"avg_job_ms"}}`))
			return
		}
		w.Write([]byte(`{"stop":["j1"]}`))
	}))
	defer srv.Close()
	a := newAPIClient(srv.URL, srv.Client())
	for i := 0; i < 2; i++ {
		resp, err := a.heartbeat(context.Background(), &wire.HeartbeatRequest{Running: 1, AvgJobMs: 1500})
		if err != nil || len(resp.Stop) != 1 {
			t.Fatalf("heartbeat %d: %+v %v", i, resp, err)
		}
	}
	if calls.Load() != 3 || withAvg.Load() != 1 {
		t.Fatalf("%d requests, %d with the average; want 3 and 1", calls.Load(), withAvg.Load())
	}
}
