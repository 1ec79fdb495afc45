package obs

import (
	"errors"

	"github.com/cocoon-network/cocoon/attest"
)

// refusals names each attestation failure for the result label.
var refusals = []struct {
	err   error
	label string
}{
	{attest.ErrMalformed, "refused_malformed"},
	{attest.ErrChain, "refused_chain"},
	{attest.ErrCertExpired, "refused_cert_expired"},
	{attest.ErrQEReport, "refused_qe_report"},
	{attest.ErrSignature, "refused_signature"},
	{attest.ErrQEIdentity, "refused_qe_identity"},
	{attest.ErrTCB, "refused_tcb"},
	{attest.ErrDebugTD, "refused_debug_td"},
	{attest.ErrMeasurement, "refused_measurement"},
	{attest.ErrReportData, "refused_report_data"},
	{attest.ErrInsecureDev, "refused_insecure_dev"},
	{attest.ErrEvidenceType, "refused_evidence_type"},
}

// AttestResult is the result label of Attestations for one join: "tdx"
// (quote verified), "insecure_dev" (accepted without TDX), or
// "refused_<reason>" after the attest sentinel in err ("refused_other"
// when none matches).
func AttestResult(insecure bool, err error) string {
	switch {
	case err == nil && insecure:
		return "insecure_dev"
	case err == nil:
		return "tdx"
	}
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "refused_other"
}
