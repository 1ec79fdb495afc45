// Package receipt defines the worker-signed receipt that accompanies every
// segment of an answer.
//
// A worker signs, with the Ed25519 key bound into its attestation, the
// canonical encoding (see [Receipt.Canonical]) of the job id, segment index,
// hashes of the sealed request and of the segment's text, model and digest,
// token counts, quote hash and measurements, and time. Receipts travel as JSON
// (hashes in hex, signature in base64, time in Unix seconds).
//
// Worker:
//
//	r := receipt.Receipt{
//		Version: receipt.Version, JobID: jobID, Segment: seg, WorkerID: id,
//		RequestHash: receipt.HashRequest(sealed), TextHash: receipt.HashText(text),
//		Model: model, ModelDigest: digest, PromptTokens: p, CompletionTokens: c,
//		QuoteHash: sha256.Sum256(quote), Measurements: m, Attested: true, Time: time.Now(),
//	}
//	err := r.Sign(signingKey)
//
// Verifier (bot /verify, cocoon verify-receipt):
//
//	if err := r.Verify(workerPub); err != nil { ... }
//	if err := receipt.CheckSegment(&r, shownText); err != nil { ... }
//	if !r.Attested { ... show "not attested" ... }
//
// Verify checks the signature only; whether the worker's key, quote and
// measurements are acceptable is the attestation verifier's decision.
package receipt
