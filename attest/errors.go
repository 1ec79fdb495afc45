package attest

import "errors"

// Sentinel errors, one per kind of verification failure. Verify wraps them
// with context; test for them with errors.Is. None of them is worth retrying
// with the same quote.
var (
	// ErrMalformed: the quote cannot be parsed as a TDX v4 quote.
	ErrMalformed = errors.New("attest: malformed quote")
	// ErrChain: the PCK certificate chain in the quote does not lead to a
	// trusted root, or does not have the Intel PCK profile.
	ErrChain = errors.New("attest: certificate chain not trusted")
	// ErrCertExpired: a certificate in the chain is expired (or not yet
	// valid) at Policy.Now.
	ErrCertExpired = errors.New("attest: certificate expired")
	// ErrQEReport: the quoting enclave's report is not signed by the PCK
	// certificate, or does not bind the attestation key.
	ErrQEReport = errors.New("attest: quoting enclave report invalid")
	// ErrSignature: the TD report (header and body, which hold the
	// measurements and REPORTDATA) is not signed by the attestation key.
	ErrSignature = errors.New("attest: quote signature invalid")
	// ErrQEIdentity: the quoting enclave is not the pinned signer's TD
	// quoting enclave (MRSIGNER, ISVPRODID 2) or runs in debug mode.
	ErrQEIdentity = errors.New("attest: quoting enclave identity not trusted")
	// ErrTCB: online checks failed: collateral (TCB info, QE identity,
	// CRLs) could not be fetched or verified, a certificate is revoked, or
	// the TCB status is not UpToDate.
	ErrTCB = errors.New("attest: TCB or collateral check failed")
	// ErrDebugTD: the TD runs with a debug (TUD) attribute set.
	ErrDebugTD = errors.New("attest: TD is debuggable")
	// ErrMeasurement: MRTD and RTMR0-2 match no allowlist entry.
	ErrMeasurement = errors.New("attest: measurement not allowed")
	// ErrReportData: REPORTDATA is not the expected value (another nonce,
	// another key, another model list, or a replay).
	ErrReportData = errors.New("attest: REPORTDATA mismatch")
	// ErrInsecureDev: insecure-dev evidence while the policy does not allow it.
	ErrInsecureDev = errors.New("attest: insecure-dev evidence not allowed")
	// ErrEvidenceType: the evidence type is unknown.
	ErrEvidenceType = errors.New("attest: unknown evidence type")
)
