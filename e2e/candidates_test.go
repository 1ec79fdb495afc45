package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
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
	var mu sync.Mutex
	var hold chan struct{} // non-nil: candidate fetches wait until it is closed
	setHold := func(h chan struct{}) {
		mu.Lock()
		hold = h
		mu.Unlock()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/candidates") {
			calls.Add(1)
			mu.Lock()
			h := hold
			mu.Unlock()
			if h != nil {
				select {
				case <-h:
				case <-r.Context().Done():
					return
				}
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	req := &submit.Request{Model: s.Ollama.Model, User: "cli:t", MaxTokens: 8, Messages: []wire.Message{{Role: "user", Content: "hi"}}}
	runOn := func(sub *submit.Submitter, i int) error {
		res, err := sub.Run(ctx, req, nil)
		if err == nil && res.State != wire.StateDone {
			err = fmt.Errorf("job %d ended %s: %s", i, res.State, res.Error)
		}
		return err
	}

	// Reused for up to 10 s, fetched again in the background once 2.5 s old.
	sub := &submit.Submitter{C: client.New(srv.URL, teststack.Token), Policy: s.Submitter.Policy, CandidateMaxAge: 10 * time.Second}
	run := func(i int) {
		t.Helper()
		if err := runOn(sub, i); err != nil {
			t.Fatal(err)
		}
	}
	fetched := time.Now()
	run(0)
	h := make(chan struct{})
	setHold(h) // from here every fetch waits
	run(1)     // young list: reused, no fetch
	if n := calls.Load(); n != 1 && time.Since(fetched) < 2500*time.Millisecond {
		t.Fatalf("%d candidate fetches after two jobs within 2.5 s; want 1", n)
	}
	time.Sleep(time.Until(fetched.Add(2600 * time.Millisecond)))
	run(2) // reused; starts the (held) background fetch
	run(3) // reused; that fetch is still running
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d candidate fetches after four jobs; want 2 (the first job's, then one in the background)", n)
	}
	setHold(nil)
	close(h)

	// No reuse: a second job asks for the list again and waits for it.
	fresh := &submit.Submitter{C: client.New(srv.URL, teststack.Token), Policy: s.Submitter.Policy, CandidateMaxAge: -1}
	if err := runOn(fresh, 0); err != nil {
		t.Fatal(err)
	}
	h = make(chan struct{})
	setHold(h)
	done := make(chan error, 1)
	go func() { done <- runOn(fresh, 1) }()
	select {
	case err := <-done:
		t.Fatalf("a submitter without reuse ran its second job while the candidate list was held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	setHold(nil)
	close(h)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
