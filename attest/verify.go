package attest

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/google/go-tdx-guest/verify"
)

// The TD quoting enclave's product ID, and the DEBUG flag of SGX enclave
// attributes (byte 0, bit 1): a debug QE's keys can be read by its host.
const (
	tdQEProdID = 2
	sgxDebug   = 0x02
)

// tudMask covers TDATTRIBUTES bits 7:0, the "TD under debug" group: bit 0 is
// DEBUG, the others are reserved for debug features. Any of them set means
// the host may inspect the TD.
const tudMask = 0xff

// Verify checks a raw TDX v4 quote against the policy and against want, the
// REPORTDATA the verifier expects (ReportData of the claims it is checking).
//
// In order: the quote parses (ErrMalformed); its PCK certificate chain leads
// to a trusted root at Now (ErrChain, ErrCertExpired); the PCK key signed the
// quoting enclave's report, which binds the attestation key (ErrQEReport);
// the attestation key signed the TD report (ErrSignature); with a Getter,
// collateral and TCB status (ErrTCB); the quoting enclave is the pinned
// signer's TD QE and not in debug mode (ErrQEIdentity); the TD has no debug
// attribute (ErrDebugTD); MRTD and RTMR0-2 equal an allowlist entry
// (ErrMeasurement); REPORTDATA equals want (ErrReportData). The first failure
// is returned, wrapped with detail.
//
// Verify is safe for concurrent use: it builds fresh library options on
// every call (the library writes into them).
func (p Policy) Verify(quote []byte, want [64]byte) (*Report, error) {
	q, err := parseQuote(quote)
	if err != nil {
		return nil, err
	}
	now := p.now()
	opts := &verify.Options{
		TrustedRoots:     p.roots(),
		Now:              now,
		GetCollateral:    p.Getter != nil,
		CheckRevocations: p.Getter != nil,
		Getter:           p.Getter,
	}
	if err := verify.TdxQuote(q, opts); err != nil {
		return nil, p.diagnose(q, now, err)
	}

	qe := q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetQeReport()
	signer := p.qeSigner()
	if !bytes.Equal(qe.GetMrSigner(), signer[:]) {
		return nil, fmt.Errorf("%w: MRSIGNER %x, want %x", ErrQEIdentity, qe.GetMrSigner(), signer)
	}
	if qe.GetIsvProdId() != tdQEProdID {
		return nil, fmt.Errorf("%w: ISVPRODID %d, want %d (TD quoting enclave)", ErrQEIdentity, qe.GetIsvProdId(), tdQEProdID)
	}
	if qe.GetAttributes()[0]&sgxDebug != 0 {
		return nil, fmt.Errorf("%w: debug quoting enclave", ErrQEIdentity)
	}
	body := q.GetTdQuoteBody()
	if attrs := body.GetTdAttributes(); attrs[0]&tudMask != 0 && !p.AllowDebug {
		return nil, fmt.Errorf("%w: TDATTRIBUTES %x", ErrDebugTD, attrs)
	}
	m := measurementOf(body)
	if !p.allowed(m) {
		return nil, fmt.Errorf("%w: %v (allowlist has %d entries)", ErrMeasurement, m, len(p.Allow))
	}
	if !bytes.Equal(body.GetReportData(), want[:]) {
		return nil, fmt.Errorf("%w: quote has %s, want %s", ErrReportData,
			hex.EncodeToString(body.GetReportData()), hex.EncodeToString(want[:]))
	}

	status := TCBUnknown
	if p.Getter != nil {
		status = TCBUpToDate
	}
	return newReport(quote, q, m, status, now), nil
}

// VerifyEvidence verifies evidence of any type: EvidenceTDX goes to Verify;
// EvidenceInsecureDev is refused with ErrInsecureDev unless the policy allows
// it, and then only checked against want (Report.Insecure, TCBNotAttested).
func (p Policy) VerifyEvidence(ev Evidence, want [64]byte) (*Report, error) {
	switch ev.Type {
	case EvidenceTDX:
		return p.Verify(ev.Quote, want)
	case EvidenceInsecureDev:
		if !p.AllowInsecureDev {
			return nil, ErrInsecureDev
		}
		if !bytes.Equal(ev.Quote, want[:]) {
			return nil, fmt.Errorf("%w: insecure-dev evidence for another REPORTDATA", ErrReportData)
		}
		return &Report{
			ReportData: hex.EncodeToString(want[:]),
			TCBStatus:  TCBNotAttested,
			VerifiedAt: p.now(),
			Insecure:   true,
		}, nil
	default:
		return nil, fmt.Errorf("%w: %q", ErrEvidenceType, ev.Type)
	}
}

// VerifyClaims is VerifyEvidence(ev, ReportData(c)): the check a broker makes
// at join and a submitter makes before sealing to a worker's keys.
func (p Policy) VerifyClaims(ev Evidence, c Claims) (*Report, error) {
	return p.VerifyEvidence(ev, ReportData(c))
}
