package attesttest_test

import (
	"errors"
	"testing"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/attest/attesttest"
	"github.com/google/go-tdx-guest/verify"
)

func TestQuoteVerifiesWithLibraryUnderTestRootOnly(t *testing.T) {
	pki := attesttest.MustNew(t)
	quote, err := pki.Quote(attesttest.QuoteOptions{ReportData: [64]byte{7}})
	if err != nil {
		t.Fatal(err)
	}
	if err := verify.RawTdxQuote(quote, &verify.Options{TrustedRoots: pki.Roots}); err != nil {
		t.Fatalf("library rejects re-signed quote under the test root: %v", err)
	}
	if err := verify.RawTdxQuote(quote, &verify.Options{TrustedRoots: attest.IntelRoots()}); err == nil {
		t.Fatal("library accepts re-signed quote under the Intel root")
	}
	if n := len(pki.Leaf.Extensions); n != 6 {
		t.Errorf("leaf has %d extensions, a PCK certificate has 6", n)
	}
	if org := pki.Root.Subject.Organization; len(org) != 1 || org[0] != "Cocoon TEST ONLY - not Intel" {
		t.Errorf("root organization %v", org)
	}
}

func TestQuoter(t *testing.T) {
	pki := attesttest.MustNew(t)
	custom := attest.Measurement{MRTD: attest.Register{1}}
	c := attest.Claims{Domain: "d", Nonce: attest.NewNonce(), Models: []attest.ModelDigest{{Name: "m", Digest: "sha256:0"}}}
	ev, err := attest.NewEvidence(pki.Quoter(attesttest.QuoteOptions{Measurement: &custom}), c)
	if err != nil {
		t.Fatal(err)
	}
	p := pki.Policy(custom)
	r, err := p.VerifyClaims(ev, c)
	if err != nil {
		t.Fatalf("VerifyClaims = %v", err)
	}
	if r.Measurement != custom {
		t.Errorf("measurement %v, want %v", r.Measurement, custom)
	}
	if _, err := pki.Policy().VerifyClaims(ev, c); !errors.Is(err, attest.ErrMeasurement) {
		t.Errorf("default allowlist: %v, want ErrMeasurement", err)
	}
	other := attesttest.MustNew(t)
	if _, err := other.Policy(custom).VerifyClaims(ev, c); !errors.Is(err, attest.ErrChain) {
		t.Errorf("another test PKI's root: %v, want ErrChain", err)
	}
}
