package attest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	pb "github.com/google/go-tdx-guest/proto/tdx"
)

// TCBStatus says how much is known about the platform's TCB level.
type TCBStatus string

const (
	// TCBUpToDate: collateral was fetched and verified, and Intel rates the
	// platform and TDX module UpToDate (anything else fails with ErrTCB).
	TCBUpToDate TCBStatus = "UpToDate"
	// TCBUnknown: verified offline (Policy.Getter nil). The signature chain to
	// the root, the quote and the policy were checked; TCB level, QE identity
	// collateral, FMSPC match and revocation were not.
	TCBUnknown TCBStatus = "Unknown"
	// TCBNotAttested: insecure-dev evidence; nothing was proven.
	TCBNotAttested TCBStatus = "NotAttested"
)

// Report describes a verified quote. Byte strings are lowercase hex.
type Report struct {
	Measurement  Measurement `json:"measurement"` // the allowlisted registers
	RTMR3        Register    `json:"rtmr3"`
	MRSeam       string      `json:"mrseam"`        // TDX module measurement
	TDAttributes string      `json:"td_attributes"` // 8 bytes, little endian
	XFAM         string      `json:"xfam"`
	TEETCBSVN    string      `json:"tee_tcb_svn"` // TDX module and SEAM SVNs, 16 bytes
	QESigner     string      `json:"qe_signer"`   // quoting enclave MRSIGNER
	QESVN        uint16      `json:"qe_svn"`
	PCESVN       uint16      `json:"pce_svn"`
	ReportData   string      `json:"report_data"` // 64 bytes
	// QuoteSHA256 is over the raw quote as given, trailing bytes included
	// (bytes after the signed data, which no signature covers).
	QuoteSHA256 string    `json:"quote_sha256"`
	TCBStatus   TCBStatus `json:"tcb_status"`
	VerifiedAt  time.Time `json:"verified_at"` // Policy.Now at verification
	Insecure    bool      `json:"insecure,omitempty"`
}

// MeasurementOf parses a quote, WITHOUT verifying it, and returns its
// measurement: for building an allowlist from a quote of a known-good image.
func MeasurementOf(quote []byte) (Measurement, error) {
	q, err := parseQuote(quote)
	if err != nil {
		return Measurement{}, err
	}
	return measurementOf(q.GetTdQuoteBody()), nil
}

func measurementOf(b *pb.TDQuoteBody) Measurement {
	var m Measurement
	copy(m.MRTD[:], b.GetMrTd())
	rtmrs := b.GetRtmrs()
	copy(m.RTMR0[:], rtmrs[0])
	copy(m.RTMR1[:], rtmrs[1])
	copy(m.RTMR2[:], rtmrs[2])
	return m
}

func newReport(raw []byte, q *pb.QuoteV4, m Measurement, status TCBStatus, now time.Time) *Report {
	b := q.GetTdQuoteBody()
	h := q.GetHeader()
	qe := q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetQeReport()
	sum := sha256.Sum256(raw)
	r := &Report{
		Measurement:  m,
		MRSeam:       hex.EncodeToString(b.GetMrSeam()),
		TDAttributes: hex.EncodeToString(b.GetTdAttributes()),
		XFAM:         hex.EncodeToString(b.GetXfam()),
		TEETCBSVN:    hex.EncodeToString(b.GetTeeTcbSvn()),
		QESigner:     hex.EncodeToString(qe.GetMrSigner()),
		QESVN:        binary.LittleEndian.Uint16(h.GetQeSvn()),
		PCESVN:       binary.LittleEndian.Uint16(h.GetPceSvn()),
		ReportData:   hex.EncodeToString(b.GetReportData()),
		QuoteSHA256:  hex.EncodeToString(sum[:]),
		TCBStatus:    status,
		VerifiedAt:   now,
	}
	copy(r.RTMR3[:], b.GetRtmrs()[3])
	return r
}
