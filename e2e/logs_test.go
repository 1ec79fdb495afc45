package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/internal/teststack"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/ton"
	"github.com/cocoon-network/cocoon/wire"
	"github.com/cocoon-network/cocoon/worker"
)

// sessionTokens records the session tokens the broker issues to a worker
// (from the join answers its HTTP client sees).
type sessionTokens struct {
	base   http.RoundTripper
	mu     sync.Mutex
	tokens []string
}

func (s *sessionTokens) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/v1/worker/join") || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var jr wire.JoinResponse
	if json.Unmarshal(body, &jr) == nil && jr.Token != "" {
		s.mu.Lock()
		s.tokens = append(s.tokens, jr.Token)
		s.mu.Unlock()
	}
	return resp, nil
}

func (s *sessionTokens) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestLogsHoldNoSecretsNorContent runs jobs end to end (one answered, one
// cancelled while streaming) with every component logging at debug level,
// then searches all the logs for what must never be in them: the prompts,
// the answer, the service token, the workers' session tokens and a wallet
// seed logged the way code would log one.
func TestLogsHoldNoSecretsNorContent(t *testing.T) {
	var logs testenv.LogBuffer
	s := teststack.Start(t, teststack.Options{LogWriter: &logs, Prices: "tiny:latest=1000/2000", Trial: 1e9})
	sessions := &sessionTokens{base: http.DefaultTransport.(*http.Transport).Clone()}
	s.AddWorker(func(c *worker.Config) { c.HTTPClient = &http.Client{Transport: sessions} })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	marker := "MARKER-" + randomHex(t, 8)
	res, err := s.Submitter.Run(ctx, &submit.Request{Model: s.Ollama.Model, User: "tg:7001", MaxTokens: 32,
		Messages: []wire.Message{{Role: "user", Content: "please repeat " + marker}}}, nil)
	if err != nil {
		t.Fatalf("ask: %v", err)
	}

	// A job cancelled while it streams (the worker logs "job stopped").
	marker2 := "MARKER-" + randomHex(t, 8)
	sr, err := s.Submitter.Prepare(ctx, &submit.Request{Model: s.Ollama.Model, User: "tg:7001", MaxTokens: 2000,
		Messages: []wire.Message{{Role: "user", Content: "tell a long story about " + marker2}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Submit(ctx, sr); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	res2, _ := s.Submitter.Follow(ctx, sr.ID, s.Ollama.Model, func(string) {
		once.Do(func() {
			if err := s.Client.Cancel(ctx, sr.ID); err != nil {
				t.Errorf("cancel: %v", err)
			}
		})
	})
	if res2 == nil || (res2.State != wire.EventCancelled && res2.State != wire.EventDone) {
		t.Fatalf("second job: %+v, want it cancelled (or done, if it ended first)", res2)
	}
	s.Client.Cost(ctx, sr.ID, 3*time.Second) // let the settler bill (and log) it

	// A wallet seed logged as code would: as an attribute, formatted, inside
	// the settings struct, through both handlers.
	words := make([]string, 24)
	for i := range words {
		words[i] = "seedword" + randomHex(t, 3)
	}
	seed := ton.Seed(words)
	settings := ton.Settings{Network: ton.Testnet, WalletSeed: seed}
	s.Log().Info("ton settings", "seed", seed, "settings", settings)
	s.Log().Info(fmt.Sprintf("seed %v %s %+v %#v", seed, seed, settings, seed))
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("ton settings", "seed", seed, "settings", settings)

	s.StopBroker() // flush the broker's shutdown logs too
	out := logs.String()

	// The logs are really there, with job and worker ids.
	workerID := res.Worker()
	for _, want := range []string{"worker joined", workerID, sr.ID, "[redacted]"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q: is the capture working?", want)
		}
	}
	tokens := sessions.all()
	if len(tokens) == 0 {
		t.Fatal("no worker session token captured")
	}
	forbidden := map[string]string{
		"first prompt marker":  marker,
		"second prompt marker": marker2,
		"service token":        teststack.Token,
	}
	if len(res.Text) >= 8 { // long enough not to occur by chance
		forbidden["answer text"] = res.Text
	}
	if len(res2.Text) >= 8 {
		forbidden["cancelled answer text"] = res2.Text
	}
	for i, tok := range tokens {
		forbidden[fmt.Sprintf("worker session token %d", i)] = tok
	}
	for i, w := range words {
		forbidden[fmt.Sprintf("seed word %d", i)] = w
	}
	for what, secret := range forbidden {
		if strings.Contains(out, secret) {
			t.Errorf("the logs contain the %s", what)
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s", out)
	}
}
