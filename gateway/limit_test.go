package gateway

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/apikey"
	"github.com/cocoon-network/cocoon/broker/client"
)

// fakeKeys resolves a fixed set of keys.
type fakeKeys map[string]string // key -> id

func (f fakeKeys) Resolve(_ context.Context, key string) (string, string, error) {
	if id, ok := f[key]; ok {
		return id, "tg:1", nil
	}
	return "", "", apikey.ErrUnknown
}

// TestKeyConcurrency: a key with KeyConcurrency requests running gets 429
// with Retry-After; other keys do not; the slot frees when a request ends.
func TestKeyConcurrency(t *testing.T) {
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	var calls atomic.Int32
	broker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/candidates") {
			entered <- struct{}{}
			if calls.Add(1) == 1 {
				<-release // only the first request blocks
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": "no_capacity", "message": "none"}})
	}))
	defer broker.Close()
	g, err := New(Config{Broker: client.New(broker.URL, "t"), Keys: fakeKeys{"ka": "a", "kb": "b"}, KeyConcurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	url := "http://" + ln.Addr().String() + "/v1/chat/completions"
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	ask := func(key string) (int, http.Header, string) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb struct{ Error errorObject }
		json.NewDecoder(resp.Body).Decode(&eb)
		code := ""
		if eb.Error.Code != nil {
			code = *eb.Error.Code
		}
		return resp.StatusCode, resp.Header, code
	}

	first := make(chan int, 1)
	go func() { s, _, _ := ask("ka"); first <- s }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("first request never reached the broker")
	}
	if s, h, code := ask("ka"); s != http.StatusTooManyRequests || code != "rate_limit_exceeded" || h.Get("Retry-After") != "1" {
		t.Errorf("second request of the key: %d %s Retry-After %q", s, code, h.Get("Retry-After"))
	}
	if s, _, code := ask("kb"); s != http.StatusServiceUnavailable || code != "no_capacity" {
		t.Errorf("another key: %d %s, want 503 no_capacity", s, code)
	}
	close(release)
	if s := <-first; s != http.StatusServiceUnavailable {
		t.Errorf("first request: %d", s)
	}
	if s, _, code := ask("ka"); s != http.StatusServiceUnavailable || code != "no_capacity" {
		t.Errorf("after the first ended: %d %s", s, code)
	}
	// /v1/models with the broker failing: 503 in OpenAI's shape.
	req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer ka")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("models with the broker failing: %d", resp.StatusCode)
	}
	// Unknown path and wrong method: OpenAI-shaped 404 and 405.
	for _, c := range []struct {
		method, path string
		want         int
	}{{"GET", "/v1/completions", 404}, {"GET", "/v1/chat/completions", 405}, {"DELETE", "/v1/models", 405}} {
		req, _ := http.NewRequest(c.method, "http://"+ln.Addr().String()+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb struct{ Error *errorObject }
		json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != c.want || eb.Error == nil || eb.Error.Message == "" {
			t.Errorf("%s %s: %d %+v", c.method, c.path, resp.StatusCode, eb.Error)
		}
	}
}
