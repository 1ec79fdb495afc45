// Package client is the Go client of the broker's client API, used by every
// submitter (the bot, `cocoon ask`, the gateway).
//
//	c := client.New("http://127.0.0.1:7700", token)
//	id, err := c.Submit(ctx, &wire.SubmitRequest{Model: "tiny:latest", Follow: true, ...})
//	err = c.Follow(ctx, id, func(e wire.Event) error { ...; return nil })
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cocoon-network/cocoon/internal/jsonx"
	"github.com/cocoon-network/cocoon/wire"
)

// Client talks to one broker. It is safe for concurrent use.
type Client struct {
	base     string
	token    string
	hc       *http.Client
	batch    *submitBatcher // nil: one request per Submit
	noFollow atomic.Bool    // the broker is from before SubmitRequest.Follow
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: one without a timeout, as
// event streams are long-lived).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithoutSubmitBatching sends every Submit as its own POST /v1/jobs.
func WithoutSubmitBatching() Option { return func(c *Client) { c.batch = nil } }

// New returns a client for the broker at base (e.g. http://127.0.0.1:7700).
// Concurrent Submit calls share requests (see Submit) unless
// WithoutSubmitBatching is given.
func New(base, token string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{}}
	c.batch = &submitBatcher{c: c}
	for _, o := range opts {
		o(c)
	}
	return c
}

// ErrUnavailable wraps transport failures: the broker could not be reached.
var ErrUnavailable = errors.New("broker unavailable")

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := jsonx.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil {
		return nil
	}
	return jsonx.ReadAll(resp.Body, func(b []byte) error { return jsonx.Unmarshal(b, out) })
}

func decodeError(resp *http.Response) error {
	var eb wire.ErrorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &eb) == nil && eb.Error != nil {
		eb.Error.Status = resp.StatusCode
		return eb.Error
	}
	return &wire.Error{Code: wire.CodeUnavailable, Status: resp.StatusCode,
		Message: fmt.Sprintf("broker answered %s", resp.Status)}
}

// Submit stores a job and returns the broker's acknowledgement. Submit is
// idempotent by job id, so a caller whose acknowledgement was lost may
// submit the same request again.
//
// Submits batch themselves: a Submit made while the client's batch
// request is in flight waits for it to return and goes out with every
// other Submit made meanwhile, in one POST /v1/jobs/batch; a Submit on an
// idle client goes out at once. Each job still gets its own answer, as if
// submitted alone.
func (c *Client) Submit(ctx context.Context, req *wire.SubmitRequest) (*wire.SubmitResponse, error) {
	if req.ID == "" {
		req.ID = wire.NewJobID(req.Model)
	}
	if req.Follow && c.noFollow.Load() {
		req = withoutFollow(req)
	}
	if c.batch != nil && len(req.Payload) <= maxBatchPayload/2 {
		return c.batch.submit(ctx, req)
	}
	return c.submitOne(ctx, req)
}

func (c *Client) submitOne(ctx context.Context, req *wire.SubmitRequest) (*wire.SubmitResponse, error) {
	var out wire.SubmitResponse
	if err := c.do(ctx, http.MethodPost, "/v1/jobs", req, &out); err != nil {
		if req.Follow && c.followRefused(err) {
			return c.submitOne(ctx, withoutFollow(req))
		}
		return nil, err
	}
	return &out, nil
}

// withoutFollow is a copy of req with Follow unset (the caller's request
// stays as it was).
func withoutFollow(req *wire.SubmitRequest) *wire.SubmitRequest {
	r := *req
	r.Follow = false
	return &r
}

// followRefused tells whether err is a broker from before
// SubmitRequest.Follow refusing the field (its client API takes no unknown
// fields), and if so remembers it: the request goes again without it, and
// later ones leave it out, so submitters may be upgraded before brokers.
// Such a broker writes every done event to the job's stream anyway.
func (c *Client) followRefused(err error) bool {
	var we *wire.Error
	if errors.As(err, &we) && we.Status == http.StatusBadRequest && we.Field == "follow" && we.Message == "unknown field" {
		c.noFollow.Store(true)
		return true
	}
	return false
}

// Status returns a job's state.
func (c *Client) Status(ctx context.Context, id string) (*wire.JobStatus, error) {
	var out wire.JobStatus
	return &out, c.do(ctx, http.MethodGet, "/v1/jobs/"+id, nil, &out)
}

// Cancel cancels a job (queued or running).
func (c *Client) Cancel(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/v1/jobs/"+id+"/cancel", nil, nil)
}

// Models lists the models the pool serves now.
func (c *Client) Models(ctx context.Context) ([]wire.ModelInfo, error) {
	var out []wire.ModelInfo
	return out, c.do(ctx, http.MethodGet, "/v1/models", nil, &out)
}

// Follow calls fn with every event of job id, in order, until a terminal
// event (returned to fn too) or an error. If the connection drops it
// resumes after the last event seen, so fn never sees an event twice.
func (c *Client) Follow(ctx context.Context, id string, fn func(wire.Event) error) error {
	after := ""
	failures := 0
	for {
		done, err := c.followOnce(ctx, id, &after, fn)
		if ctx.Err() != nil && err == nil && !done {
			return ctx.Err()
		}
		if done || ctx.Err() != nil {
			return err
		}
		var we *wire.Error
		if errors.As(err, &we) && we.Status != http.StatusServiceUnavailable {
			return err
		}
		if err != nil {
			failures++
			if failures > 30 {
				return err
			}
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(min(failures, 10)) * 100 * time.Millisecond):
		}
	}
}

// errStop ends a stream after fn saw a terminal event.
func (c *Client) followOnce(ctx context.Context, id string, after *string, fn func(wire.Event) error) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/jobs/"+id+"/events", nil)
	if err != nil {
		return true, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "text/event-stream")
	if *after != "" {
		req.Header.Set("Last-Event-ID", *after)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, decodeError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var e wire.Event
		if err := jsonx.Unmarshal([]byte(data), &e); err != nil {
			return true, fmt.Errorf("bad event from broker: %w", err)
		}
		*after = e.ID
		if err := fn(e); err != nil {
			return true, err
		}
		if e.Terminal() {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return false, nil
}

// Candidates asks for up to k workers that can run model, with their
// evidence and keys (the caller verifies them itself).
func (c *Client) Candidates(ctx context.Context, model string, k int) ([]wire.Candidate, error) {
	return c.CandidatesUpTo(ctx, model, k, 0)
}

// CandidatesUpTo is Candidates among workers whose price coefficient is at
// most maxCoef (0: any).
func (c *Client) CandidatesUpTo(ctx context.Context, model string, k, maxCoef int) ([]wire.Candidate, error) {
	var out wire.CandidatesResponse
	q := url.Values{"model": {model}, "k": {strconv.Itoa(k)}}
	if maxCoef > 0 {
		q.Set("max_coef", strconv.Itoa(maxCoef))
	}
	return out.Candidates, c.do(ctx, http.MethodGet, "/v1/candidates?"+q.Encode(), nil, &out)
}

// Pool lists the live workers (admin views).
func (c *Client) Pool(ctx context.Context) ([]json.RawMessage, error) {
	var out []json.RawMessage
	return out, c.do(ctx, http.MethodGet, "/v1/pool", nil, &out)
}

// Balance returns a user's balance in nanoTON.
func (c *Client) Balance(ctx context.Context, user string) (*wire.Balance, error) {
	var out wire.Balance
	return &out, c.do(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(user)+"/balance", nil, &out)
}

// Cost waits briefly for a finished job to be billed and returns its cost
// (nil when billing is off or not done within the wait).
func (c *Client) Cost(ctx context.Context, id string, wait time.Duration) *int64 {
	deadline := time.Now().Add(wait)
	for {
		st, err := c.Status(ctx, id)
		if err == nil && st.Cost != nil {
			return st.Cost
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Queues lists each served model's queue depth (admin).
func (c *Client) Queues(ctx context.Context) ([]json.RawMessage, error) {
	var out []json.RawMessage
	return out, c.do(ctx, http.MethodGet, "/v1/admin/queues", nil, &out)
}

// Dead lists dead-lettered jobs (admin).
func (c *Client) Dead(ctx context.Context) ([]wire.JobStatus, error) {
	var out []wire.JobStatus
	return out, c.do(ctx, http.MethodGet, "/v1/admin/dead", nil, &out)
}

// Requeue puts a dead-lettered job back in its queue (admin).
func (c *Client) Requeue(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/v1/admin/dead/"+url.PathEscape(id)+"/requeue", nil, nil)
}

// Reservations lists the money a user's jobs hold, with each job's state
// ("missing" for a job the store does not have).
func (c *Client) Reservations(ctx context.Context, user string) ([]wire.Reservation, error) {
	var out []wire.Reservation
	return out, c.do(ctx, http.MethodGet, "/v1/admin/users/"+url.PathEscape(user)+"/reservations", nil, &out)
}

// Unreserve gives back the reservation of a user's job the store does not
// have; the broker refuses (409) for a job it has.
func (c *Client) Unreserve(ctx context.Context, user, id string) (*wire.Reservation, error) {
	var out wire.Reservation
	return &out, c.do(ctx, http.MethodPost, "/v1/admin/users/"+url.PathEscape(user)+"/reservations/"+url.PathEscape(id)+"/unreserve", nil, &out)
}

// Account returns a user's balance, recent charges and usage.
func (c *Client) Account(ctx context.Context, user string) (*wire.Account, error) {
	var out wire.Account
	return &out, c.do(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(user)+"/account", nil, &out)
}

// Credit credits a confirmed payment to a user, idempotent by req.OpID.
func (c *Client) Credit(ctx context.Context, user string, req wire.CreditRequest) (*wire.CreditResponse, error) {
	var out wire.CreditResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/users/"+url.PathEscape(user)+"/credits", req, &out)
}

// Refund debits a refunded payment from a user, idempotent by req.OpID.
func (c *Client) Refund(ctx context.Context, user string, req wire.CreditRequest) (*wire.CreditResponse, error) {
	var out wire.CreditResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/users/"+url.PathEscape(user)+"/refunds", req, &out)
}
