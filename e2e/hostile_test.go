package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/teststack"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// hostileClient puts a proxy in front of the real broker that rewrites
// the candidate list, as a compromised broker would.
type hostileClient struct {
	*teststack.Stack
	cand wire.Candidate
}

func (h *hostileClient) run(ctx context.Context, sub *submit.Submitter) (*submit.Result, error) {
	real := h.Stack.URL
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/candidates") {
			json.NewEncoder(w).Encode(wire.CandidatesResponse{Candidates: []wire.Candidate{h.cand}})
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, real+r.URL.RequestURI(), r.Body)
		req.Header = r.Header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			w.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	sub.C = client.New(srv.URL, teststack.Token)
	return sub.Run(ctx, &submit.Request{Model: h.Stack.Ollama.Model, User: "cli:t", MaxTokens: 8,
		Messages: []wire.Message{{Role: "user", Content: "secret"}}}, nil)
}
