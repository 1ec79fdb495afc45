package trust

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/receipt"
	"github.com/cocoon-network/cocoon/wire"
)

// Segment describes the part of an answer one worker produced.
type Segment struct {
	JobID            string
	Index            int
	WorkerID         string
	SealedRequest    []byte
	Text             string
	Model, Digest    string
	PromptTokens     int
	CompletionTokens int
	Evidence         wire.Evidence
}

// SignReceipt builds and signs the receipt of a finished segment.
func SignReceipt(priv ed25519.PrivateKey, s Segment, now time.Time) ([]byte, error) {
	r := receipt.Receipt{Version: receipt.Version, JobID: s.JobID, Segment: s.Index, WorkerID: s.WorkerID,
		RequestHash: receipt.HashRequest(s.SealedRequest), TextHash: receipt.HashText(s.Text),
		Model: s.Model, ModelDigest: s.Digest, PromptTokens: s.PromptTokens, CompletionTokens: s.CompletionTokens,
		Time: now}
	if s.Evidence.Type == wire.EvidenceTDX {
		m, err := attest.MeasurementOf(s.Evidence.Quote)
		if err != nil {
			return nil, err
		}
		r.Attested = true
		r.QuoteHash = QuoteHash(s.Evidence.Quote)
		r.Measurements = receipt.Measurements{MRTD: m.MRTD.String(), RTMR0: m.RTMR0.String(), RTMR1: m.RTMR1.String(), RTMR2: m.RTMR2.String()}
	}
	if err := r.Sign(priv); err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

// CheckedReceipt is a segment receipt as a submitter checked it.
type CheckedReceipt struct {
	Receipt  receipt.Receipt `json:"receipt"`
	Verified bool            `json:"verified"`
	Problem  string          `json:"problem,omitempty"`
}

// CheckReceipt verifies a segment receipt against the worker's signing key
// (from its verified candidate entry), the job, the sealed request and the
// text the submitter received for that segment.
func CheckReceipt(raw []byte, signingKey ed25519.PublicKey, jobID string, sealedRequest []byte, text string) CheckedReceipt {
	var cr CheckedReceipt
	if err := json.Unmarshal(raw, &cr.Receipt); err != nil {
		cr.Problem = "receipt does not decode: " + err.Error()
		return cr
	}
	r := &cr.Receipt
	switch {
	case signingKey == nil:
		cr.Problem = "worker " + r.WorkerID + " was not among the verified candidates"
	case r.Verify(signingKey) != nil:
		cr.Problem = fmt.Sprintf("signature: %v", r.Verify(signingKey))
	case r.JobID != jobID:
		cr.Problem = "receipt is for another job"
	case r.RequestHash != receipt.HashRequest(sealedRequest):
		cr.Problem = "receipt is for another request"
	case receipt.CheckSegment(r, text) != nil:
		cr.Problem = "segment text differs from what was received"
	default:
		cr.Verified = true
	}
	return cr
}
