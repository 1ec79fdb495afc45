package broker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/wire"
)

// TestDoneEventOnlyForFollowers: a job nobody follows and that streamed
// nothing gets no event stream; a follower who comes after it is done is
// answered its done event from the job's fields (receipt included), over
// the events API too. A job followed while it runs, or that streamed,
// gets its done event in its stream.
func TestDoneEventOnlyForFollowers(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, StoreConfig{})
	shard := wire.ShardOf(model)
	complete := func(j wire.LeasedJob, receipt string) {
		t.Helper()
		must(t, s.Complete(ctx, "w1", &wire.Report{Job: j.ID, Lease: j.Lease, PromptTokens: 3, CompletionTokens: 5, Receipt: []byte(receipt)}))
	}

	// Unfollowed, nothing streamed: no stream; Follow answers from the job.
	submitJob(t, s, "u1", 8)
	a := leaseOne(t, s, "w1")
	complete(a, "sig-a")
	if n, _ := s.rdb.Exists(ctx, eventsKey(shard, a.ID)).Result(); n != 0 {
		t.Fatal("an unfollowed job that streamed nothing has an event stream")
	}
	e, err := s.Follow(ctx, a.ID)
	if err != nil || e == nil {
		t.Fatalf("follow a done job: %+v, %v; want its done event", e, err)
	}
	if e.ID != DoneEventID || e.Type != wire.EventDone || e.PromptTokens != 3 || e.CompletionTokens != 5 ||
		e.Worker != "w1" || string(e.Receipt) != "sig-a" || !e.Terminal() {
		t.Fatalf("done event from the job's fields: %+v", e)
	}
	if n, _ := s.rdb.Exists(ctx, eventsKey(shard, a.ID)).Result(); n != 0 {
		t.Fatal("following a done job created its stream")
	}

	// Followed before it ran: the done event is in the stream.
	b := submitJob(t, s, "u1", 8)
	if e, err := s.Follow(ctx, b); err != nil || e != nil {
		t.Fatalf("follow a queued job: %+v, %v; want nil, nil", e, err)
	}
	bj := leaseOne(t, s, "w1")
	complete(bj, "sig-b")
	evs, err := s.ReadEvents(ctx, b, "", 50*time.Millisecond) // (a wait: no stream would block)
	if err != nil || len(evs) != 1 || evs[0].Type != wire.EventDone || evs[0].CompletionTokens != 5 ||
		evs[0].Worker != "w1" || string(evs[0].Receipt) != "sig-b" {
		t.Fatalf("followed job's events %+v, %v; want its done event", evs, err)
	}
	if e, err := s.Follow(ctx, b); err != nil || e != nil {
		t.Fatalf("follow a done job with a stream: %+v, %v; want nil, nil (read the stream)", e, err)
	}

	// Submitted with Follow: the done event is in the stream, and Follow
	// costs one read.
	req := &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: "u2", MaxTokens: 8, Payload: []byte(`{}`), Follow: true}
	if _, err := s.Submit(ctx, req); err != nil {
		t.Fatal(err)
	}
	dj := leaseOne(t, s, "w1")
	complete(dj, "sig-d")
	if evs, _ := s.ReadEvents(ctx, req.ID, "", 50*time.Millisecond); len(evs) != 1 || evs[0].Type != wire.EventDone || string(evs[0].Receipt) != "sig-d" {
		t.Fatalf("events of a job submitted with Follow %+v; want its done event", evs)
	}

	// Unfollowed but streamed: chunk and done in the stream.
	submitJob(t, s, "u1", 8)
	c := leaseOne(t, s, "w1")
	must(t, chunk(s, "w1", c, 0, "hi"))
	complete(c, "")
	if evs, _ := s.ReadEvents(ctx, c.ID, "", 50*time.Millisecond); len(evs) != 2 || evs[1].Type != wire.EventDone {
		t.Fatalf("streamed job's events %+v; want chunk, done", evs)
	}

	if _, err := s.Follow(ctx, wire.NewJobID(model)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("follow an unknown job: %v", err)
	}
}

// TestEventsAPIAnswersDoneJobWithoutStream: GET /v1/jobs/{id}/events of a
// job done with no stream sends its done event, with the receipt, and
// ends; resumed after that event's id it sends nothing more.
func TestEventsAPIAnswersDoneJobWithoutStream(t *testing.T) {
	br, _, _ := submitBroker(t, Config{})
	ctx := context.Background()
	s := br.Store()
	id := submitJob(t, s, "u1", 8)
	j := leaseOne(t, s, "w9")
	must(t, s.Complete(ctx, "w9", &wire.Report{Job: id, Lease: j.Lease, CompletionTokens: 2, Receipt: []byte("sig")}))
	get := func(lastID string) string {
		req := httptest.NewRequest(http.MethodGet, "/v1/jobs/"+id+"/events", nil)
		req.Header.Set("Authorization", "Bearer t")
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		rec := httptest.NewRecorder()
		br.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("events: %d %s", rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	body := get("")
	if !strings.HasPrefix(body, "id: "+DoneEventID+"\nevent: done\ndata: ") || strings.Count(body, "event:") != 1 ||
		!strings.Contains(body, `"worker":"w9"`) || !strings.Contains(body, `"completion_tokens":2`) {
		t.Fatalf("events of a done job without stream:\n%s", body)
	}
	if body := get(DoneEventID); body != "" {
		t.Fatalf("resumed after the done event:\n%s", body)
	}
}

// TestRequeuedDeadJobGetsItsDoneEvent: a dead job requeued by an operator
// has an event stream (its dead event) and a past, even if it never
// streamed: its next lease is not a first attempt's and its completion
// writes the done event, receipt included, after the dead one; its user
// slot is freed.
func TestRequeuedDeadJobGetsItsDoneEvent(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, StoreConfig{MaxAttempts: 1, MaxUserJobs: 2})
	id := submitJob(t, s, "u1", 8)
	j := leaseOne(t, s, "w1")
	if out, err := s.Fail(ctx, "w1", id, j.Lease, "oom", true); err != nil || out != wire.StateDead {
		t.Fatalf("fail: %s, %v; want dead", out, err)
	}
	must(t, s.RequeueDead(ctx, id))
	j = leaseOne(t, s, "w2")
	if !strings.HasSuffix(j.Lease, ".s") {
		t.Fatalf("lease after the requeue %q; want a past's token with a slot (.s)", j.Lease)
	}
	must(t, s.Complete(ctx, "w2", &wire.Report{Job: id, Lease: j.Lease, CompletionTokens: 2, Receipt: []byte("sig")}))
	evs, err := s.ReadEvents(ctx, id, "", 50*time.Millisecond)
	if err != nil || len(evs) == 0 {
		t.Fatalf("events %+v, %v", evs, err)
	}
	if last := evs[len(evs)-1]; last.Type != wire.EventDone || last.Worker != "w2" || string(last.Receipt) != "sig" {
		t.Fatalf("events %+v; want the done event last, from w2, with its receipt", evs)
	}
	if n, _ := s.rdb.HGet(ctx, shardPrefix(wire.ShardOf(model))+"urun:"+model, "u1").Result(); n != "0" {
		t.Fatalf("running count %q; want 0", n)
	}
}

// TestFollowerSkipsOvertakenDeadEvent: a follower of a dead job an
// operator requeued is not sent its dead event (it would end the stream
// while the job goes on) but follows the job to its done event, whether
// it comes before the job is leased again or after it is done.
func TestFollowerSkipsOvertakenDeadEvent(t *testing.T) {
	br, srv, _ := submitBroker(t, Config{Store: StoreConfig{MaxAttempts: 1}})
	ctx := context.Background()
	s := br.Store()
	id := submitJob(t, s, "u1", 8)
	j := leaseOne(t, s, "w1")
	if out, err := s.Fail(ctx, "w1", id, j.Lease, "oom", true); err != nil || out != wire.StateDead {
		t.Fatalf("fail: %s, %v", out, err)
	}
	must(t, s.RequeueDead(ctx, id))
	follow := func() <-chan string {
		got := make(chan string, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/jobs/"+id+"/events", nil)
			req.Header.Set("Authorization", "Bearer t")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				got <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			got <- string(b)
		}()
		return got
	}
	early := follow()
	time.Sleep(100 * time.Millisecond) // it reads the dead event, then waits
	j = leaseOne(t, s, "w2")
	must(t, s.Complete(ctx, "w2", &wire.Report{Job: id, Lease: j.Lease, CompletionTokens: 1}))
	for name, ch := range map[string]<-chan string{"early": early, "late": follow()} {
		select {
		case body := <-ch:
			if strings.Contains(body, "event: dead") || !strings.Contains(body, "event: done") {
				t.Errorf("%s follower got:\n%s", name, body)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s follower did not end", name)
		}
	}
}
