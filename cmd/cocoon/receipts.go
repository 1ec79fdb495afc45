package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/receipt"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/trust"
	"github.com/cocoon-network/cocoon/wire"
)

// receiptFile is what `ask --receipt` writes and `verify-receipt` reads: a
// receipt plus the evidence that lets anyone check it offline.
type receiptFile struct {
	Receipt   receipt.Receipt `json:"receipt"`
	Candidate wire.Candidate  `json:"worker"`
}

func receiptSummary(res *submit.Result) string {
	if len(res.Receipts) == 0 {
		return "none (no segment finished with a receipt)"
	}
	out := ""
	for i, r := range res.Receipts {
		switch {
		case !r.Verified:
			out += fmt.Sprintf("[segment %d unverified: %s] ", i, r.Problem)
		case r.Receipt.Attested:
			out += fmt.Sprintf("[segment %d verified, attested TDX, mrtd %.16s…] ", r.Receipt.Segment, r.Receipt.Measurements.MRTD)
		default:
			out += fmt.Sprintf("[segment %d signature verified, NOT ATTESTED (insecure-dev worker)] ", r.Receipt.Segment)
		}
	}
	return out
}

// writeReceipts saves each verified segment's receipt with the evidence the
// submitter checked before sealing to that worker.
func writeReceipts(path string, res *submit.Result) error {
	var files []receiptFile
	for _, r := range res.Receipts {
		if r.Receipt.WorkerID == "" {
			continue // a segment cut short has no receipt
		}
		files = append(files, receiptFile{Receipt: r.Receipt, Candidate: res.Evidence[r.Receipt.WorkerID]})
	}
	b, err := json.MarshalIndent(files, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// runVerifyReceipt checks receipts offline: the worker's quote chains to the
// Intel root (or the policy's roots) and binds the key that signed the
// receipt, and the receipt names that quote and its measurements.
func runVerifyReceipt(ctx context.Context, env *config.Env, args []string) error {
	fs := flag.NewFlagSet("verify-receipt", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return &exitError{2, "usage: cocoon verify-receipt FILE"}
	}
	b, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var files []receiptFile
	if err := json.Unmarshal(b, &files); err != nil {
		return &exitError{1, "receipt file does not decode: " + err.Error()}
	}
	policy := attestPolicy(env)
	if err := env.Err(); err != nil {
		return err
	}
	failed := false
	for i, f := range files {
		if err := verifyOne(policy, &f); err != nil {
			fmt.Printf("receipt %d (job %s segment %d): INVALID: %v\n", i, f.Receipt.JobID, f.Receipt.Segment, err)
			failed = true
			continue
		}
		status := "attested (TDX quote verified; measurements " + f.Receipt.Measurements.MRTD[:min(16, len(f.Receipt.Measurements.MRTD))] + "…)"
		if !f.Receipt.Attested {
			status = "signature valid, NOT ATTESTED (insecure-dev worker)"
		}
		fmt.Printf("receipt %d (job %s segment %d, model %s %s): %s\n", i, f.Receipt.JobID, f.Receipt.Segment,
			f.Receipt.Model, f.Receipt.ModelDigest, status)
	}
	if failed {
		return &exitError{1, ""}
	}
	return nil
}

func verifyOne(policy attest.Policy, f *receiptFile) error {
	c := &f.Candidate
	if c.WorkerID != f.Receipt.WorkerID {
		return errors.New("the file has no evidence for the worker that signed it")
	}
	if _, err := trust.VerifyCandidate(policy, c); err != nil {
		return err
	}
	if err := f.Receipt.Verify(ed25519.PublicKey(c.SigningKey)); err != nil {
		return err
	}
	if f.Receipt.Attested {
		if f.Receipt.QuoteHash != trust.QuoteHash(c.Evidence.Quote) {
			return errors.New("receipt names another quote")
		}
		m, err := attest.MeasurementOf(c.Evidence.Quote)
		if err != nil {
			return err
		}
		want := receipt.Measurements{MRTD: m.MRTD.String(), RTMR0: m.RTMR0.String(), RTMR1: m.RTMR1.String(), RTMR2: m.RTMR2.String()}
		if f.Receipt.Measurements != want {
			return errors.New("receipt measurements differ from the quote's")
		}
	}
	return nil
}
