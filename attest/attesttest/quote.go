package attesttest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/google/go-tdx-guest/abi"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/testing/testdata"
)

// ShippedValidAt is a time at which the shipped quote's chain is valid (its
// PCK certificate runs from 2022-09-20 to 2029-09-20).
var ShippedValidAt = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// ShippedQuote returns a copy of the real Intel-signed quote shipped with the
// TDX library.
func ShippedQuote() []byte { return append([]byte(nil), testdata.RawQuote...) }

// ShippedMeasurement returns the shipped quote's MRTD and RTMR0-2.
func ShippedMeasurement() attest.Measurement {
	m, err := attest.MeasurementOf(testdata.RawQuote)
	if err != nil {
		panic("attesttest: shipped quote: " + err.Error())
	}
	return m
}

// ShippedReportData returns the shipped quote's REPORTDATA.
func ShippedReportData() [64]byte {
	var rd [64]byte
	copy(rd[:], shipped().GetTdQuoteBody().GetReportData())
	return rd
}

// QuoteOptions says what to change in the shipped quote before re-signing.
type QuoteOptions struct {
	// ReportData replaces REPORTDATA.
	ReportData [64]byte
	// Measurement, if set, replaces MRTD and RTMR0-2.
	Measurement *attest.Measurement
	// Debug sets the DEBUG bit of TDATTRIBUTES.
	Debug bool
	// QESigner, if set, replaces the quoting enclave's MRSIGNER.
	QESigner *[32]byte
	// QEProdID, if not 0, replaces the quoting enclave's ISVPRODID.
	QEProdID uint16
	// QEDebug sets the DEBUG flag in the quoting enclave's attributes.
	QEDebug bool
}

// Quote returns the shipped quote changed as o says and signed anew: a fresh
// attestation key signs the header and TD report, the quoting enclave report
// binds that key (its REPORTDATA is SHA-256(key || QE auth data)) and is
// signed by this PKI's PCK leaf, and the PEM chain leaf, intermediate, root
// replaces the certification data.
func (p *PKI) Quote(o QuoteOptions) ([]byte, error) {
	q := shipped()
	body := q.GetTdQuoteBody()
	body.ReportData = o.ReportData[:]
	if m := o.Measurement; m != nil {
		body.MrTd = clone(m.MRTD[:])
		body.Rtmrs[0], body.Rtmrs[1], body.Rtmrs[2] = clone(m.RTMR0[:]), clone(m.RTMR1[:]), clone(m.RTMR2[:])
	}
	if o.Debug {
		body.TdAttributes[0] |= 1
	}

	attestKey := newKey()
	signed := q.GetSignedData()
	signed.EcdsaAttestationKey = rawPoint(&attestKey.PublicKey)
	header, err := abi.HeaderToAbiBytes(q.GetHeader())
	if err != nil {
		return nil, err
	}
	tdReport, err := abi.TdQuoteBodyToAbiBytes(body)
	if err != nil {
		return nil, err
	}
	if signed.Signature, err = sign(attestKey, append(header, tdReport...)); err != nil {
		return nil, err
	}

	certData := signed.GetCertificationData()
	qe := certData.GetQeReportCertificationData()
	if o.QESigner != nil {
		qe.QeReport.MrSigner = clone(o.QESigner[:])
	}
	if o.QEProdID != 0 {
		qe.QeReport.IsvProdId = uint32(o.QEProdID)
	}
	if o.QEDebug {
		qe.QeReport.Attributes[0] |= 0x02
	}
	binding := sha256.Sum256(append(clone(signed.EcdsaAttestationKey), qe.GetQeAuthData().GetData()...))
	qe.QeReport.ReportData = append(binding[:], make([]byte, 32)...)
	qeReport, err := abi.EnclaveReportToAbiBytes(qe.GetQeReport())
	if err != nil {
		return nil, err
	}
	if qe.QeReportSignature, err = sign(p.leafKey, qeReport); err != nil {
		return nil, err
	}

	chain := qe.GetPckCertificateChainData()
	chain.PckCertChain = clone(p.chainPEM)
	chain.Size = uint32(len(chain.PckCertChain))
	certData.Size = uint32(0x180 + 0x40 + 2 + len(qe.GetQeAuthData().GetData()) + 6 + len(chain.PckCertChain))
	q.SignedDataSize = 0x80 + 6 + certData.Size
	q.ExtraBytes = nil

	raw, err := abi.QuoteToAbiBytes(q)
	if err != nil {
		return nil, fmt.Errorf("attesttest: encode quote: %w", err)
	}
	return raw, nil
}

// Quoter returns an attest.Quoter that makes quotes with p, as o says, for
// whatever REPORTDATA it is asked (o.ReportData is ignored): a worker in a
// test "attests" with it and verifies under p.Roots.
func (p *PKI) Quoter(o QuoteOptions) attest.Quoter {
	return quoter{p: p, o: o}
}

type quoter struct {
	p *PKI
	o QuoteOptions
}

func (q quoter) Quote(reportData [64]byte) ([]byte, error) {
	o := q.o
	o.ReportData = reportData
	return q.p.Quote(o)
}

// Policy returns a policy trusting only p's root and allowing allow (the
// shipped quote's measurement when empty).
func (p *PKI) Policy(allow ...attest.Measurement) attest.Policy {
	if len(allow) == 0 {
		allow = []attest.Measurement{ShippedMeasurement()}
	}
	return attest.Policy{TrustedRoots: p.Roots, Allow: allow}
}

// shipped parses a fresh copy of the shipped quote.
func shipped() *pb.QuoteV4 {
	q, err := abi.QuoteToProto(testdata.RawQuote)
	if err != nil {
		panic("attesttest: shipped quote: " + err.Error())
	}
	return q.(*pb.QuoteV4)
}

func shippedLeaf() (*x509.Certificate, error) {
	chain := shipped().GetSignedData().GetCertificationData().GetQeReportCertificationData().GetPckCertificateChainData().GetPckCertChain()
	block, _ := pem.Decode(chain)
	if block == nil {
		return nil, errors.New("attesttest: shipped quote has no PCK certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// sign returns the raw r||s ECDSA signature over SHA-256(msg).
func sign(key *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig, nil
}

// rawPoint encodes a P-256 public key as X||Y, 64 bytes.
func rawPoint(pub *ecdsa.PublicKey) []byte {
	b, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	return b[1:]
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
