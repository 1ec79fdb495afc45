package worker

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"
)

// ollamaStub answers /api/chat with the given body and status.
func ollamaStub(t testing.TB, status int, body string) *ollama {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/chat" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	o, err := newOllama(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// tokenLines is an Ollama chat stream of n tokens and its final line.
func tokenLines(n int, tok string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"model":"tiny:latest","created_at":"2026-11-26T12:00:00.000000001Z","message":{"role":"assistant","content":%q},"done":false}`+"\n", tok)
	}
	fmt.Fprintf(&b, `{"model":"tiny:latest","created_at":"2026-11-26T12:00:00.1Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","total_duration":1,"prompt_eval_count":7,"eval_count":%d,"eval_duration":1}`, n)
	return b.String() // no newline after the last line
}

// TestChatReadsStream: every token's text in order, the final line's
// counts, a line longer than the read buffer, and the last line without
// a newline.
func TestChatReadsStream(t *testing.T) {
	long := strings.Repeat("é", 20000) // 40 KB: over the 16 KiB buffer
	o := ollamaStub(t, http.StatusOK, tokenLines(3, "a\"b")+"\n"+tokenLines(1, long))
	var text strings.Builder
	var finals []chatLine
	err := o.chat(context.Background(), &api.ChatRequest{Model: "tiny:latest"}, func(l *chatLine) error {
		text.WriteString(l.Message.Content)
		if l.Done {
			finals = append(finals, *l)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if text.String() != strings.Repeat("a\"b", 3)+long {
		t.Errorf("text %q…", text.String()[:20])
	}
	if len(finals) != 2 || finals[0].EvalCount != 3 || finals[0].PromptEvalCount != 7 || finals[0].DoneReason != "length" || finals[1].EvalCount != 1 {
		t.Errorf("final lines %+v", finals)
	}
}

// TestChatErrors: Ollama's errors, before and in the stream, and lines
// that are not JSON or are too long, end the call with a clear error.
func TestChatErrors(t *testing.T) {
	for _, c := range []struct {
		name, body, want string
		status           int
	}{
		{"status", `{"error":"model \"x\" not found, try pulling it first"}`, `404 Not Found: model "x" not found`, http.StatusNotFound},
		{"status without json", "upstream gone", "502 Bad Gateway: upstream gone", http.StatusBadGateway},
		{"in the stream", `{"message":{"content":"a"}}` + "\n" + `{"error":"runner crashed"}` + "\n", "runner crashed", http.StatusOK},
		{"not json", `{"message":{"content":"a"}}` + "\nnot json\n", "does not decode", http.StatusOK},
		{"cut short", `{"message":{"content":"the secret answer is 42`, "does not decode (46 bytes)", http.StatusOK},
		{"too long", `{"message":{"content":"` + strings.Repeat("x", maxChatLine) + `"}}`, "over 1048576 bytes", http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := ollamaStub(t, c.status, c.body)
			err := o.chat(context.Background(), &api.ChatRequest{Model: "x"}, func(*chatLine) error { return nil })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			// The error becomes the job's fail reason, which the broker
			// stores in clear: no answer text in it.
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error %q quotes the answer", err)
			}
		})
	}
}

// BenchmarkChatStream: the worker's reader against Ollama's Go client on
// the same 256-token stream (ns and allocations per answer).
func BenchmarkChatStream(b *testing.B) {
	body := tokenLines(256, " moth")
	o := ollamaStub(b, http.StatusOK, body)
	req := &api.ChatRequest{Model: "tiny:latest"}
	b.Run("worker", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			if err := o.chat(context.Background(), req, func(l *chatLine) error { n += len(l.Message.Content); return nil }); err != nil || n != 256*5 {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("api.Client", func(b *testing.B) {
		b.ReportAllocs()
		u, _ := url.Parse(o.base.String())
		c := api.NewClient(u, o.hc)
		for b.Loop() {
			n := 0
			if err := c.Chat(context.Background(), req, func(r api.ChatResponse) error { n += len(r.Message.Content); return nil }); err != nil || n != 256*5 {
				b.Fatal(n, err)
			}
		}
	})
}

// TestChatConnectionCut: a connection that breaks mid-answer is an error
// (the job is retried), not a short answer.
func TestChatConnectionCut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"message":{"content":"a"}}` + "\n" + `{"message":{"con`))
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // no end of the chunked body
		}
	}))
	defer srv.Close()
	o, err := newOllama(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	var text string
	err = o.chat(context.Background(), &api.ChatRequest{Model: "x"}, func(l *chatLine) error { text += l.Message.Content; return nil })
	if err == nil || strings.Contains(err.Error(), "does not decode") || text != "a" {
		t.Fatalf("cut connection: err %v, text %q; want the read error after \"a\"", err, text)
	}
}
