package attest

import (
	"encoding/binary"
	"fmt"

	"github.com/google/go-tdx-guest/abi"
	pb "github.com/google/go-tdx-guest/proto/tdx"
)

// Offsets in a TDX v4 quote (Intel TDX DCAP Quoting Library API, "Quote
// Format"), used to check length fields before the TDX library slices by them.
const (
	offSignedDataSize = 0x278 // uint32 LE, size of the signed data that follows
	offSignedData     = 0x27c // signature(64) attestation key(64) certification data
	offCertData       = offSignedData + 0x80
	certDataHeader    = 6     // uint16 type, uint32 size
	qeReportAndSig    = 0x1c0 // QE report (384) and its signature (64)
	pckChainHeader    = 6     // uint16 type, uint32 size
)

// parseQuote turns raw bytes into a v4 quote, or fails with ErrMalformed. It
// never panics: the TDX library slices by the quote's length fields without
// checking them, so checkLayout checks them first, and decode recovers from
// any panic that slips through.
func parseQuote(raw []byte) (*pb.QuoteV4, error) {
	if err := checkLayout(raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return decode(raw)
}

func decode(raw []byte) (q *pb.QuoteV4, err error) {
	defer func() {
		if r := recover(); r != nil {
			q, err = nil, fmt.Errorf("%w: parser panic: %v", ErrMalformed, r)
		}
	}()
	parsed, err := abi.QuoteToProto(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	q, ok := parsed.(*pb.QuoteV4)
	if !ok {
		return nil, fmt.Errorf("%w: quote type %T, want v4", ErrMalformed, parsed)
	}
	return q, nil
}

// checkLayout checks that every length field points inside the quote.
func checkLayout(raw []byte) error {
	if len(raw) < abi.QuoteMinSize {
		return fmt.Errorf("%d bytes, a v4 quote has at least %d", len(raw), abi.QuoteMinSize)
	}
	if v := binary.LittleEndian.Uint16(raw); v != abi.QuoteVersion {
		return fmt.Errorf("quote version %d, want %d", v, abi.QuoteVersion)
	}
	signed := uint64(binary.LittleEndian.Uint32(raw[offSignedDataSize:]))
	if signed > uint64(len(raw)-offSignedData) {
		return fmt.Errorf("signed data size %d exceeds quote", signed)
	}
	if signed < 0x80+certDataHeader {
		return fmt.Errorf("signed data size %d too small", signed)
	}
	cert := uint64(binary.LittleEndian.Uint32(raw[offCertData+2:]))
	if cert != signed-0x80-certDataHeader {
		return fmt.Errorf("certification data size %d, want %d", cert, signed-0x80-certDataHeader)
	}
	if cert < qeReportAndSig+2 {
		return fmt.Errorf("certification data size %d too small", cert)
	}
	offAuth := offCertData + certDataHeader + qeReportAndSig
	auth := uint64(binary.LittleEndian.Uint16(raw[offAuth:]))
	if cert < qeReportAndSig+2+auth+pckChainHeader {
		return fmt.Errorf("QE auth data size %d exceeds certification data", auth)
	}
	return nil
}
