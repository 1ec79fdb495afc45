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

// CheckReceipt verifies a segment receipt against the worker the submitter
// verified before sealing (nil: unknown worker), the worker the broker says
// ran the segment, the job, the sealed request and the text received for
// that segment. A receipt must also agree with the verified evidence: the
// same quote and measurements when attested, and not claim attestation for
// an insecure-dev worker.
func CheckReceipt(raw []byte, cand *wire.Candidate, worker, jobID string, sealedRequest []byte, text string) CheckedReceipt {
	var cr CheckedReceipt
	if err := json.Unmarshal(raw, &cr.Receipt); err != nil {
		cr.Problem = "receipt does not decode: " + err.Error()
		return cr
	}
	r := &cr.Receipt
	switch {
	case cand == nil:
		cr.Problem = "worker " + r.WorkerID + " was not among the verified candidates"
	case r.WorkerID != cand.WorkerID || r.WorkerID != worker:
		cr.Problem = "receipt is signed for another worker"
	case r.Verify(ed25519.PublicKey(cand.SigningKey)) != nil:
		cr.Problem = fmt.Sprintf("signature: %v", r.Verify(ed25519.PublicKey(cand.SigningKey)))
	case r.JobID != jobID:
		cr.Problem = "receipt is for another job"
	case sealedRequest != nil && r.RequestHash != receipt.HashRequest(sealedRequest):
		cr.Problem = "receipt is for another request"
	case receipt.CheckSegment(r, text) != nil:
		cr.Problem = "segment text differs from what was received"
	case !digestServed(cand, r.Model, r.ModelDigest):
		cr.Problem = "receipt names a model digest the worker did not attest"
	default:
		cr.Problem = evidenceMismatch(r, cand.Evidence)
		cr.Verified = cr.Problem == ""
	}
	return cr
}

func digestServed(c *wire.Candidate, model, digest string) bool {
	for _, m := range c.Models {
		if m.Name == model && m.Digest == digest {
			return true
		}
	}
	return false
}

// evidenceMismatch compares what a receipt claims with the evidence.
func evidenceMismatch(r *receipt.Receipt, ev wire.Evidence) string {
	if ev.Type != wire.EvidenceTDX {
		if r.Attested {
			return "receipt claims attestation for an insecure-dev worker"
		}
		return ""
	}
	if !r.Attested || r.QuoteHash != QuoteHash(ev.Quote) {
		return "receipt names another quote than the one verified"
	}
	m, err := attest.MeasurementOf(ev.Quote)
	if err != nil {
		return err.Error()
	}
	if r.Measurements != (receipt.Measurements{MRTD: m.MRTD.String(), RTMR0: m.RTMR0.String(), RTMR1: m.RTMR1.String(), RTMR2: m.RTMR2.String()}) {
		return "receipt measurements differ from the quote's"
	}
	return ""
}
