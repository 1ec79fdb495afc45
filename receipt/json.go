package receipt

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// jsonReceipt is the transport form: hashes as lowercase hex, the signature
// as standard base64, time as Unix seconds.
type jsonReceipt struct {
	Version          int          `json:"version"`
	JobID            string       `json:"job_id"`
	Segment          int          `json:"segment"`
	WorkerID         string       `json:"worker_id"`
	RequestHash      string       `json:"request_hash"`
	TextHash         string       `json:"text_hash"`
	Model            string       `json:"model"`
	ModelDigest      string       `json:"model_digest"`
	PromptTokens     int          `json:"prompt_tokens"`
	CompletionTokens int          `json:"completion_tokens"`
	QuoteHash        string       `json:"quote_hash"`
	Measurements     Measurements `json:"measurements"`
	Attested         bool         `json:"attested"`
	Time             int64        `json:"time"`
	Signature        string       `json:"signature"`
}

// MarshalJSON encodes r in its transport form.
func (r Receipt) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonReceipt{
		Version: r.Version, JobID: r.JobID, Segment: r.Segment, WorkerID: r.WorkerID,
		RequestHash: hex.EncodeToString(r.RequestHash[:]), TextHash: hex.EncodeToString(r.TextHash[:]),
		Model: r.Model, ModelDigest: r.ModelDigest,
		PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
		QuoteHash: hex.EncodeToString(r.QuoteHash[:]), Measurements: r.Measurements,
		Attested: r.Attested, Time: r.Time.Unix(),
		Signature: base64.StdEncoding.EncodeToString(r.Signature),
	})
}

// UnmarshalJSON decodes the transport form; it does not verify the signature.
func (r *Receipt) UnmarshalJSON(data []byte) error {
	var j jsonReceipt
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(j.Signature)
	if err != nil {
		return fmt.Errorf("receipt: signature: %w", err)
	}
	out := Receipt{
		Version: j.Version, JobID: j.JobID, Segment: j.Segment, WorkerID: j.WorkerID,
		Model: j.Model, ModelDigest: j.ModelDigest,
		PromptTokens: j.PromptTokens, CompletionTokens: j.CompletionTokens,
		Measurements: j.Measurements, Attested: j.Attested,
		Time: time.Unix(j.Time, 0).UTC(), Signature: sig,
	}
	for _, h := range []struct {
		name, hex string
		dst       *[32]byte
	}{
		{"request_hash", j.RequestHash, &out.RequestHash},
		{"text_hash", j.TextHash, &out.TextHash},
		{"quote_hash", j.QuoteHash, &out.QuoteHash},
	} {
		b, err := hex.DecodeString(h.hex)
		if err != nil || len(b) != 32 {
			return fmt.Errorf("receipt: %s is not 32 bytes of hex", h.name)
		}
		*h.dst = [32]byte(b)
	}
	*r = out
	return nil
}
