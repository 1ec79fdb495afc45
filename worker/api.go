package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cocoon-network/cocoon/internal/jsonx"
	"github.com/cocoon-network/cocoon/wire"
)

// apiClient speaks the broker's worker API. It holds the session token it
// got at join and never sees Redis.
type apiClient struct {
	base string
	hc   *http.Client

	mu    sync.RWMutex
	token string
	noAvg atomic.Bool // the broker does not take HeartbeatRequest.AvgJobMs
}

func newAPIClient(base string, hc *http.Client) *apiClient {
	return &apiClient{base: strings.TrimRight(base, "/"), hc: hc}
}

func (a *apiClient) setToken(t string) {
	a.mu.Lock()
	a.token = t
	a.mu.Unlock()
}

// call posts in as JSON to path and decodes the answer into out.
func (a *apiClient) call(ctx context.Context, path string, in, out any) error {
	b, err := jsonx.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	a.mu.RLock()
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	a.mu.RUnlock()
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb wire.ErrorBody
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(raw, &eb) == nil && eb.Error != nil {
			eb.Error.Status = resp.StatusCode
			return fmt.Errorf("%s: %w", path, eb.Error)
		}
		return fmt.Errorf("%s: broker answered %s", path, resp.Status)
	}
	return jsonx.ReadAll(resp.Body, func(b []byte) error { return jsonx.Unmarshal(b, out) })
}

func (a *apiClient) nonce(ctx context.Context) ([]byte, error) {
	var out wire.NonceResponse
	err := a.call(ctx, "/v1/worker/nonce", struct{}{}, &out)
	return out.Nonce, err
}

func (a *apiClient) join(ctx context.Context, req *wire.JoinRequest) (*wire.JoinResponse, error) {
	var out wire.JoinResponse
	if err := a.call(ctx, "/v1/worker/join", req, &out); err != nil {
		return nil, err
	}
	a.setToken(out.Token)
	a.noAvg.Store(false) // a broker may have been upgraded since: try the average again
	return &out, nil
}

// lease asks for up to max jobs; reports, if any, go with the request
// (the broker then answers at once) and get their results.
func (a *apiClient) lease(ctx context.Context, max int, waitMs int64, reports []pendingReport) ([]wire.LeasedJob, []wire.ReportResult, error) {
	req := wire.LeaseRequest{Max: max, WaitMs: waitMs}
	for _, p := range reports {
		req.Reports = append(req.Reports, p.rep)
	}
	var out wire.LeaseResponse
	err := a.call(ctx, "/v1/worker/lease", req, &out)
	return out.Jobs, out.Results, err
}

func (a *apiClient) report(ctx context.Context, reps []wire.Report) ([]wire.ReportResult, error) {
	var out wire.ReportResults
	if err := a.call(ctx, "/v1/worker/report", wire.ReportBatch{Reports: reps}, &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(reps) {
		return nil, fmt.Errorf("report: broker answered %d results for %d reports", len(out.Results), len(reps))
	}
	return out.Results, nil
}

// heartbeat sends req. A broker from before avg_job_ms refuses the field as
// unknown (its worker API takes no unknown fields): the heartbeat goes
// again without it, and later ones leave it out until the next join, so
// workers may be upgraded before brokers.
func (a *apiClient) heartbeat(ctx context.Context, req *wire.HeartbeatRequest) (*wire.HeartbeatResponse, error) {
	if req.AvgJobMs != 0 && a.noAvg.Load() {
		r := *req
		r.AvgJobMs = 0
		req = &r
	}
	var out wire.HeartbeatResponse
	err := a.call(ctx, "/v1/worker/heartbeat", req, &out)
	var we *wire.Error
	if req.AvgJobMs != 0 && errors.As(err, &we) && we.Status == http.StatusBadRequest && we.Field == "avg_job_ms" && we.Message == "unknown field" {
		a.noAvg.Store(true)
		return a.heartbeat(ctx, req)
	}
	return &out, err
}

func (a *apiClient) leave(ctx context.Context) error {
	return a.call(ctx, "/v1/worker/leave", struct{}{}, &struct{}{})
}
