package attest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/attest/attesttest"
)

var sentinels = []error{
	attest.ErrMalformed, attest.ErrChain, attest.ErrCertExpired, attest.ErrQEReport,
	attest.ErrSignature, attest.ErrQEIdentity, attest.ErrTCB, attest.ErrDebugTD,
	attest.ErrMeasurement, attest.ErrReportData,
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	// The parser recovers from library panics, but a panic means checkLayout
	// missed a case: fail so the fuzzer reports it.
	if strings.Contains(err.Error(), "parser panic") {
		t.Fatalf("library panicked: %v", err)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error of no known kind: %v", err)
}

// FuzzVerify feeds arbitrary bytes to Verify (seed corpus in
// testdata/fuzz/FuzzVerify: the shipped quote and broken variants). Verify
// must not panic, and every rejection must carry one of the sentinels.
func FuzzVerify(f *testing.F) {
	f.Add(attesttest.ShippedQuote())
	p := shippedPolicy()
	want := attesttest.ShippedReportData()
	f.Fuzz(func(t *testing.T, quote []byte) {
		r, err := p.Verify(quote, want)
		checkErr(t, err)
		if err == nil && r.Measurement != attesttest.ShippedMeasurement() {
			t.Fatalf("accepted a quote with measurement %v", r.Measurement)
		}
	})
}

// FuzzMeasurementOf fuzzes quote parsing alone, which is much faster.
func FuzzMeasurementOf(f *testing.F) {
	f.Add(attesttest.ShippedQuote())
	f.Fuzz(func(t *testing.T, quote []byte) {
		_, err := attest.MeasurementOf(quote)
		checkErr(t, err)
	})
}
