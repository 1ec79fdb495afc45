package attest_test

import (
	"time"

	"testing"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/attest/attesttest"
	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/verify"
)

// BenchmarkVerify is the broker's join verification of the shipped quote,
// offline. Compare with BenchmarkBareTdxQuote for join_verify_ratio.
func BenchmarkVerify(b *testing.B) {
	p := shippedPolicy()
	quote, want := attesttest.ShippedQuote(), attesttest.ShippedReportData()
	for b.Loop() {
		if _, err := p.Verify(quote, want); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareTdxQuote is the library call alone, with the options Verify
// builds (same root pool, same time, offline), on the same quote already
// parsed.
func BenchmarkBareTdxQuote(b *testing.B) {
	parsed, err := abi.QuoteToProto(attesttest.ShippedQuote())
	if err != nil {
		b.Fatal(err)
	}
	roots := attest.IntelRoots()
	for b.Loop() {
		if err := verify.TdxQuote(parsed, &verify.Options{TrustedRoots: roots, Now: attesttest.ShippedValidAt}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel runs Verify on all cores with one shared Policy.
func BenchmarkVerifyParallel(b *testing.B) {
	p := shippedPolicy()
	quote, want := attesttest.ShippedQuote(), attesttest.ShippedReportData()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Verify(quote, want); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyRatio alternates Verify and the bare library call on the
// same quote and reports their time ratio (join_verify_ratio), which is far
// less sensitive to machine load than two separate benchmarks.
func BenchmarkVerifyRatio(b *testing.B) {
	p := shippedPolicy()
	quote, want := attesttest.ShippedQuote(), attesttest.ShippedReportData()
	parsed, err := abi.QuoteToProto(quote)
	if err != nil {
		b.Fatal(err)
	}
	roots := attest.IntelRoots()
	var full, bare time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := p.Verify(quote, want); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := verify.TdxQuote(parsed, &verify.Options{TrustedRoots: roots, Now: attesttest.ShippedValidAt}); err != nil {
			b.Fatal(err)
		}
		full += t1.Sub(t0)
		bare += time.Since(t1)
	}
	b.ReportMetric(float64(full)/float64(bare), "ratio")
	b.ReportMetric(float64(full.Microseconds())/float64(b.N), "verify-us/op")
	b.ReportMetric(float64(bare.Microseconds())/float64(b.N), "bare-us/op")
}
