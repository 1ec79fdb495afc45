package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/wire"
)

// submitBroker is a broker behind an httptest server, with one worker
// serving model, and a count of the submit requests it answered.
func submitBroker(t *testing.T, cfg Config) (*Broker, *httptest.Server, *atomic.Int64) {
	t.Helper()
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	cfg.Redis, cfg.Token, cfg.AllowInsecure, cfg.Logger = r.Client(), "t", true, quietLogger()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.reg.add(context.Background(), &WorkerInfo{ID: "w1", Evidence: wire.EvidenceInsecureDev,
		Models: []wire.ModelDigest{{Name: model, Digest: "d"}}, MaxJobs: 4}); err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	h := b.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/jobs" || r.URL.Path == "/v1/jobs/batch" {
			requests.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return b, srv, &requests
}

func job(user string) *wire.SubmitRequest {
	return &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: user, MaxTokens: 4, Payload: []byte("sealed")}
}

// TestSubmitBatchAnswersEachJob: one batch holding good, bad, repeated and
// unservable jobs stores the good ones once and answers every job as a
// single submit would.
func TestSubmitBatchAnswersEachJob(t *testing.T) {
	b, srv, _ := submitBroker(t, Config{})
	ctx := context.Background()
	good, other := job("u1"), job("u2")
	bad := job("u1")
	bad.MaxTokens = 0
	unknown := job("u1")
	unknown.Model, unknown.ID = "nope:latest", wire.NewJobID("nope:latest")
	elsewhere := job("u1")
	elsewhere.Eligible = []string{"w-gone"}
	var out wire.SubmitBatchResponse
	status, e := postJSONTo(srv.URL+"/v1/jobs/batch", wire.SubmitBatchRequest{Jobs: []wire.SubmitRequest{*good, *bad, *good, *unknown, *other, *elsewhere}}, &out)
	if status != http.StatusOK || e != nil {
		t.Fatalf("batch answered %d %v", status, e)
	}
	want := []struct {
		code   string
		status int
	}{{"", 0}, {wire.CodeBadRequest, 400}, {"", 0}, {wire.CodeUnknownModel, 404}, {"", 0}, {wire.CodeReseal, 409}}
	if len(out.Results) != len(want) {
		t.Fatalf("%d results for 6 jobs", len(out.Results))
	}
	for i, w := range want {
		r := out.Results[i]
		switch {
		case w.code == "" && (r.Error != nil || r.JobID == ""):
			t.Errorf("job %d: got %+v, want stored", i, r)
		case w.code != "" && (r.Error == nil || r.Error.Code != w.code || r.Status != w.status):
			t.Errorf("job %d: got %+v (error %v), want %s %d", i, r, r.Error, w.code, w.status)
		}
	}
	if out.Results[1].Error != nil && out.Results[1].Error.Field != "max_tokens" {
		t.Errorf("bad job's error names field %q, want max_tokens", out.Results[1].Error.Field)
	}
	if n, _ := b.store.Depth(ctx, model); n != 2 {
		t.Errorf("queue depth %d after the batch, want 2 (the repeated job stored once)", n)
	}
	for _, bad := range []any{wire.SubmitBatchRequest{}, map[string]any{"jobs": make([]wire.SubmitRequest, wire.MaxSubmitBatch+1)}} {
		if status, e := postJSONTo(srv.URL+"/v1/jobs/batch", bad, nil); status != 400 || e == nil || e.Field != "jobs" {
			t.Errorf("batch %T answered %d %v, want 400 on field jobs", bad, status, e)
		}
	}
}

// TestClientBatchesConcurrentSubmits: many concurrent Submits through one
// client are all stored and acknowledged, in far fewer requests than jobs.
func TestClientBatchesConcurrentSubmits(t *testing.T) {
	b, srv, requests := submitBroker(t, Config{})
	c := client.New(srv.URL, "t")
	const n = 400
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := job(fmt.Sprintf("u%d", i%7))
			ack, err := c.Submit(context.Background(), j)
			if err == nil && ack.JobID != j.ID {
				err = fmt.Errorf("acknowledged %s for %s", ack.JobID, j.ID)
			}
			ids[i], errs[i] = j.ID, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if st, err := b.store.Get(context.Background(), id); err != nil || st.State != wire.StateQueued {
			t.Fatalf("job %s: %+v %v", id, st, err)
		}
	}
	if got := requests.Load(); got >= n/2 {
		t.Errorf("%d submit requests for %d concurrent jobs: not batched", got, n)
	}
	// A refused job in a batch gets its own error, with the HTTP status.
	bad := job("u1")
	bad.User = "no spaces allowed"
	_, err := c.Submit(context.Background(), bad)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeBadRequest || we.Status != http.StatusBadRequest || we.Field != "user" {
		t.Errorf("bad job: %v, want bad_request 400 on user", err)
	}
}

// TestSubmitBatchQueueLimit: a batch that overflows the queue stores what
// fits and answers busy, with a retry hint, for the rest.
func TestSubmitBatchQueueLimit(t *testing.T) {
	b, srv, _ := submitBroker(t, Config{Store: StoreConfig{MaxQueue: 3}})
	jobs := make([]wire.SubmitRequest, 5)
	for i := range jobs {
		jobs[i] = *job("u1")
	}
	var out wire.SubmitBatchResponse
	if status, e := postJSONTo(srv.URL+"/v1/jobs/batch", wire.SubmitBatchRequest{Jobs: jobs}, &out); status != 200 || e != nil {
		t.Fatalf("batch answered %d %v", status, e)
	}
	for i, r := range out.Results {
		busy := r.Error != nil && r.Error.Code == wire.CodeBusy && r.Status == http.StatusTooManyRequests && r.Error.RetryAfterMs > 0
		if (i < 3) == (r.Error != nil) || (i >= 3 && !busy) {
			t.Errorf("job %d: %+v %v", i, r, r.Error)
		}
	}
	if n, _ := b.store.Depth(context.Background(), model); n != 3 {
		t.Errorf("depth %d, want 3", n)
	}
}

// postJSONTo posts v with the test service token and decodes a 200/202
// body into out; it returns the status and the error body, if any.
func postJSONTo(url string, v, out any) (int, *wire.Error) {
	body, _ := json.Marshal(v)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer t")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, &wire.Error{Message: err.Error()}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var eb wire.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		return resp.StatusCode, eb.Error
	}
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode, nil
}

// TestClientFallsBackWithoutBatchEndpoint: against a broker without
// POST /v1/jobs/batch the client submits each job alone, once it learns so.
func TestClientFallsBackWithoutBatchEndpoint(t *testing.T) {
	b, _, _ := submitBroker(t, Config{})
	var batches atomic.Int64
	h := b.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/jobs/batch" {
			batches.Add(1)
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := client.New(srv.URL, "t")
	for i := 0; i < 3; i++ {
		j := job("u1")
		if ack, err := c.Submit(context.Background(), j); err != nil || ack.JobID != j.ID {
			t.Fatalf("submit %d: %+v %v", i, ack, err)
		}
		if st, err := b.store.Get(context.Background(), j.ID); err != nil || st.State != wire.StateQueued {
			t.Fatalf("job %d not stored: %+v %v", i, st, err)
		}
	}
	if n := batches.Load(); n != 1 {
		t.Errorf("%d batch requests, want 1 (then single submits)", n)
	}
}

// TestSubmitBadBodies: bodies that do not decode get a 400 that says what is
// wrong (the field, where there is one) and never quotes the body.
func TestSubmitBadBodies(t *testing.T) {
	_, srv, _ := submitBroker(t, Config{})
	for _, c := range []struct{ name, body, field, msg string }{
		{"cut short", `{"model":"` + model + `","user":"the secret prompt`, "", "malformed JSON in a 48-byte body"},
		{"wrong type", `{"model":"` + model + `","max_tokens":"many secret"}`, "max_tokens", "wrong type"},
		{"unknown field", `{"model":"` + model + `","secret_field":1}`, "secret_field", "unknown field"},
		{"trailing data", `{"model":"` + model + `"} {"secret":1}`, "", "trailing data"},
		{"empty", " \n", "", "empty body"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/jobs", strings.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer t")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb wire.ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || eb.Error == nil {
				t.Fatalf("status %d, body does not decode: %v", resp.StatusCode, err)
			}
			e := eb.Error
			if resp.StatusCode != http.StatusBadRequest || e.Code != wire.CodeBadRequest || e.Field != c.field || !strings.Contains(e.Message, c.msg) {
				t.Errorf("got %d %+v; want 400 bad_request, field %q, message with %q", resp.StatusCode, e, c.field, c.msg)
			}
			if c.field != "secret_field" && strings.Contains(e.Message+e.Field, "secret") {
				t.Errorf("the error quotes the body: %+v", e)
			}
		})
	}
}
