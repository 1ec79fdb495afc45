package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

var testLimits = Limits{MaxPromptBytes: 64, MaxTokens: 100, DefaultMaxTokens: 10}

func TestDecodeAccepts(t *testing.T) {
	user := []wire.Message{{Role: "user", Content: "hi"}}
	cases := []struct {
		name, body string
		want       ChatRequest
	}{
		{"minimal", `{"model":"tiny:latest","messages":[{"role":"user","content":"hi"}]}`,
			ChatRequest{Model: "tiny:latest", Messages: user, MaxTokens: 10, Options: map[string]any{}}},
		{"options", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":7,"temperature":0,"top_p":0.5,
			"seed":42,"stop":"x","presence_penalty":-1,"frequency_penalty":2,"n":1,"user":"u","response_format":{"type":"text"}}`,
			ChatRequest{Model: "m", Messages: user, MaxTokens: 7, Options: map[string]any{"temperature": 0.0, "top_p": 0.5,
				"seed": int64(42), "stop": []string{"x"}, "presence_penalty": -1.0, "frequency_penalty": 2.0}}},
		{"max_completion_tokens, stop list, stream with usage", `{"model":"m","messages":[{"role":"user","content":"hi"}],
			"max_completion_tokens":100,"stop":["a","b"],"stream":true,"stream_options":{"include_usage":true}}`,
			ChatRequest{Model: "m", Messages: user, MaxTokens: 100, Stream: true, IncludeUsage: true,
				Options: map[string]any{"stop": []string{"a", "b"}}}},
		{"both token fields equal", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"max_completion_tokens":5}`,
			ChatRequest{Model: "m", Messages: user, MaxTokens: 5, Options: map[string]any{}}},
		{"nulls and empty refusables", `{"model":"m","messages":[{"role":"user","content":"hi","name":null,"tool_calls":[]}],
			"max_tokens":null,"temperature":null,"stream_options":null,"tools":[],"logit_bias":{},"functions":null,"logprobs":false}`,
			ChatRequest{Model: "m", Messages: user, MaxTokens: 10, Options: map[string]any{}}},
		{"conversation and text parts", `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"a"},
			{"role":"assistant","content":""},{"role":"user","content":[{"type":"text","text":"b"},{"text":"c","type":"text"}]}]}`,
			ChatRequest{Model: "m", MaxTokens: 10, Options: map[string]any{}, Messages: []wire.Message{
				{Role: "system", Content: "be brief"}, {Role: "user", Content: "a"}, {Role: "assistant"}, {Role: "user", Content: "b\nc"}}}},
		{"prompt at the limit", `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("é", 32) + `"}]}`,
			ChatRequest{Model: "m", MaxTokens: 10, Options: map[string]any{}, Messages: []wire.Message{{Role: "user", Content: strings.Repeat("é", 32)}}}},
		{"whitespace around", " \n{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n ",
			ChatRequest{Model: "m", Messages: user, MaxTokens: 10, Options: map[string]any{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, e := DecodeChatRequest([]byte(c.body), testLimits)
			if e != nil {
				t.Fatalf("refused: %v", e)
			}
			if !reflect.DeepEqual(*got, c.want) {
				t.Errorf("got  %#v\nwant %#v", *got, c.want)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	cases := []struct {
		name, body          string
		wantStatus          int
		wantCode, wantParam string
	}{
		{"empty", ``, 400, "invalid_json", ""},
		{"null", `null`, 400, "invalid_type", ""},
		{"string", `"x"`, 400, "invalid_type", ""},
		{"truncated", `{"model":"m",`, 400, "invalid_json", ""},
		{"two objects", `{"model":"m",` + msgs + `}{}`, 400, "invalid_json", ""},
		{"invalid utf-8", "{\"model\":\"m\xff\"," + msgs + "}", 400, "invalid_json", ""},
		{"missing model", `{` + msgs + `}`, 400, "missing_required_parameter", "model"},
		{"null model", `{"model":null,` + msgs + `}`, 400, "invalid_value", "model"},
		{"missing messages", `{"model":"m"}`, 400, "missing_required_parameter", "messages"},
		{"messages not array", `{"model":"m","messages":{}}`, 400, "invalid_type", "messages"},
		{"message not object", `{"model":"m","messages":["hi"]}`, 400, "invalid_type", "messages[0]"},
		{"no role", `{"model":"m","messages":[{"content":"hi"}]}`, 400, "missing_required_parameter", "messages[0].role"},
		{"no content", `{"model":"m","messages":[{"role":"user"}]}`, 400, "missing_required_parameter", "messages[0].content"},
		{"developer role", `{"model":"m","messages":[{"role":"developer","content":"x"},{"role":"user","content":"hi"}]}`, 400, "invalid_value", "messages[0].role"},
		{"blank last user", `{"model":"m","messages":[{"role":"user","content":"  "}]}`, 400, "invalid_value", "messages[0]"},
		{"system only", `{"model":"m","messages":[{"role":"system","content":"x"}]}`, 400, "invalid_value", "messages[0]"},
		{"message name", `{"model":"m","messages":[{"role":"user","content":"hi","name":"bob"}]}`, 400, "unsupported_parameter", "messages[0].name"},
		{"duplicate in message", `{"model":"m","messages":[{"role":"user","role":"user","content":"hi"}]}`, 400, "duplicate_parameter", "messages[0].role"},
		{"content number", `{"model":"m","messages":[{"role":"user","content":5}]}`, 400, "invalid_type", "messages[0].content"},
		{"part without type", `{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}`, 400, "unsupported_parameter", "messages[0].content[0]"},
		{"part unknown field", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x","y":1}]}]}`, 400, "unknown_parameter", "messages[0].content[0].y"},
		{"prompt over the limit", `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 65) + `"}]}`, 413, "prompt_too_long", "messages[0].content"},
		{"tokens disagree", `{"model":"m",` + msgs + `,"max_tokens":5,"max_completion_tokens":6}`, 400, "invalid_value", "max_completion_tokens"},
		{"max_completion_tokens over", `{"model":"m",` + msgs + `,"max_completion_tokens":101}`, 400, "invalid_value", "max_completion_tokens"},
		{"negative tokens", `{"model":"m",` + msgs + `,"max_tokens":-1}`, 400, "invalid_value", "max_tokens"},
		{"tokens as string", `{"model":"m",` + msgs + `,"max_tokens":"5"}`, 400, "invalid_type", "max_tokens"},
		{"seed float", `{"model":"m",` + msgs + `,"seed":1.5}`, 400, "invalid_type", "seed"},
		{"top_p 2", `{"model":"m",` + msgs + `,"top_p":2}`, 400, "invalid_value", "top_p"},
		{"penalty -3", `{"model":"m",` + msgs + `,"presence_penalty":-3}`, 400, "invalid_value", "presence_penalty"},
		{"stream string", `{"model":"m",` + msgs + `,"stream":"yes"}`, 400, "invalid_type", "stream"},
		{"stream_options unknown", `{"model":"m",` + msgs + `,"stream":true,"stream_options":{"x":1}}`, 400, "unknown_parameter", "stream_options.x"},
		{"five stops", `{"model":"m",` + msgs + `,"stop":["a","b","c","d","e"]}`, 400, "invalid_value", "stop"},
		{"json response format", `{"model":"m",` + msgs + `,"response_format":{"type":"json_object"}}`, 400, "unsupported_parameter", "response_format"},
		{"tool_choice", `{"model":"m",` + msgs + `,"tool_choice":"auto"}`, 400, "unsupported_parameter", "tool_choice"},
		{"logprobs", `{"model":"m",` + msgs + `,"logprobs":true}`, 400, "unsupported_parameter", "logprobs"},
		{"unknown", `{"model":"m",` + msgs + `,"temprature":1}`, 400, "unknown_parameter", "temprature"},
		{"upper case", `{"MODEL":"m",` + msgs + `}`, 400, "unknown_parameter", "MODEL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, e := DecodeChatRequest([]byte(c.body), testLimits)
			if e == nil {
				t.Fatalf("accepted: %#v", got)
			}
			if e.Status != c.wantStatus || e.Code != c.wantCode || e.Param != c.wantParam || e.Type != TypeInvalidRequest || e.Message == "" {
				t.Errorf("got %d %s param %q (%s), want %d %s param %q", e.Status, e.Code, e.Param, e.Message, c.wantStatus, c.wantCode, c.wantParam)
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		wantStatus int
		wantType   string
		wantCode   string
		wantRetry  string
	}{
		{"unknown model", &wire.Error{Code: wire.CodeUnknownModel}, 404, TypeInvalidRequest, "model_not_found", ""},
		{"insufficient", &wire.Error{Code: wire.CodeInsufficient}, 402, TypeInsufficient, "insufficient_balance", ""},
		{"busy", &wire.Error{Code: wire.CodeBusy, RetryAfterMs: 2500}, 429, TypeRateLimit, "busy", "3"},
		{"no capacity", &wire.Error{Code: wire.CodeNoCapacity}, 503, TypeServer, "no_capacity", "5"},
		{"broker unavailable", &wire.Error{Code: wire.CodeUnavailable, RetryAfterMs: 1000}, 503, TypeServer, "unavailable", "1"},
		{"service token refused", &wire.Error{Code: wire.CodeUnauthorized}, 503, TypeServer, "unavailable", "1"},
		{"too large", &wire.Error{Code: wire.CodeTooLarge}, 413, TypeInvalidRequest, "request_too_large", ""},
		{"transport", errors.Join(client.ErrUnavailable), 503, TypeServer, "unavailable", "1"},
		{"no verified worker", submit.ErrNoVerifiedWorker, 503, TypeServer, "no_capacity", "5"},
		{"job failed", submit.ErrJobFailed, 502, TypeServer, "job_failed", ""},
		{"prompt too long", &submit.ErrPromptTooLong{Bytes: 9, Limit: 8}, 413, TypeInvalidRequest, "prompt_too_long", ""},
		{"other", errors.New("boom"), 500, TypeServer, "internal", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := fromSubmit(c.err)
			rec := newRecorder()
			e.write(rec)
			var body map[string]map[string]any
			if err := json.Unmarshal(rec.body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			eo := body["error"]
			if rec.status != c.wantStatus || eo["type"] != c.wantType || eo["code"] != c.wantCode || rec.h.Get("Retry-After") != c.wantRetry {
				t.Errorf("got %d %v Retry-After %q", rec.status, eo, rec.h.Get("Retry-After"))
			}
			for _, k := range []string{"message", "type", "param", "code"} {
				if _, ok := eo[k]; !ok {
					t.Errorf("error has no %q member: %v", k, eo)
				}
			}
		})
	}
}

// recorder is a minimal http.ResponseWriter.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{h: http.Header{}} }

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) WriteHeader(s int)           { r.status = s }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
