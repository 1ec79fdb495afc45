package gateway

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// allowedOptions are the Ollama options a request may set.
var allowedOptions = map[string]bool{"temperature": true, "top_p": true, "seed": true, "stop": true,
	"presence_penalty": true, "frequency_penalty": true}

// FuzzDecodeChatRequest: the decoder never panics; a refusal is a 400 or
// 413 invalid_request_error with a message; an accepted request is valid
// JSON and UTF-8, satisfies every rule, and decodes to the same request
// when written back canonically.
func FuzzDecodeChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"tiny:latest","messages":[{"role":"user","content":"hello"}]}`,
		`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"}]}],"max_tokens":5,"stream":true,"stream_options":{"include_usage":true},"temperature":0,"seed":42,"stop":["x"]}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"logit_bias":{"1":2},"functions":[]}`,
		`{"model":"m","model":"m","messages":[]}`,
		`{"Model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}{}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":1e3}`,
		`{"model":"m","messages":[{"role":"tool","content":"hi"}]}`,
		`{"model":`, `[]`, `null`, ``, "{\"model\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, e := DecodeChatRequest(body, testLimits)
		if e != nil {
			if (e.Status != http.StatusBadRequest && e.Status != http.StatusRequestEntityTooLarge) || e.Type != TypeInvalidRequest || e.Message == "" || e.Code == "" {
				t.Fatalf("bad refusal %+v", e)
			}
			if _, err := json.Marshal(e.body()); err != nil {
				t.Fatalf("refusal does not marshal: %v", err)
			}
			return
		}
		checkAccepted(t, body, req)
		again, e := DecodeChatRequest(canonical(req), testLimits)
		if e != nil {
			t.Fatalf("canonical form %s refused: %v", canonical(req), e)
		}
		if !reflect.DeepEqual(again, req) {
			t.Fatalf("round trip changed the request:\n%#v\n%#v", req, again)
		}
	})
}

func checkAccepted(t *testing.T, body []byte, req *ChatRequest) {
	t.Helper()
	switch {
	case !json.Valid(body) || !utf8.Valid(body):
		t.Fatalf("accepted invalid JSON or UTF-8: %q", body)
	case !modelRe.MatchString(req.Model):
		t.Fatalf("accepted model %q", req.Model)
	case len(req.Messages) == 0:
		t.Fatal("accepted no messages")
	case req.MaxTokens < 1 || req.MaxTokens > testLimits.MaxTokens:
		t.Fatalf("accepted max_tokens %d", req.MaxTokens)
	case req.IncludeUsage && !req.Stream:
		t.Fatal("include_usage without stream")
	}
	for _, m := range req.Messages {
		if m.Role != "system" && m.Role != "user" && m.Role != "assistant" {
			t.Fatalf("accepted role %q", m.Role)
		}
	}
	last := req.Messages[len(req.Messages)-1]
	if last.Role != "user" || strings.TrimSpace(last.Content) == "" || len(last.Content) > testLimits.MaxPromptBytes {
		t.Fatalf("accepted last message %+v", last)
	}
	for k := range req.Options {
		if !allowedOptions[k] {
			t.Fatalf("option %q", k)
		}
	}
}

// canonical writes req back as a request body.
func canonical(req *ChatRequest) []byte {
	m := map[string]any{"model": req.Model, "messages": req.Messages, "max_tokens": req.MaxTokens, "stream": req.Stream}
	if req.IncludeUsage {
		m["stream_options"] = map[string]bool{"include_usage": true}
	}
	for k, v := range req.Options {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}
