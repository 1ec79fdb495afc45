package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/wire"
)

// TestClientDropsFollowForOlderBroker: a broker from before
// SubmitRequest.Follow refuses the field as unknown; the client submits
// the job again without it, and leaves it out from then on, batched or
// not.
func TestClientDropsFollowForOlderBroker(t *testing.T) {
	b, _, _ := submitBroker(t, Config{})
	h := b.Handler()
	var refused atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"follow"`)) { // as an older broker's strict decoder answers
			refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(wire.ErrorBody{Error: &wire.Error{Code: wire.CodeBadRequest, Field: "follow", Message: "unknown field"}})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	for _, c := range []struct {
		name string
		c    *client.Client
	}{{"batched", client.New(srv.URL, "t")}, {"single", client.New(srv.URL, "t", client.WithoutSubmitBatching())}} {
		refused.Store(0)
		for i := 0; i < 3; i++ {
			j := job("u1")
			j.Follow = true
			if ack, err := c.c.Submit(context.Background(), j); err != nil || ack.JobID != j.ID {
				t.Fatalf("%s: submit %d: %+v %v", c.name, i, ack, err)
			}
			if st, err := b.store.Get(context.Background(), j.ID); err != nil || st.State != wire.StateQueued {
				t.Fatalf("%s: job %d not stored: %+v %v", c.name, i, st, err)
			}
		}
		if n := refused.Load(); n != 1 {
			t.Errorf("%s: %d refused requests, want 1 (then none with follow)", c.name, n)
		}
	}
}
