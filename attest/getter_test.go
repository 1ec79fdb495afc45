package attest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingGetter serves url → "body of url", or err, and counts calls.
type countingGetter struct {
	calls atomic.Int32
	mu    sync.Mutex
	err   error
	gate  chan struct{} // if set, Get blocks until it is closed
}

func (g *countingGetter) Get(url string) (map[string][]string, []byte, error) {
	g.calls.Add(1)
	if g.gate != nil {
		<-g.gate
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return nil, nil, g.err
	}
	return map[string][]string{"N": {fmt.Sprint(g.calls.Load())}}, []byte("body of " + url), nil
}

func (g *countingGetter) fail(err error) {
	g.mu.Lock()
	g.err = err
	g.mu.Unlock()
}

func TestCachingGetterCaches(t *testing.T) {
	inner := &countingGetter{}
	g := NewCachingGetter(inner, time.Hour)
	for range 5 {
		for _, url := range []string{"a", "b"} {
			_, body, err := g.Get(url)
			if err != nil || string(body) != "body of "+url {
				t.Fatalf("Get(%q) = %q, %v", url, body, err)
			}
		}
	}
	if n := inner.calls.Load(); n != 2 {
		t.Errorf("inner called %d times, want 2", n)
	}
}

func TestCachingGetterSharesFirstFetch(t *testing.T) {
	inner := &countingGetter{gate: make(chan struct{})}
	g := NewCachingGetter(inner, time.Hour)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, _, err := g.Get("u"); err != nil {
				t.Error(err)
			}
		})
	}
	time.Sleep(20 * time.Millisecond) // let them pile up on the fetch
	close(inner.gate)
	wg.Wait()
	if n := inner.calls.Load(); n != 1 {
		t.Errorf("inner called %d times, want 1", n)
	}
}

func TestCachingGetterDoesNotCacheErrors(t *testing.T) {
	inner := &countingGetter{}
	inner.fail(errors.New("down"))
	g := NewCachingGetter(inner, time.Hour)
	if _, _, err := g.Get("u"); err == nil {
		t.Fatal("Get succeeded while inner fails")
	}
	inner.fail(nil)
	if _, _, err := g.Get("u"); err != nil {
		t.Fatalf("Get after recovery: %v", err)
	}
	if n := inner.calls.Load(); n != 2 {
		t.Errorf("inner called %d times, want 2", n)
	}
}

func TestCachingGetterRefreshesInBackground(t *testing.T) {
	inner := &countingGetter{}
	g := NewCachingGetter(inner, time.Minute)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	waitCalls := func(want int32) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); inner.calls.Load() < want; {
			if time.Now().After(deadline) {
				t.Fatalf("inner called %d times, want %d", inner.calls.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}

	h, _, _ := g.Get("u")
	if h["N"][0] != "1" {
		t.Fatalf("first response %v", h)
	}
	advance(2 * time.Minute)
	inner.fail(errors.New("down"))
	if h, _, err := g.Get("u"); err != nil || h["N"][0] != "1" {
		t.Fatalf("expired Get = %v, %v; want the stale response at once", h, err)
	}
	waitCalls(2) // the failed refresh

	inner.fail(nil)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		h, _, err := g.Get("u") // stale again: triggers a new refresh
		if err != nil {
			t.Fatal(err)
		}
		if h["N"][0] != "1" {
			break // the refreshed response
		}
		if time.Now().After(deadline) {
			t.Fatal("response never refreshed")
		}
	}
	calls := inner.calls.Load()
	g.Get("u")
	if inner.calls.Load() != calls {
		t.Error("fresh response fetched again")
	}
}
