package wire

// NonceResponse carries a single-use join nonce (32 bytes).
type NonceResponse struct {
	Nonce []byte `json:"nonce"`
	TTLMs int64  `json:"ttl_ms"`
}

// Evidence types.
const (
	EvidenceInsecureDev = "insecure-dev"
	EvidenceTDX         = "tdx-quote-v4"
)

// Evidence proves what a worker runs on.
type Evidence struct {
	Type  string `json:"type"`
	Quote []byte `json:"quote,omitempty"`
}

// ModelDigest names a model and the digest of its weights.
type ModelDigest struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// JoinRequest registers a worker with the broker.
type JoinRequest struct {
	Nonce      []byte        `json:"nonce"`
	Evidence   Evidence      `json:"evidence"`
	SigningKey []byte        `json:"signing_key"` // Ed25519 public key
	HPKEKey    []byte        `json:"hpke_key"`    // HPKE public key
	Models     []ModelDigest `json:"models"`
	Loaded     []string      `json:"loaded,omitempty"` // models resident in memory (/api/ps)
	MaxJobs    int           `json:"max_jobs"`
	Name       string        `json:"name,omitempty"`
	// PayoutAddress is the TON address the worker's earnings are paid to.
	PayoutAddress string `json:"payout_address,omitempty"`
	// PriceCoef scales the model price for this worker's work (1000 = 1.0×).
	PriceCoef int `json:"price_coef,omitempty"`
}

// JoinResponse gives the worker its id and a session token bound to it.
type JoinResponse struct {
	WorkerID    string `json:"worker_id"`
	Token       string `json:"token"`
	LeaseMs     int64  `json:"lease_ms"`
	HeartbeatMs int64  `json:"heartbeat_ms"`
	ReattestMs  int64  `json:"reattest_ms"` // join again (same id) before this passes
}

// LeaseRequest asks for up to Max jobs, waiting up to WaitMs for one.
// Reports, if any, are applied first, exactly as POST /v1/worker/report
// applies them (so a worker finishing a job asks for the next one in the
// same request, and Max may count the slots those completions free); a
// lease carrying reports answers at once, without waiting for jobs.
type LeaseRequest struct {
	Max     int      `json:"max"`
	WaitMs  int64    `json:"wait_ms"`
	Reports []Report `json:"reports,omitempty"`
}

// LeasedJob is a job handed to a worker. Prefix holds the chunks already
// streamed by earlier attempts: the worker continues after them.
type LeasedJob struct {
	ID         string  `json:"id"`
	Model      string  `json:"model"`
	User       string  `json:"user"`
	MaxTokens  int     `json:"max_tokens"`
	Payload    []byte  `json:"payload"`
	Lease      string  `json:"lease"`
	LeaseUntil int64   `json:"lease_until_ms"`
	Attempt    int     `json:"attempt"`
	Segment    int     `json:"segment"`
	NextSeq    uint64  `json:"next_seq"`
	Prefix     []Chunk `json:"prefix,omitempty"`
	Tokens     int     `json:"tokens"` // completion tokens already streamed
}

// LeaseResponse carries the leased jobs (possibly none) and, when the
// request carried reports, one result per report.
type LeaseResponse struct {
	Jobs    []LeasedJob    `json:"jobs"`
	Results []ReportResult `json:"results,omitempty"`
}

// Report kinds.
const (
	ReportChunk    = "chunk"
	ReportExtend   = "extend"
	ReportComplete = "complete"
	ReportFail     = "fail"
)

// Report is one thing a worker tells the broker about one job it holds.
type Report struct {
	Kind             string `json:"kind"`
	Job              string `json:"job"`
	Lease            string `json:"lease"`
	Seq              uint64 `json:"seq,omitempty"`
	Data             []byte `json:"data,omitempty"`
	Tokens           int    `json:"tokens,omitempty"`
	PromptTokens     int    `json:"prompt_tokens,omitempty"`
	CompletionTokens int    `json:"completion_tokens,omitempty"`
	Receipt          []byte `json:"receipt,omitempty"`
	Error            string `json:"error,omitempty"`
	Retryable        bool   `json:"retryable,omitempty"`
}

// ReportBatch carries many reports in one request, in order.
type ReportBatch struct {
	Reports []Report `json:"reports"`
}

// ReportResult answers one report. Code is empty on success; "cancelled"
// tells the worker to stop the job.
type ReportResult struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// ReportResults answers a ReportBatch, one result per report.
type ReportResults struct {
	Results []ReportResult `json:"results"`
}

// HeartbeatRequest keeps the worker registered and extends its leases.
type HeartbeatRequest struct {
	Jobs     map[string]string `json:"jobs,omitempty"` // job id -> lease token
	Loaded   []string          `json:"loaded,omitempty"`
	Running  int               `json:"running"`
	Draining bool              `json:"draining,omitempty"`
	// AvgJobMs is the worker's moving average of a job's run time, from
	// the lease to the answer's end (0: no job answered yet). The broker
	// offers first the workers whose running jobs × this is lowest.
	AvgJobMs int64 `json:"avg_job_ms,omitempty"`
}

// MaxAvgJobMs bounds HeartbeatRequest.AvgJobMs (one day).
const MaxAvgJobMs = 24 * 3600 * 1000

// HeartbeatResponse lists held jobs the worker must stop (cancelled or lost).
type HeartbeatResponse struct {
	Stop []string `json:"stop,omitempty"`
}

// Candidate is a worker a submitter may seal a job to: everything the
// submitter needs to check the worker's evidence itself (the quote binds
// the nonce, both keys and the models).
type Candidate struct {
	WorkerID   string        `json:"worker_id"`
	Nonce      []byte        `json:"nonce"`
	Evidence   Evidence      `json:"evidence"`
	SigningKey []byte        `json:"signing_key"`
	HPKEKey    []byte        `json:"hpke_key"`
	Models     []ModelDigest `json:"models"`
	PriceCoef  int           `json:"price_coef"` // 1000 = 1.0× the model price
}

// CandidatesResponse answers GET /v1/candidates.
type CandidatesResponse struct {
	Candidates []Candidate `json:"candidates"`
}
