// Package submit is what every submitter (the bot, `cocoon ask`, the
// gateway) uses to turn a conversation into a job and read the answer back:
// it builds the payload, submits it through the broker's client API,
// follows the job's events and assembles the answer, dropping any chunk
// sequence already shown so a retried or failed-over job never repeats text.
//
//	s := submit.New(client.New(url, token))
//	res, err := s.Run(ctx, &submit.Request{Model: m, User: "cli:me",
//		Messages: []wire.Message{{Role: "user", Content: "hello"}}, MaxTokens: 256},
//		func(delta string) { fmt.Print(delta) })
package submit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/wire"
)

// Request is one question for the pool.
type Request struct {
	Model     string
	User      string
	Messages  []wire.Message
	MaxTokens int
	Options   map[string]any // Ollama options (temperature, seed, ...)
}

// Result is a finished job as the submitter saw it.
type Result struct {
	JobID            string
	Model            string
	State            string // done | failed | cancelled | dead
	Text             string
	Workers          []string // every worker that ran a segment, in order
	Segments         []wire.Event
	PromptTokens     int
	CompletionTokens int
	Error            string
}

// ErrJobFailed is returned (wrapped) when the job ended in failed or dead.
var ErrJobFailed = errors.New("job failed")

// Submitter submits jobs through one broker.
type Submitter struct {
	C *client.Client
	// MaxPromptBytes rejects longer prompts before any job is made
	// (COCOON_MAX_PROMPT_BYTES); 0 means 16384.
	MaxPromptBytes int
	// OnSubmit, if set, is called with the job id once the broker stored it
	// (the bot remembers it for /stop).
	OnSubmit func(jobID string, position int)
}

// New returns a Submitter on c.
func New(c *client.Client) *Submitter { return &Submitter{C: c} }

// ErrPromptTooLong is returned before submitting a prompt over the limit.
type ErrPromptTooLong struct{ Bytes, Limit int }

func (e *ErrPromptTooLong) Error() string {
	return fmt.Sprintf("prompt is %d bytes; the limit is %d (COCOON_MAX_PROMPT_BYTES)", e.Bytes, e.Limit)
}

// promptBytes is the size of the newest user turn: what the user typed now.
func promptBytes(msgs []wire.Message) int {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return len(msgs[i].Content)
		}
	}
	return 0
}

// Run submits req and calls onDelta with each new piece of answer text, in
// order, exactly once. It returns when the job ends.
func (s *Submitter) Run(ctx context.Context, req *Request, onDelta func(string)) (*Result, error) {
	limit := s.MaxPromptBytes
	if limit <= 0 {
		limit = 16384
	}
	if len(req.Messages) == 0 {
		return nil, errors.New("no messages")
	}
	if n := promptBytes(req.Messages); n > limit {
		return nil, &ErrPromptTooLong{Bytes: n, Limit: limit}
	}
	payload, err := json.Marshal(wire.Payload{Version: 1, Messages: req.Messages, Options: req.Options})
	if err != nil {
		return nil, err
	}
	sr := &wire.SubmitRequest{ID: wire.NewJobID(req.Model), Model: req.Model, User: req.User,
		MaxTokens: req.MaxTokens, PromptBytes: promptBytes(req.Messages), Payload: payload}
	ack, err := s.submitWithRetry(ctx, sr)
	if err != nil {
		return nil, err
	}
	if s.OnSubmit != nil {
		s.OnSubmit(ack.JobID, ack.Position)
	}
	return s.Follow(ctx, ack.JobID, req.Model, onDelta)
}

// submitWithRetry retries a submit whose acknowledgement was lost in
// transport: the same job id makes the retry idempotent.
func (s *Submitter) submitWithRetry(ctx context.Context, sr *wire.SubmitRequest) (*wire.SubmitResponse, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var ack *wire.SubmitResponse
		ack, err = s.C.Submit(ctx, sr)
		if err == nil || !errors.Is(err, client.ErrUnavailable) || ctx.Err() != nil {
			return ack, err
		}
	}
	return nil, err
}

// Follow reads job id to its end, assembling the answer.
func (s *Submitter) Follow(ctx context.Context, id, model string, onDelta func(string)) (*Result, error) {
	res := &Result{JobID: id, Model: model}
	var text strings.Builder
	var next uint64
	err := s.C.Follow(ctx, id, func(e wire.Event) error {
		switch e.Type {
		case wire.EventLeased:
			res.Workers = append(res.Workers, e.Worker)
		case wire.EventChunk:
			if e.Seq < next {
				return nil // already shown
			}
			if e.Seq > next {
				return fmt.Errorf("chunk %d arrived before %d", e.Seq, next)
			}
			next++
			text.Write(e.Data)
			if onDelta != nil {
				onDelta(string(e.Data))
			}
		case wire.EventSegment:
			res.Segments = append(res.Segments, e)
		case wire.EventDone:
			res.PromptTokens, res.CompletionTokens = e.PromptTokens, e.CompletionTokens
		}
		if e.Terminal() {
			res.State, res.Error = e.Type, e.Error
		}
		return nil
	})
	res.Text = text.String()
	if err != nil {
		return res, err
	}
	if res.State == wire.EventFailed || res.State == wire.EventDead {
		return res, fmt.Errorf("%w: %s", ErrJobFailed, res.Error)
	}
	return res, nil
}

// Worker is the last worker that ran the job ("" if none).
func (r *Result) Worker() string {
	if len(r.Workers) == 0 {
		return ""
	}
	return r.Workers[len(r.Workers)-1]
}
