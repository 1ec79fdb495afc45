package attest

import (
	"fmt"

	"github.com/google/go-tdx-guest/client"
)

// TDXQuoter gets quotes from the TDX module of the confidential VM it runs
// in, through configfs-tsm (falling back to the legacy /dev/tdx_guest).
type TDXQuoter struct {
	provider client.QuoteProvider
}

// NewTDXQuoter returns a Quoter for the local TD. It fails when neither
// configfs-tsm nor the TDX guest device is present, i.e. outside a TD.
func NewTDXQuoter() (*TDXQuoter, error) {
	qp, err := client.GetQuoteProvider()
	if err != nil {
		return nil, fmt.Errorf("attest: TDX quote provider: %w", err)
	}
	if err := qp.IsSupported(); err != nil {
		dev, derr := client.OpenDevice()
		if derr != nil {
			return nil, fmt.Errorf("attest: no TDX quote provider (configfs-tsm: %v; device: %v)", err, derr)
		}
		dev.Close()
	}
	return &TDXQuoter{provider: qp}, nil
}

// Quote returns a raw TDX v4 quote with REPORTDATA = reportData.
func (q *TDXQuoter) Quote(reportData [64]byte) ([]byte, error) {
	raw, err := client.GetRawQuote(q.provider, reportData)
	if err != nil {
		return nil, fmt.Errorf("attest: TDX quote: %w", err)
	}
	return raw, nil
}
