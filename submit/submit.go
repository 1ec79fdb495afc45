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
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/obs"
	"github.com/cocoon-network/cocoon/seal"
	"github.com/cocoon-network/cocoon/trust"
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
	Receipts         []trust.CheckedReceipt    // one per segment, checked by this submitter; a segment cut short has none and is unverified
	Evidence         map[string]wire.Candidate // the workers this submitter verified and sealed to, by id
	Attested         bool                      // every segment came from a TDX-attested worker with a verified receipt
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
	// Policy checks the evidence of the workers the broker offers before
	// anything is sealed to them. Set AllowInsecureDev only for development.
	Policy attest.Policy
	// Secret derives each job's chunk key (seal.JobKey), so a restarted
	// submitter can still read its jobs; random per process when unset.
	Secret []byte
	// K is how many verified workers a job is sealed to (default 3).
	K int
	// MaxCoef is the most price coefficient the user accepts (1000 = 1.0×
	// the model price; 0 means 1000): pricier workers are not offered, and
	// the reservation covers this coefficient.
	MaxCoef int
	// CandidateMaxAge is how long a model's verified candidates are reused
	// before a job waits to fetch them again (0 means 1 s; negative: every
	// job asks the broker first). A reused list is refreshed in the
	// background, and dropped when the broker asks for a job to be sealed
	// again.
	CandidateMaxAge time.Duration

	once     sync.Once
	mu       sync.Mutex
	verified map[[32]byte]bool // candidate checks that passed, by content hash
	cands    map[string]*candidateEntry
	candGen  uint64 // bumped when cached candidates are dropped
}

// New returns a Submitter on c.
func New(c *client.Client) *Submitter { return &Submitter{C: c} }

// ErrPromptTooLong is returned before submitting a prompt over the limit.
type ErrPromptTooLong struct{ Bytes, Limit int }

func (e *ErrPromptTooLong) Error() string {
	return fmt.Sprintf("prompt is %d bytes; the limit is %d (COCOON_MAX_PROMPT_BYTES)", e.Bytes, e.Limit)
}

// PromptBytes is what a job declares as its prompt size for the
// reservation: every message's text plus a margin for the role markers the
// template adds (each token is at least one byte; the broker clamps a
// charge to the reservation should a template add more).
func PromptBytes(msgs []wire.Message) int {
	n := 32
	for _, m := range msgs {
		n += len(m.Content) + 32
	}
	return n
}

// newestPromptBytes is the size of the newest user turn: what the user typed now.
func newestPromptBytes(msgs []wire.Message) int {
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
	if n := newestPromptBytes(req.Messages); n > limit {
		return nil, &ErrPromptTooLong{Bytes: n, Limit: limit}
	}
	for attempt := 0; ; attempt++ {
		sr, ws, err := s.prepare(ctx, req, true)
		if err != nil {
			return nil, err
		}
		sr.Follow = true // Run follows the job: its done event goes to its stream
		submitted := time.Now()
		ack, err := s.submitWithRetry(ctx, sr)
		var we *wire.Error
		if errors.As(err, &we) && we.Code == wire.CodeReseal && attempt < 2 {
			s.forgetCandidates(req.Model)
			continue
		}
		if err != nil {
			return nil, err
		}
		if s.OnSubmit != nil {
			s.OnSubmit(ack.JobID, ack.Position)
		}
		first := true
		delta := func(d string) {
			if first {
				first = false
				obs.TimeToFirstToken.WithLabelValues(req.Model).Observe(time.Since(submitted).Seconds())
			}
			if onDelta != nil {
				onDelta(d)
			}
		}
		res, err := s.follow(ctx, ack.JobID, req.Model, sr.Payload, byWorker(ws), delta)
		// Every worker the job was sealed to left before it ran: seal it
		// again for the workers there are now.
		if err != nil && res != nil && res.Text == "" && strings.HasPrefix(res.Error, "reseal:") && attempt < 2 {
			s.forgetCandidates(req.Model)
			continue
		}
		return res, err
	}
}

// Prepare builds the sealed job for req without submitting it: the broker's
// candidates (asked for now, not reused) are verified, the payload sealed
// to them and named eligible.
func (s *Submitter) Prepare(ctx context.Context, req *Request) (*wire.SubmitRequest, error) {
	sr, _, err := s.prepare(ctx, req, false)
	return sr, err
}

// prepare is Prepare; reuse takes cached candidates (Run drops them when
// the broker asks for a job to be sealed again).
func (s *Submitter) prepare(ctx context.Context, req *Request, reuse bool) (*wire.SubmitRequest, []verified, error) {
	var ws []verified
	var err error
	if reuse {
		ws, err = s.cachedCandidates(ctx, req.Model)
	} else {
		ws, err = s.candidates(ctx, req.Model)
	}
	if err != nil {
		return nil, nil, err
	}
	id := wire.NewJobID(req.Model)
	sealed, _, err := s.sealFor(id, req, ws)
	if err != nil {
		return nil, nil, err
	}
	sr := &wire.SubmitRequest{ID: id, Model: req.Model, User: req.User, MaxTokens: req.MaxTokens,
		PromptBytes: PromptBytes(req.Messages), Payload: sealed, MaxCoef: s.maxCoef()}
	for _, w := range ws {
		sr.Eligible = append(sr.Eligible, w.cand.WorkerID)
	}
	return sr, ws, nil
}

// OpenChunk opens the text of a chunk event of one of this submitter's jobs.
func (s *Submitter) OpenChunk(jobID string, e wire.Event) ([]byte, error) {
	return seal.OpenChunk(seal.JobKey(s.secret(), jobID), jobID, e.Seq, e.Data)
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

// Follow reads a job this submitter sealed (possibly before a restart) to
// its end. Without the sealed request and the workers' keys its receipts
// are reported but not verified.
func (s *Submitter) Follow(ctx context.Context, id, model string, onDelta func(string)) (*Result, error) {
	return s.follow(ctx, id, model, nil, nil, onDelta)
}

func (s *Submitter) follow(ctx context.Context, id, model string, sealed []byte, cands map[string]wire.Candidate, onDelta func(string)) (*Result, error) {
	res := &Result{JobID: id, Model: model, Evidence: cands}
	key := seal.JobKey(s.secret(), id)
	var text, segment strings.Builder
	var next uint64
	addWorker := func(w string) {
		if w != "" && (len(res.Workers) == 0 || res.Workers[len(res.Workers)-1] != w) {
			res.Workers = append(res.Workers, w)
		}
	}
	// endSegment checks the receipt of the segment e ends (its worker's
	// text since the last lease).
	endSegment := func(e wire.Event) {
		res.Segments = append(res.Segments, e)
		addWorker(e.Worker)
		var cr trust.CheckedReceipt
		if len(e.Receipt) == 0 {
			cr.Problem = "segment has no receipt"
		} else {
			var cand *wire.Candidate
			if c, ok := cands[e.Worker]; ok {
				cand = &c
			}
			cr = trust.CheckReceipt(e.Receipt, cand, e.Worker, id, sealed, segment.String())
		}
		res.Receipts = append(res.Receipts, cr)
	}
	err := s.C.Follow(ctx, id, func(e wire.Event) error {
		switch e.Type {
		case wire.EventLeased:
			if segment.Len() > 0 { // the last worker streamed, then died: no receipt
				res.Receipts = append(res.Receipts, trust.CheckedReceipt{Problem: "segment cut short by a failed worker: unverified"})
			}
			addWorker(e.Worker)
			segment.Reset()
		case wire.EventChunk:
			if e.Seq < next {
				return nil // already shown
			}
			if e.Seq > next {
				return fmt.Errorf("chunk %d arrived before %d", e.Seq, next)
			}
			plain, err := seal.OpenChunk(key, id, e.Seq, e.Data)
			if err != nil {
				return fmt.Errorf("chunk %d does not open: %w", e.Seq, err)
			}
			next++
			text.Write(plain)
			segment.Write(plain)
			if onDelta != nil {
				onDelta(string(plain))
			}
		case wire.EventRetry:
			addWorker(e.Worker) // it ran the job, or tried to, before it failed
		case wire.EventSegment: // a segment's end, from brokers before the done event carried it
			endSegment(e)
		case wire.EventDone:
			if e.Worker != "" { // the done event ends the last segment too
				endSegment(e)
			}
			res.PromptTokens, res.CompletionTokens = e.PromptTokens, e.CompletionTokens
		}
		if e.Terminal() {
			res.State, res.Error = e.Type, e.Error
		}
		return nil
	})
	res.Text = text.String()
	res.Attested = len(res.Receipts) > 0
	for _, r := range res.Receipts {
		res.Attested = res.Attested && r.Verified && r.Receipt.Attested
	}
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

func (s *Submitter) maxCoef() int {
	if s.MaxCoef <= 0 {
		return 1000
	}
	return s.MaxCoef
}
