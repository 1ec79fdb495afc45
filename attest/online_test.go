package attest_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/attest/attesttest"
	tdxtesting "github.com/google/go-tdx-guest/testing"
)

// collateralAt is inside the validity of the library's sample collateral.
var collateralAt = time.Date(2023, 7, 1, 1, 0, 0, 0, time.UTC)

type countGetter struct {
	inner attest.Getter
	calls atomic.Int32
}

func (g *countGetter) Get(url string) (map[string][]string, []byte, error) {
	g.calls.Add(1)
	return g.inner.Get(url)
}

// The library's sample collateral rates the shipped quote's TCB below every
// listed level, so online verification must fail with ErrTCB where offline
// verification passes; the caching getter must fetch each URL once.
func TestOnlineVerification(t *testing.T) {
	counted := &countGetter{inner: tdxtesting.TestGetter}
	p := attest.Policy{
		Allow:  []attest.Measurement{attesttest.ShippedMeasurement()},
		Now:    func() time.Time { return collateralAt },
		Getter: attest.NewCachingGetter(counted, time.Hour),
	}
	for range 3 {
		_, err := p.Verify(attesttest.ShippedQuote(), attesttest.ShippedReportData())
		if !errors.Is(err, attest.ErrTCB) {
			t.Fatalf("online Verify = %v, want ErrTCB", err)
		}
	}
	if n := counted.calls.Load(); n != 4 {
		t.Errorf("collateral fetched %d times over 3 verifications, want 4 (one per URL)", n)
	}

	p.Getter = nil
	r, err := p.Verify(attesttest.ShippedQuote(), attesttest.ShippedReportData())
	if err != nil || r.TCBStatus != attest.TCBUnknown {
		t.Fatalf("offline Verify = %+v, %v", r, err)
	}
}

func TestOnlineCollateralUnavailable(t *testing.T) {
	p := attest.Policy{
		Allow:  []attest.Measurement{attesttest.ShippedMeasurement()},
		Now:    func() time.Time { return collateralAt },
		Getter: &tdxtesting.Getter{}, // serves nothing
	}
	_, err := p.Verify(attesttest.ShippedQuote(), attesttest.ShippedReportData())
	if !errors.Is(err, attest.ErrTCB) {
		t.Fatalf("Verify without collateral = %v, want ErrTCB", err)
	}
}
