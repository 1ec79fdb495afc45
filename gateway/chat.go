package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"time"

	"github.com/cocoon-network/cocoon/apikey"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// Usage is the usage object of an answer: OpenAI's token counts plus
// Cocoon's costs in nanoTON.
type Usage struct {
	PromptTokens        int   `json:"prompt_tokens"`
	CompletionTokens    int   `json:"completion_tokens"`
	TotalTokens         int   `json:"total_tokens"`
	PromptTotalCost     int64 `json:"prompt_total_cost"`
	CompletionTotalCost int64 `json:"completion_total_cost"`
	TotalCost           int64 `json:"total_cost"`
}

// Completion is a non-streamed answer (object "chat.completion").
// ReceiptID names the job's receipt: for now the job id.
type Completion struct {
	ID        string   `json:"id"`
	Object    string   `json:"object"`
	Created   int64    `json:"created"`
	Model     string   `json:"model"`
	Choices   []Choice `json:"choices"`
	Usage     Usage    `json:"usage"`
	ReceiptID string   `json:"receipt_id"`
}

// Choice is the one choice of a Completion.
type Choice struct {
	Index        int     `json:"index"`
	Message      Message `json:"message"`
	FinishReason string  `json:"finish_reason"`
}

// Message is an answer message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Chunk is one streamed event (object "chat.completion.chunk"). Usage is
// null on every chunk but the last when stream_options.include_usage is
// set, and absent otherwise.
type Chunk struct {
	ID        string          `json:"id"`
	Object    string          `json:"object"`
	Created   int64           `json:"created"`
	Model     string          `json:"model"`
	Choices   []ChunkChoice   `json:"choices"`
	Usage     json.RawMessage `json:"usage,omitempty"`
	ReceiptID string          `json:"receipt_id"`
}

// ChunkChoice is the delta of a Chunk.
type ChunkChoice struct {
	Index        int     `json:"index"`
	Delta        Delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

// Delta is a piece of the answer.
type Delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// readBody reads at most MaxBodyBytes within BodyTimeout.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *APIError) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(g.cfg.BodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes))
	_ = rc.SetReadDeadline(time.Time{})
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, &APIError{Status: http.StatusRequestEntityTooLarge, Type: TypeInvalidRequest, Code: "request_too_large",
			Message: fmt.Sprintf("the request body is over %d bytes", g.cfg.MaxBodyBytes)}
	case err != nil:
		return nil, invalid("", "invalid_json", "could not read the request body")
	}
	return body, nil
}

func (g *Gateway) handleChat(w http.ResponseWriter, r *http.Request) {
	start := g.cfg.Now()
	log := g.log.With("op", "chat")
	fail := func(e *APIError) {
		log.Info("refused", "status", e.Status, "code", e.Code)
		e.write(w)
	}
	keyID, e := g.authenticate(r)
	if e != nil {
		fail(e)
		return
	}
	log = log.With("key", keyID)
	if !g.perKey.acquire(keyID) {
		fail(&APIError{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: "rate_limit_exceeded", RetryAfter: time.Second,
			Message: fmt.Sprintf("this key already has %d requests running; wait for one to finish", g.cfg.KeyConcurrency)})
		return
	}
	defer g.perKey.release(keyID)
	body, e := g.readBody(w, r)
	if e != nil {
		fail(e)
		return
	}
	req, e := DecodeChatRequest(body, g.lim)
	if e != nil {
		fail(e)
		return
	}
	log = log.With("model", req.Model, "stream", req.Stream, "max_tokens", req.MaxTokens)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	user := apikey.User(keyID)
	created := start.Unix()
	var (
		jobID  string
		stream *sseWriter
	)
	chunk := func(choices []ChunkChoice) Chunk {
		c := Chunk{ID: "chatcmpl-" + jobID, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			Choices: choices, ReceiptID: jobID}
		if req.IncludeUsage {
			c.Usage = json.RawMessage("null")
		}
		return c
	}
	sub := &submit.Submitter{C: g.cfg.Broker, MaxPromptBytes: g.lim.MaxPromptBytes, Policy: g.cfg.Policy, Secret: g.cfg.Secret, MaxCoef: g.cfg.MaxCoef,
		OnSubmit: func(id string, _ int) {
			jobID = id
			log = log.With("job", id)
			if req.Stream {
				// The job is stored: from here on the answer is 200 and
				// errors travel inside the stream.
				stream = newSSE(w, cancel)
				empty := ""
				stream.send(chunk([]ChunkChoice{{Delta: Delta{Role: "assistant", Content: &empty}}}))
			}
		}}
	var onDelta func(string)
	if req.Stream {
		onDelta = func(d string) { stream.send(chunk([]ChunkChoice{{Delta: Delta{Content: &d}}})) }
	}
	opts := maps.Clone(g.cfg.DefaultOptions)
	if opts == nil {
		opts = map[string]any{}
	}
	maps.Copy(opts, req.Options)
	res, err := sub.Run(ctx, &submit.Request{Model: req.Model, User: user, Messages: req.Messages,
		MaxTokens: req.MaxTokens, Options: opts}, onDelta)
	switch {
	case err != nil:
	case ctx.Err() != nil:
		// client.Follow returns no error when its context ends mid-stream.
		err = ctx.Err()
	case res.State == wire.StateCancelled:
		err = &wire.Error{Code: wire.CodeCancelled, Message: "cancelled"}
	case !wire.Terminal(res.State):
		err = fmt.Errorf("job %s: event stream ended in state %q", res.JobID, res.State)
	}
	if err != nil {
		e := fromSubmit(err)
		if ctx.Err() != nil {
			// The client went away, or the gateway stopped waiting while
			// shutting down: stop the job (it is charged for what streamed).
			if jobID != "" {
				g.cancelJob(jobID, log)
			}
			log.Info("request cancelled", "ms", time.Since(start).Milliseconds())
			e = &APIError{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "cancelled", RetryAfter: time.Second,
				Message: "the request was cancelled (the gateway is shutting down or the connection closed)"}
		} else if e.Status >= 500 {
			log.Warn("failed", "status", e.Status, "code", e.Code, "err", err)
		} else {
			log.Info("refused", "status", e.Status, "code", e.Code)
		}
		if stream != nil {
			stream.send(e.body())
			return
		}
		e.write(w)
		return
	}

	usage := g.usage(ctx, user, res, log)
	finish := "stop"
	if res.CompletionTokens >= req.MaxTokens {
		finish = "length"
	}
	log.Info("answered", "prompt_tokens", usage.PromptTokens, "completion_tokens", usage.CompletionTokens,
		"cost", usage.TotalCost, "ms", time.Since(start).Milliseconds())
	if stream != nil {
		stream.send(chunk([]ChunkChoice{{Delta: Delta{}, FinishReason: &finish}}))
		if req.IncludeUsage {
			last := chunk([]ChunkChoice{})
			last.Usage, _ = json.Marshal(usage)
			stream.send(last)
		}
		stream.done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Completion{ID: "chatcmpl-" + jobID, Object: "chat.completion", Created: created,
		Model: req.Model, Usage: usage, ReceiptID: jobID,
		Choices: []Choice{{Message: Message{Role: "assistant", Content: res.Text}, FinishReason: finish}}})
}

// usage prices a finished job; a pricing failure leaves the costs at 0.
func (g *Gateway) usage(ctx context.Context, user string, res *submit.Result, log *slog.Logger) Usage {
	u := Usage{PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens,
		TotalTokens: res.PromptTokens + res.CompletionTokens}
	if g.cfg.Pricer == nil {
		return u
	}
	c, err := g.cfg.Pricer.Cost(ctx, user, res)
	if err != nil {
		log.Warn("pricing failed; costs shown as 0", "err", err)
		return u
	}
	u.PromptTotalCost, u.CompletionTotalCost, u.TotalCost = c.Prompt, c.Completion, c.Prompt+c.Completion
	return u
}

// cancelJob cancels the job of a request whose client went away or whose
// gateway is shutting down.
func (g *Gateway) cancelJob(id string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.cfg.Broker.Cancel(ctx, id); err != nil {
		log.Warn("cancel job", "err", err)
	}
}

// sseWriter writes server-sent events; after a failed write it cancels the
// request (the client is gone) and writes nothing more.
type sseWriter struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	cancel context.CancelFunc
	err    error
}

func newSSE(w http.ResponseWriter, cancel context.CancelFunc) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return &sseWriter{w: w, rc: http.NewResponseController(w), cancel: cancel}
}

func (s *sseWriter) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own types always marshal
	}
	s.write("data: " + string(b) + "\n\n")
}

func (s *sseWriter) done() { s.write("data: [DONE]\n\n") }

func (s *sseWriter) write(line string) {
	if s.err != nil {
		return
	}
	if _, s.err = io.WriteString(s.w, line); s.err == nil {
		s.err = s.rc.Flush()
	}
	if s.err != nil {
		s.cancel()
	}
}
