package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/teststack"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// TestCandidatesReusedAndRefreshedInBackground: a submitter's jobs within
// CandidateMaxAge are sealed to the candidates it verified for the first,
// without waiting for the broker's candidate list (held back here); once
// the list is a quarter of that age it is fetched again in the background,
// one fetch at a time. With CandidateMaxAge < 0 every job waits for it.
func TestCandidatesReusedAndRefreshedInBackground(t *testing.T) {
	s := teststack.Start(t, teststack.Options{})
	s.AddWorker(nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target, _ := url.Parse(s.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // event streams pass at once
	var calls atomic.Int32
	hold := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/candidates") && calls.Add(1) > 1 {
			select { // every fetch after the first waits until released
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	req := &submit.Request{Model: s.Ollama.Model, User: "cli:t", MaxTokens: 8, Messages: []wire.Message{{Role: "user", Content: "hi"}}}
	// Reused for up to 10 s, fetched again in the background once 2.5 s old.
	sub := &submit.Submitter{C: client.New(srv.URL, teststack.Token), Policy: s.Submitter.Policy, CandidateMaxAge: 10 * time.Second}
	run := func(i int) {
		t.Helper()
		res, err := sub.Run(ctx, req, nil)
		if err != nil || res.State != wire.StateDone {
			t.Fatalf("job %d: %v %+v", i, err, res)
		}
	}
	fetched := time.Now()
	run(0)
	run(1) // young list: reused, no fetch
	if n := calls.Load(); n != 1 && time.Since(fetched) < 2500*time.Millisecond {
		t.Fatalf("%d candidate fetches after two jobs within 2.5 s; want 1", n)
	}
	time.Sleep(time.Until(fetched.Add(2600 * time.Millisecond)))
	run(2) // reused; starts the (held) background fetch
	run(3) // reused; that fetch is still running
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d candidate fetches after four jobs; want 2 (the first job's, then one in the background)", n)
	}
	close(hold)

	// No reuse: the job waits for the (held) list, and ends when it may
	// go on.
	hold = make(chan struct{})
	calls.Store(1)
	fresh := &submit.Submitter{C: client.New(srv.URL, teststack.Token), Policy: s.Submitter.Policy, CandidateMaxAge: -1}
	done := make(chan error, 1)
	go func() {
		_, err := fresh.Run(ctx, req, nil)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a submitter without reuse ran a job while the candidate list was held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
