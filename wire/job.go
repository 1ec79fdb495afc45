package wire

// Job states. See docs/architecture.md for the state diagram.
const (
	StateQueued    = "queued"
	StateLeased    = "leased"
	StateStreaming = "streaming"
	StateDone      = "done"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
	StateDead      = "dead"
)

// Terminal reports whether a job in state s will never change again.
func Terminal(s string) bool {
	return s == StateDone || s == StateFailed || s == StateCancelled || s == StateDead
}

// SubmitRequest is the job envelope a submitter posts to the client API.
// Everything but Payload is clear metadata the broker routes and bills on.
type SubmitRequest struct {
	ID          string   `json:"id,omitempty"` // NewJobID(Model); the broker makes one when empty
	Model       string   `json:"model"`
	User        string   `json:"user"`
	MaxTokens   int      `json:"max_tokens"`
	PromptBytes int      `json:"prompt_bytes"`       // size of the prompt text, for the reservation
	Eligible    []string `json:"eligible,omitempty"` // worker ids allowed to run it; empty = any
	MaxCoef     int      `json:"max_coef,omitempty"` // most price coefficient the user accepts (1000 = 1.0×; 0 = 1000)
	Payload     []byte   `json:"payload"`            // opaque to the broker
	// Follow says the submitter will read the job's events: its done event
	// is kept in its event stream from the start. Without it, the done
	// event of a job nobody followed while it ran (and that streamed
	// nothing) is answered from the job's fields instead, at the cost of
	// one more Redis script when a follower comes.
	Follow bool `json:"follow,omitempty"`
}

// SubmitResponse acknowledges a stored job. Once it is returned the job is
// durable (subject to Redis's fsync policy, see docs/architecture.md).
type SubmitResponse struct {
	JobID    string `json:"job_id"`
	Position int    `json:"position"` // jobs ahead of it in its user's queue rotation
}

// MaxSubmitBatch is the most jobs one POST /v1/jobs/batch may carry.
const MaxSubmitBatch = 1024

// SubmitBatchRequest is POST /v1/jobs/batch: many jobs in one request, each
// exactly as POST /v1/jobs takes it. Each is stored, refused or found
// already stored on its own; the batch is not all-or-nothing.
type SubmitBatchRequest struct {
	Jobs []SubmitRequest `json:"jobs"`
}

// SubmitResult answers one job of a batch: its acknowledgement, or the
// error POST /v1/jobs would have answered (with that request's HTTP status
// in Error.Status).
type SubmitResult struct {
	SubmitResponse
	Error  *Error `json:"error,omitempty"`
	Status int    `json:"status,omitempty"` // the HTTP status POST /v1/jobs would have answered with Error
}

// SubmitBatchResponse answers a SubmitBatchRequest, one result per job, in
// order.
type SubmitBatchResponse struct {
	Results []SubmitResult `json:"results"`
}

// JobStatus is what GET /v1/jobs/{id} returns.
type JobStatus struct {
	ID               string `json:"id"`
	State            string `json:"state"`
	Model            string `json:"model"`
	User             string `json:"user"`
	Worker           string `json:"worker,omitempty"`
	Attempts         int    `json:"attempts"`
	NextSeq          uint64 `json:"next_seq"`
	PromptTokens     int    `json:"prompt_tokens"`
	CompletionTokens int    `json:"completion_tokens"`
	Error            string `json:"error,omitempty"`
	Cost             *int64 `json:"cost,omitempty"` // nanoTON charged, once billed
}

// Chunk is one piece of an answer. Seq starts at 0 and has no gaps; a
// follower drops any Seq it has already shown, so a retried job never shows
// text twice. Data is the answer text (sealed once the trust layer is on).
type Chunk struct {
	Seq    uint64 `json:"seq"`
	Data   []byte `json:"data"`
	Tokens int    `json:"tokens"`
}

// Event types on a job's stream.
const (
	EventLeased    = "leased"    // a retry: a worker took the job again, starting a new segment (Worker, Attempt, Segment)
	EventChunk     = "chunk"     // Chunk
	EventSegment   = "segment"   // a worker finished a segment (token counts, Receipt); brokers now put it in done
	EventRetry     = "retry"     // the job went back to the queue (Error; Worker: the one it was taken from)
	EventDone      = "done"      // terminal: token counts, and the last segment's Worker, Segment and Receipt
	EventFailed    = "failed"    // terminal: Error
	EventCancelled = "cancelled" // terminal
	EventDead      = "dead"      // terminal: retries exhausted (Error)
)

// Event is one entry of a job's event stream, as a follower receives it.
type Event struct {
	ID               string `json:"id"` // stream id; resume after it
	Type             string `json:"type"`
	Seq              uint64 `json:"seq,omitempty"`
	Data             []byte `json:"data,omitempty"`
	Tokens           int    `json:"tokens,omitempty"`
	Worker           string `json:"worker,omitempty"`
	Attempt          int    `json:"attempt,omitempty"`
	Segment          int    `json:"segment,omitempty"`
	PromptTokens     int    `json:"prompt_tokens,omitempty"`
	CompletionTokens int    `json:"completion_tokens,omitempty"`
	Receipt          []byte `json:"receipt,omitempty"`
	Error            string `json:"error,omitempty"`
}

// Terminal reports whether e ends the job's stream.
func (e Event) Terminal() bool {
	return e.Type == EventDone || e.Type == EventFailed || e.Type == EventCancelled || e.Type == EventDead
}

// ModelInfo describes a model the pool serves.
type ModelInfo struct {
	Name    string `json:"name"`
	Digest  string `json:"digest"`
	Workers int    `json:"workers"`
}

// Balance is a user's money in nanoTON (GET /v1/users/{user}/balance).
type Balance struct {
	Available int64 `json:"available"`
	Reserved  int64 `json:"reserved"`
	Billing   bool  `json:"billing"` // false: this broker does not charge
}

// CreditRequest credits a user's balance from a confirmed payment (POST
// /v1/users/{user}/credits). It is idempotent by OpID (the Telegram payment
// charge id, the TON transaction hash, ...).
type CreditRequest struct {
	Source string `json:"source"` // stars | ton | escrow
	OpID   string `json:"op_id"`
	Amount int64  `json:"amount"` // nanoTON
}

// CreditResponse says what the credit did.
type CreditResponse struct {
	Balance   int64 `json:"balance"`
	Duplicate bool  `json:"duplicate"` // the payment was credited before
}

// Charge is one billed job, for a user's history.
type Charge struct {
	JobID            string `json:"job"`
	Model            string `json:"model"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	Amount           int64  `json:"amount"`
	AtUnix           int64  `json:"at"`
}

// UsageRow is one day and model of a user's usage.
type UsageRow struct {
	Day              string `json:"day"`
	Model            string `json:"model"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	Cost             int64  `json:"cost"`
	Jobs             int64  `json:"jobs"`
}

// Account is a user's balance with recent charges and usage
// (GET /v1/users/{user}/account).
type Account struct {
	Balance Balance    `json:"balance"`
	Charges []Charge   `json:"charges"`
	Usage   []UsageRow `json:"usage"`
}

// Reservation is money a user's job holds (GET
// /v1/admin/users/{user}/reservations): State is the job's state in the job
// store, or "missing" for a job it does not have (a submit that failed
// before the job was queued; POST .../reservations/{job}/unreserve gives the
// money back).
type Reservation struct {
	Job    string `json:"job"`
	Amount int64  `json:"amount"` // nanoTON
	State  string `json:"state"`
}

// ReservationMissing is Reservation.State for a job the job store does not have.
const ReservationMissing = "missing"

// EscrowRequest registers a client's escrow (POST /v1/users/{user}/escrow).
type EscrowRequest struct {
	Client            string `json:"client"`              // the client's TON address (may withdraw after closing)
	CloseDelaySeconds int64  `json:"close_delay_seconds"` // time between a close request and withdrawal
}

// EscrowInfo is where to deposit: the escrow contract's address and the
// StateInit (BOC) the first deposit must carry to deploy it.
type EscrowInfo struct {
	Address   string `json:"address"`
	StateInit []byte `json:"state_init"`
}
