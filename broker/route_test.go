package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/wire"
)

// TestCandidatesOrder: the broker offers workers below their limit
// first, then those with the model loaded, then the lowest running jobs ×
// average job time (heartbeat avg_job_ms; a worker without one counts
// the others' mean), then the faster. A bad average or running count is
// refused, naming the field.
func TestCandidatesOrder(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	b, err := New(Config{Redis: r.Client(), Token: "t", AllowInsecure: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h := b.Handler()
	call := func(method, path, token string, body any) *httptest.ResponseRecorder {
		raw, _ := json.Marshal(body)
		req := httptest.NewRequest(method, path, nil)
		if body != nil {
			req = httptest.NewRequest(method, path, bytes.NewReader(raw))
		}
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	type spec struct {
		running int
		avgMs   int64
		loaded  bool
	}
	specs := []spec{
		{2, 1000, true}, // w0: 2 × 1000 = 2000
		{1, 5000, true}, // w1: 5000
		{3, 100, true},  // w2: 300
		{0, 0, true},    // w3: idle, no average yet (counts the mean, 1,151)
		{0, 800, true},  // w4: idle, faster than w3
		{1, 10, false},  // w5: model not loaded
		{4, 1, true},    // w6: at its limit of 4
	}
	ids := make([]string, len(specs))
	for i, sp := range specs {
		var nr wire.NonceResponse
		json.Unmarshal(post(h, "/v1/worker/nonce", []byte("{}")).Body.Bytes(), &nr)
		rec := post(h, "/v1/worker/join", joinReqSlots(t, nr.Nonce, 4))
		var jr wire.JoinResponse
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &jr) != nil {
			t.Fatalf("join %d: %d %s", i, rec.Code, rec.Body)
		}
		ids[i] = jr.WorkerID
		hb := wire.HeartbeatRequest{Running: sp.running, AvgJobMs: sp.avgMs, Loaded: []string{}}
		if sp.loaded {
			hb.Loaded = []string{model}
		}
		if rec := call(http.MethodPost, "/v1/worker/heartbeat", jr.Token, hb); rec.Code != http.StatusOK {
			t.Fatalf("heartbeat %d: %d %s", i, rec.Code, rec.Body)
		}
		if i == 0 {
			for _, bad := range []struct {
				hb    wire.HeartbeatRequest
				field string
			}{
				{wire.HeartbeatRequest{AvgJobMs: -1}, "avg_job_ms"},
				{wire.HeartbeatRequest{AvgJobMs: wire.MaxAvgJobMs + 1}, "avg_job_ms"},
				{wire.HeartbeatRequest{Running: -1}, "running"},
				{wire.HeartbeatRequest{Running: 1025}, "running"},
			} {
				rec := call(http.MethodPost, "/v1/worker/heartbeat", jr.Token, bad.hb)
				var we struct{ Error wire.Error }
				json.Unmarshal(rec.Body.Bytes(), &we)
				if rec.Code != http.StatusBadRequest || we.Error.Field != bad.field {
					t.Errorf("heartbeat %+v: %d %s, want 400 naming %s", bad.hb, rec.Code, rec.Body, bad.field)
				}
			}
		}
	}
	rec := call(http.MethodGet, fmt.Sprintf("/v1/candidates?model=%s&k=16", model), "t", nil)
	var cr wire.CandidatesResponse
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &cr) != nil {
		t.Fatalf("candidates: %d %s", rec.Code, rec.Body)
	}
	var got []int
	for _, c := range cr.Candidates {
		got = append(got, slices.Index(ids, c.WorkerID))
	}
	if want := []int{4, 3, 2, 0, 1, 5, 6}; !slices.Equal(got, want) {
		t.Fatalf("candidate order %v, want %v (worker indexes)", got, want)
	}
}
