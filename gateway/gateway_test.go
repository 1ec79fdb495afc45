package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/cocoon-network/cocoon/apikey"
	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/gateway"
	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/internal/teststack"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/wire"
)

// detOpts make the tiny model deterministic (as in e2e/spine_test.go). The
// gateway gets the ones a request cannot set as its DefaultOptions; the
// requests set the seed and leave temperature at the model's 0 (go-openai
// omits a zero temperature; a raw request sends it explicitly).
var detOpts = testenv.DetOptions()

var gatewayDefaults = map[string]any{"num_thread": 1, "repeat_penalty": 1.3, "repeat_last_n": 32}

type env struct {
	stack  *teststack.Stack
	worker *teststack.Worker
	keys   *apikey.Store
	url    string // gateway base URL, .../v1
	logs   *testenv.LogBuffer
}

// startGateway serves a gateway on a free port until the test ends.
func startGateway(t *testing.T, cfg gateway.Config) (url string, logs *testenv.LogBuffer) {
	url, logs, _ = serveGateway(t, cfg)
	return url, logs
}

// serveGateway also returns stop, which shuts the gateway down (draining)
// and waits for Serve to return.
func serveGateway(t *testing.T, cfg gateway.Config) (url string, logs *testenv.LogBuffer, stop func()) {
	t.Helper()
	logs = &testenv.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := gateway.New(cfg)
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
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("gateway Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String() + "/v1", logs, stop
}

// Billing is on: a completion token costs 200 nanoTON, every new user gets
// 1e6 nanoTON, so max_tokens 8192 is more than a fresh user can pay.
const (
	testPrices = "tiny:latest=1000/200000"
	testTrial  = 1_000_000
)

func start(t *testing.T) *env {
	t.Helper()
	s := teststack.Start(t, teststack.Options{Prices: testPrices, Trial: testTrial})
	w := s.AddWorker(nil)
	keys := apikey.New(s.Redis)
	url, logs := startGateway(t, gatewayConfig(s, keys))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs)
		}
	})
	return &env{stack: s, worker: w, keys: keys, url: url, logs: logs}
}

func gatewayConfig(s *teststack.Stack, keys *apikey.Store) gateway.Config {
	return gateway.Config{Broker: s.Client, Keys: keys, DefaultOptions: gatewayDefaults,
		MaxBodyBytes: 256 << 10, Policy: attest.Policy{AllowInsecureDev: true},
		Pricer: &gateway.BrokerPricer{C: s.Client, Prices: must(ledger.ParsePrices(testPrices)), Wait: 5 * time.Second}}
}

func openaiClient(url, key string) *openai.Client {
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = url
	return openai.NewClientWithConfig(cfg)
}

func toOpenAI(msgs []wire.Message) []openai.ChatCompletionMessage {
	out := make([]openai.ChatCompletionMessage, len(msgs))
	for i, m := range msgs {
		out[i] = openai.ChatCompletionMessage{Role: m.Role, Content: m.Content}
	}
	return out
}

// jobCount is the number of jobs the broker has stored.
func jobCount(t *testing.T, e *env) int {
	t.Helper()
	keys, err := e.stack.Redis.Keys(context.Background(), "cocoon:{s*}:job:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// post sends a raw request and decodes the JSON answer.
func post(t *testing.T, url, key, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("answer is not JSON (%d): %q", resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header, out
}

func TestChatEqualsDirectOllama(t *testing.T) {
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	keyID, key, err := e.keys.Create(ctx, "tg:42")
	if err != nil {
		t.Fatal(err)
	}
	c := openaiClient(e.url, key)
	model := e.stack.Ollama.Model
	seed := 42
	const prompt = "hello zebra-prompt"
	var answer string // must not appear in the logs either

	t.Run("models", func(t *testing.T) {
		ms, err := c.ListModels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms.Models) != 1 || ms.Models[0].ID != model || ms.Models[0].Object != "model" {
			t.Fatalf("models: %+v, want %s", ms.Models, model)
		}
		m, err := c.GetModel(ctx, model)
		if err != nil || m.ID != model {
			t.Fatalf("GetModel(%s) = %+v, %v", model, m, err)
		}
		_, err = c.GetModel(ctx, "nope:1")
		var ae *openai.APIError
		if !errors.As(err, &ae) || ae.HTTPStatusCode != 404 || ae.Code != "model_not_found" {
			t.Fatalf("GetModel(nope:1): %v", err)
		}
	})

	t.Run("non-streaming", func(t *testing.T) {
		msgs := []wire.Message{{Role: "user", Content: prompt}}
		resp, err := c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: model, Messages: toOpenAI(msgs),
			MaxTokens: 48, Seed: &seed})
		if err != nil {
			t.Fatal(err)
		}
		want, m := e.stack.Ollama.Direct(t, msgs, 48)
		if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != want {
			t.Fatalf("answer through the gateway differs from Ollama's:\n got %+v\nwant %q", resp.Choices, want)
		}
		answer = want
		if resp.Choices[0].Message.Role != "assistant" || resp.Choices[0].FinishReason != openai.FinishReasonLength {
			t.Errorf("choice: %+v", resp.Choices[0])
		}
		u := resp.Usage
		if u.PromptTokens != m.PromptEvalCount || u.CompletionTokens != m.EvalCount || u.TotalTokens != u.PromptTokens+u.CompletionTokens || m.EvalCount != 48 {
			t.Errorf("usage %+v, Ollama says %d+%d", u, m.PromptEvalCount, m.EvalCount)
		}
		jobID, ok := strings.CutPrefix(resp.ID, "chatcmpl-")
		if !ok {
			t.Fatalf("id %q", resp.ID)
		}
		st, err := e.stack.Broker.Store().Get(ctx, jobID)
		if err != nil || st.User != apikey.User(keyID) || st.State != wire.StateDone {
			t.Errorf("job %s: %+v, %v; want done as %s", jobID, st, err, apikey.User(keyID))
		}
		if payer, err := e.keys.Payer(ctx, st.User); err != nil || payer != "tg:42" {
			t.Errorf("Payer(%s) = %q, %v", st.User, payer, err)
		}
	})

	t.Run("raw fields", func(t *testing.T) {
		// An explicit temperature 0, and the fields go-openai does not model.
		body := `{"model":"` + model + `","messages":[{"role":"user","content":"` + prompt + `"}],"max_tokens":48,"temperature":0,"seed":42}`
		status, _, out := post(t, e.url+"/chat/completions", key, body)
		if status != 200 {
			t.Fatalf("status %d: %v", status, out)
		}
		want, _ := e.stack.Ollama.Direct(t, []wire.Message{{Role: "user", Content: prompt}}, 48)
		text := out["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"]
		if text != want {
			t.Errorf("text %q, want %q", text, want)
		}
		u := out["usage"].(map[string]any)
		for _, f := range []string{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_total_cost", "completion_total_cost", "total_cost"} {
			if _, ok := u[f].(float64); !ok {
				t.Errorf("usage.%s missing: %v", f, u)
			}
		}
		jobID, _ := out["receipt_id"].(string)
		if out["object"] != "chat.completion" || "chatcmpl-"+jobID != out["id"] {
			t.Errorf("object %v id %v receipt_id %v", out["object"], out["id"], out["receipt_id"])
		}
		// The costs are what the broker charged, split at the model's prices.
		charged := e.stack.Client.Cost(ctx, jobID, 5*time.Second)
		price := must(ledger.ParsePrices(testPrices))["tiny:latest"]
		promptCost := must(price.Cost(int64(u["prompt_tokens"].(float64)), 0, ledger.CoefOne))
		total, pc, cc := int64(u["total_cost"].(float64)), int64(u["prompt_total_cost"].(float64)), int64(u["completion_total_cost"].(float64))
		if charged == nil || total != *charged || total == 0 || pc != promptCost || pc+cc != total {
			t.Errorf("costs %d = %d + %d; broker charged %v; prompt at list price %d", total, pc, cc, charged, promptCost)
		}
	})

	t.Run("streaming", func(t *testing.T) {
		msgs := []wire.Message{
			{Role: "system", Content: "You are terse."},
			{Role: "user", Content: "hi"},
			{Role: "assistant", Content: "hello"},
			{Role: "user", Content: prompt},
		}
		st, err := c.CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{Model: model, Messages: toOpenAI(msgs),
			MaxTokens: 240, Seed: &seed, Stream: true, StreamOptions: &openai.StreamOptions{IncludeUsage: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var text strings.Builder
		var pieces int
		var usage *openai.Usage
		var finish openai.FinishReason
		for {
			r, err := st.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Object != "chat.completion.chunk" || !strings.HasPrefix(r.ID, "chatcmpl-") {
				t.Errorf("chunk %+v", r)
			}
			if r.Usage != nil {
				if usage != nil || len(r.Choices) != 0 {
					t.Errorf("usage chunk %+v not last or with choices", r)
				}
				usage = r.Usage
				continue
			}
			if usage != nil {
				t.Errorf("chunk after the usage chunk: %+v", r)
			}
			for _, ch := range r.Choices {
				if ch.Delta.Content != "" {
					pieces++
				}
				text.WriteString(ch.Delta.Content)
				if ch.FinishReason != "" {
					finish = ch.FinishReason
				}
			}
		}
		// 240 tokens: a fast stream's tokens join few chunks (one per
		// report round trip), so a short answer may come in one piece.
		want, m := e.stack.Ollama.Direct(t, msgs, 240)
		if text.String() != want {
			t.Fatalf("streamed answer differs from Ollama's:\n got %q\nwant %q", text.String(), want)
		}
		if pieces < 2 || finish != openai.FinishReasonLength {
			t.Errorf("%d pieces, finish %q", pieces, finish)
		}
		if usage == nil || usage.PromptTokens != m.PromptEvalCount || usage.CompletionTokens != m.EvalCount || usage.TotalTokens != m.PromptEvalCount+m.EvalCount {
			t.Errorf("usage %+v, Ollama says %d+%d", usage, m.PromptEvalCount, m.EvalCount)
		}
	})

	t.Run("stream shape", func(t *testing.T) {
		body := `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"stream":true}`
		req, _ := http.NewRequest(http.MethodPost, e.url+"/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("content type %q", ct)
		}
		var lines []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() != "" {
				lines = append(lines, sc.Text())
			}
		}
		if len(lines) < 3 || lines[len(lines)-1] != "data: [DONE]" {
			t.Fatalf("stream ends %q", lines)
		}
		for _, l := range lines[:len(lines)-1] {
			var c map[string]any
			data, ok := strings.CutPrefix(l, "data: ")
			if !ok || json.Unmarshal([]byte(data), &c) != nil {
				t.Fatalf("not a data line: %q", l)
			}
			if _, has := c["usage"]; has {
				t.Errorf("usage without include_usage: %q", l)
			}
		}
	})

	t.Run("client leaves", func(t *testing.T) {
		body := `{"model":"` + model + `","messages":[{"role":"user","content":"tell a long story"}],"max_tokens":1500,"stream":true}`
		rctx, rcancel := context.WithCancel(ctx)
		req, _ := http.NewRequestWithContext(rctx, http.MethodPost, e.url+"/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		var c gateway.Chunk
		json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &c)
		rcancel()
		resp.Body.Close()
		jobID := c.ReceiptID
		deadline := time.Now().Add(20 * time.Second)
		for {
			st, err := e.stack.Broker.Store().Get(ctx, jobID)
			if err == nil && st.State == wire.StateCancelled {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %q of a client that left: %+v, %v; want cancelled", jobID, st, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("cancelled mid-stream", func(t *testing.T) {
		st, err := c.CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{Model: model, MaxTokens: 1500, Stream: true,
			Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "a long one"}}})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		first, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := e.stack.Client.Cancel(ctx, strings.TrimPrefix(first.ID, "chatcmpl-")); err != nil {
			t.Fatal(err)
		}
		for {
			_, err = st.Recv()
			if err != nil {
				break
			}
		}
		var ae *openai.APIError
		if !errors.As(err, &ae) || ae.Code != "cancelled" {
			t.Fatalf("stream of a cancelled job ended with %v, want an error event with code cancelled", err)
		}
	})

	t.Run("shutdown drains", func(t *testing.T) {
		url, _, stop := serveGateway(t, gatewayConfig(e.stack, e.keys))
		st, err := openaiClient(url, key).CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{Model: model,
			MaxTokens: 300, Stream: true, Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "hi"}}})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		stopped := make(chan struct{})
		go func() { stop(); close(stopped) }()
		// The running answer finishes; no new request is accepted.
		n := 0
		for {
			r, err := st.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("stream cut by shutdown: %v", err)
			}
			for _, ch := range r.Choices {
				if ch.Delta.Content != "" {
					n++
				}
			}
		}
		if n == 0 {
			t.Error("no text after shutdown began")
		}
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return after draining")
		}
		if _, err := openaiClient(url, key).ListModels(ctx); err == nil {
			t.Error("a stopped gateway still answers")
		}
	})

	t.Run("drain timeout cancels the job", func(t *testing.T) {
		cfg := gatewayConfig(e.stack, e.keys)
		cfg.DrainTimeout = 20 * time.Millisecond
		url, dlogs, stop := serveGateway(t, cfg)
		defer func() {
			if t.Failed() {
				t.Logf("draining gateway's log:\n%s", dlogs)
			}
		}()
		st, err := openaiClient(url, key).CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{Model: model,
			MaxTokens: 2000, Stream: true, Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "a long one"}}})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		first, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		stop()
		st2, err := e.stack.Broker.Store().Get(ctx, strings.TrimPrefix(first.ID, "chatcmpl-"))
		if err != nil || st2.State != wire.StateCancelled {
			t.Fatalf("job after the drain timed out: %+v, %v; want cancelled", st2, err)
		}
	})

	logs := e.logs.String()
	for _, secret := range []string{key, key[len("ck-")+16+1:], "zebra-prompt", answer} {
		if len(secret) < 8 {
			t.Fatalf("secret %q too short to look for", secret)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret or prompt %q", secret)
		}
	}
	if !strings.Contains(logs, "key="+keyID) {
		t.Errorf("logs do not name the key id:\n%s", logs)
	}
}

func TestBadInputSubmitsNothing(t *testing.T) {
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, key, err := e.keys.Create(ctx, "tg:7")
	if err != nil {
		t.Fatal(err)
	}
	revokedID, revoked, _ := e.keys.Create(ctx, "tg:7")
	if err := e.keys.Revoke(ctx, "tg:7", revokedID); err != nil {
		t.Fatal(err)
	}
	wrong := key[:len(key)-1] + "0"
	if strings.HasSuffix(key, "0") {
		wrong = key[:len(key)-1] + "1"
	}
	model := e.stack.Ollama.Model
	msg := func(s string) string {
		return `"messages":[{"role":"user","content":` + strings.TrimSpace(mustJSON(s)) + `}]`
	}
	ok := `{"model":"` + model + `",` + msg("hi") + `}`
	before := jobCount(t, e)

	cases := []struct {
		name, key, body               string
		wantStatus                    int
		wantType, wantCode, wantParam string
	}{
		{"no key", "", ok, 401, "authentication_error", "missing_api_key", ""},
		{"wrong key", wrong, ok, 401, "authentication_error", "invalid_api_key", ""},
		{"openai key", "sk-abc", ok, 401, "authentication_error", "invalid_api_key", ""},
		{"revoked key", revoked, ok, 401, "authentication_error", "revoked_api_key", ""},
		{"malformed json", key, `{"model":`, 400, "invalid_request_error", "invalid_json", ""},
		{"not an object", key, `[1,2]`, 400, "invalid_request_error", "invalid_type", ""},
		{"trailing data", key, ok + `{}`, 400, "invalid_request_error", "invalid_json", ""},
		{"unknown field", key, `{"model":"` + model + `",` + msg("hi") + `,"foo":1}`, 400, "invalid_request_error", "unknown_parameter", "foo"},
		{"field in other case", key, `{"Model":"` + model + `",` + msg("hi") + `}`, 400, "invalid_request_error", "unknown_parameter", "Model"},
		{"duplicate field", key, `{"model":"` + model + `","model":"x",` + msg("hi") + `}`, 400, "invalid_request_error", "duplicate_parameter", "model"},
		{"unknown message field", key, `{"model":"` + model + `","messages":[{"role":"user","content":"hi","x":1}]}`, 400, "invalid_request_error", "unknown_parameter", "messages[0].x"},
		{"tools", key, `{"model":"` + model + `",` + msg("hi") + `,"tools":[{"type":"function","function":{"name":"f"}}]}`, 400, "invalid_request_error", "unsupported_parameter", "tools"},
		{"functions", key, `{"model":"` + model + `",` + msg("hi") + `,"functions":[{"name":"f"}]}`, 400, "invalid_request_error", "unsupported_parameter", "functions"},
		{"logit_bias", key, `{"model":"` + model + `",` + msg("hi") + `,"logit_bias":{"1":5}}`, 400, "invalid_request_error", "unsupported_parameter", "logit_bias"},
		{"tool role", key, `{"model":"` + model + `","messages":[{"role":"tool","content":"x"}]}`, 400, "invalid_request_error", "invalid_value", "messages[0].role"},
		{"assistant last", key, `{"model":"` + model + `","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}`, 400, "invalid_request_error", "invalid_value", "messages[1]"},
		{"image part", key, `{"model":"` + model + `","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, 400, "invalid_request_error", "unsupported_parameter", "messages[0].content[0]"},
		{"no messages", key, `{"model":"` + model + `","messages":[]}`, 400, "invalid_request_error", "invalid_value", "messages"},
		{"max_tokens 0", key, `{"model":"` + model + `",` + msg("hi") + `,"max_tokens":0}`, 400, "invalid_request_error", "invalid_value", "max_tokens"},
		{"max_tokens huge", key, `{"model":"` + model + `",` + msg("hi") + `,"max_tokens":8193}`, 400, "invalid_request_error", "invalid_value", "max_tokens"},
		{"max_tokens float", key, `{"model":"` + model + `",` + msg("hi") + `,"max_tokens":1.5}`, 400, "invalid_request_error", "invalid_type", "max_tokens"},
		{"n 2", key, `{"model":"` + model + `",` + msg("hi") + `,"n":2}`, 400, "invalid_request_error", "unsupported_value", "n"},
		{"temperature 3", key, `{"model":"` + model + `",` + msg("hi") + `,"temperature":3}`, 400, "invalid_request_error", "invalid_value", "temperature"},
		{"stream_options without stream", key, `{"model":"` + model + `",` + msg("hi") + `,"stream_options":{"include_usage":true}}`, 400, "invalid_request_error", "invalid_value", "stream_options"},
		{"oversized message", key, `{"model":"` + model + `",` + msg(strings.Repeat("x", 16385)) + `}`, 413, "invalid_request_error", "prompt_too_long", "messages[0].content"},
		{"oversized body", key, `{"model":"` + model + `","messages":[{"role":"system","content":"` + strings.Repeat("y", 300<<10) + `"},{"role":"user","content":"hi"}]}`, 413, "invalid_request_error", "request_too_large", ""},
		{"unknown model", key, `{"model":"nope:1",` + msg("hi") + `}`, 404, "invalid_request_error", "model_not_found", "model"},
		{"bad model name", key, `{"model":"../etc",` + msg("hi") + `}`, 400, "invalid_request_error", "invalid_value", "model"},
		{"max_tokens beyond the balance", key, `{"model":"` + model + `",` + msg("hi") + `,"max_tokens":8192}`, 402, "insufficient_quota", "insufficient_balance", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, out := post(t, e.url+"/chat/completions", c.key, c.body)
			eo, _ := out["error"].(map[string]any)
			if status != c.wantStatus || eo == nil {
				t.Fatalf("status %d body %v, want %d", status, out, c.wantStatus)
			}
			param, _ := eo["param"].(string)
			if eo["type"] != c.wantType || eo["code"] != c.wantCode || param != c.wantParam || eo["message"] == "" {
				t.Errorf("error %v, want type %s code %s param %q", eo, c.wantType, c.wantCode, c.wantParam)
			}
			if _, has := eo["param"]; !has {
				t.Errorf("error without a param member (null when empty): %v", eo)
			}
		})
	}

	// The same refusals through go-openai.
	c := openaiClient(e.url, key)
	_, err = c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: model,
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "hi"}},
		Tools:    []openai.Tool{{Type: openai.ToolTypeFunction, Function: &openai.FunctionDefinition{Name: "f"}}}})
	var ae *openai.APIError
	if !errors.As(err, &ae) || ae.HTTPStatusCode != 400 || ae.Code != "unsupported_parameter" || ae.Param == nil || *ae.Param != "tools" {
		t.Errorf("tools through go-openai: %v", err)
	}
	_, err = c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: "nope:1",
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "hi"}}})
	if !errors.As(err, &ae) || ae.HTTPStatusCode != 404 || ae.Code != "model_not_found" {
		t.Errorf("unknown model through go-openai: %v", err)
	}
	_, err = openaiClient(e.url, revoked).CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{Model: model,
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "hi"}}, Stream: true})
	if !errors.As(err, &ae) || ae.HTTPStatusCode != 401 || ae.Code != "revoked_api_key" {
		t.Errorf("revoked key through go-openai (stream): %v", err)
	}
	_, err = openaiClient(e.url, revoked).ListModels(ctx)
	if !errors.As(err, &ae) || ae.HTTPStatusCode != 401 {
		t.Errorf("models with a revoked key: %v", err)
	}

	if n := jobCount(t, e); n != before {
		t.Errorf("bad input stored %d jobs", n-before)
	}
	if d, _ := e.stack.Broker.Store().Depth(ctx, model); d != 0 {
		t.Errorf("queue depth %d after bad input", d)
	}
	// Nothing charged: whatever trial credit was granted is all still there.
	rep, err := e.stack.Ledger.Check(ctx)
	if err != nil || !rep.OK() || rep.Reservations != 0 || rep.UserBalances != rep.DepositsTrial {
		t.Errorf("ledger after bad input: %v\n%s", err, rep.String())
	}

	// A well-formed request still works after all that, and the pool
	// going away is a 503 with Retry-After, then the broker going away too.
	if status, _, out := post(t, e.url+"/chat/completions", key, `{"model":"`+model+`",`+msg("hi")+`,"max_tokens":4}`); status != 200 {
		t.Fatalf("good request: %d %v", status, out)
	}
	e.worker.Stop()
	status, h, out := post(t, e.url+"/chat/completions", key, ok)
	if eo, _ := out["error"].(map[string]any); status != 503 || eo["code"] != "no_capacity" || h.Get("Retry-After") == "" {
		t.Errorf("no worker: %d %v (Retry-After %q)", status, out, h.Get("Retry-After"))
	}
	e.stack.StopBroker()
	status, h, out = post(t, e.url+"/chat/completions", key, ok)
	if eo, _ := out["error"].(map[string]any); status != 503 || eo["code"] != "unavailable" || h.Get("Retry-After") == "" {
		t.Errorf("broker down: %d %v (Retry-After %q)", status, out, h.Get("Retry-After"))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
