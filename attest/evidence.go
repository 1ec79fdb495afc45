package attest

import "fmt"

// Evidence types.
const (
	// EvidenceTDX is a raw Intel TDX quote, version 4.
	EvidenceTDX = "tdx-quote-v4"
	// EvidenceInsecureDev is no attestation at all: Quote holds the 64
	// REPORTDATA bytes in clear. Only for development; refused unless
	// Policy.AllowInsecureDev.
	EvidenceInsecureDev = "insecure-dev"
)

// Evidence is what a worker sends to prove its claims. Quote is base64 in
// JSON.
type Evidence struct {
	Type  string `json:"type"`
	Quote []byte `json:"quote"`
}

// Quoter produces a quote whose REPORTDATA field is reportData. A TDX
// implementation is NewTDXQuoter; DevQuoter is the insecure stand-in.
type Quoter interface {
	Quote(reportData [64]byte) ([]byte, error)
}

// NewEvidence computes ReportData(c), asks q for a quote over it and wraps the
// result as Evidence. The type is EvidenceTDX unless q has a method
// EvidenceType() string (as DevQuoter does), which then names it.
func NewEvidence(q Quoter, c Claims) (Evidence, error) {
	quote, err := q.Quote(ReportData(c))
	if err != nil {
		return Evidence{}, fmt.Errorf("attest: get quote: %w", err)
	}
	typ := EvidenceTDX
	if t, ok := q.(interface{ EvidenceType() string }); ok {
		typ = t.EvidenceType()
	}
	return Evidence{Type: typ, Quote: quote}, nil
}

// DevQuoter "attests" without hardware: its quote is the REPORTDATA itself,
// evidence type EvidenceInsecureDev. It proves nothing.
type DevQuoter struct{}

// Quote returns reportData unchanged.
func (DevQuoter) Quote(reportData [64]byte) ([]byte, error) {
	return reportData[:], nil
}

// EvidenceType returns EvidenceInsecureDev.
func (DevQuoter) EvidenceType() string { return EvidenceInsecureDev }
