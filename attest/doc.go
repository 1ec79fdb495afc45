// Package attest produces and verifies Intel TDX evidence that binds a
// worker's keys and models to an attested confidential VM.
//
// A worker builds Claims (the verifier's nonce, its Ed25519 signing key, its
// HPKE key, the digests of the models it serves) and asks a Quoter for a
// quote whose REPORTDATA is ReportData(claims):
//
//	q, err := attest.NewTDXQuoter() // inside the TD
//	if err != nil {
//		return err
//	}
//	ev, err := attest.NewEvidence(q, attest.Claims{
//		Domain:     "cocoon-join:" + brokerID,
//		Nonce:      nonceFromBroker,
//		SigningKey: signPub,
//		HPKEKey:    hpkePub.Bytes(),
//		Models:     []attest.ModelDigest{{Name: "qwen3:0.6b", Digest: digest}},
//	})
//
// The verifier (the broker at join, a submitter before sealing a prompt)
// rebuilds the same Claims from what the worker sent and the nonce it issued,
// and checks the evidence against its Policy:
//
//	policy := attest.Policy{
//		Allow:  allowlist, // []attest.Measurement: MRTD, RTMR0-2
//		Getter: attest.NewCachingGetter(nil, time.Hour), // nil Getter: offline
//	}
//	report, err := policy.VerifyClaims(ev, claims)
//	switch {
//	case errors.Is(err, attest.ErrMeasurement):
//		// an image we do not run
//	case err != nil:
//		// not attested: refuse
//	}
//	_ = report.Measurement // goes into receipts
//
// Verify checks the quote's certificate chain up to the pinned Intel SGX Root
// CA, the quoting enclave and the quote signatures, the TD debug attribute,
// the measurement allowlist and the REPORTDATA binding; every failure wraps
// one of the Err sentinels. Package attesttest re-signs a real quote under a
// throwaway root, for tests of the accept path.
package attest
