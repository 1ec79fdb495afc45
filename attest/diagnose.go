package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-tdx-guest/abi"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/verify"
)

// diagnose names the failure after the TDX library rejected a quote. The
// library's errors are mostly strings, so the checks are redone here from the
// root down, and the first one that fails gives the sentinel; libErr is kept
// as detail. Only rejected quotes pay for this.
func (p *Policy) diagnose(q *pb.QuoteV4, now time.Time, libErr error) error {
	data := q.GetSignedData().GetCertificationData().GetQeReportCertificationData()

	leaf, inter, err := pckChain(data.GetPckCertificateChainData().GetPckCertChain())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrChain, err)
	}
	intermediates := x509.NewCertPool()
	intermediates.AddCert(inter)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: p.roots(), Intermediates: intermediates, CurrentTime: now}); err != nil {
		var invalid x509.CertificateInvalidError
		if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
			return fmt.Errorf("%w: %v", ErrCertExpired, err)
		}
		return fmt.Errorf("%w: %v", ErrChain, err)
	}

	qeReport, err := abi.EnclaveReportToAbiBytes(data.GetQeReport())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkP256(leaf.PublicKey, qeReport, data.GetQeReportSignature()); err != nil {
		return fmt.Errorf("%w: PCK signature over QE report: %v", ErrQEReport, err)
	}
	attestKey := q.GetSignedData().GetEcdsaAttestationKey()
	binding := sha256.Sum256(append(append([]byte(nil), attestKey...), data.GetQeAuthData().GetData()...))
	if rd := data.GetQeReport().GetReportData(); !bytes.Equal(rd[:32], binding[:]) || !allZero(rd[32:]) {
		return fmt.Errorf("%w: QE report does not bind the attestation key", ErrQEReport)
	}

	header, err := abi.HeaderToAbiBytes(q.GetHeader())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	body, err := abi.TdQuoteBodyToAbiBytes(q.GetTdQuoteBody())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	pub, err := rawP256(attestKey)
	if err != nil {
		return fmt.Errorf("%w: attestation key: %v", ErrSignature, err)
	}
	if err := checkP256(pub, append(header, body...), q.GetSignedData().GetSignature()); err != nil {
		return fmt.Errorf("%w: attestation key signature over TD report: %v", ErrSignature, err)
	}

	if p.Getter != nil {
		offline := &verify.Options{TrustedRoots: p.roots(), Now: now}
		if verify.TdxQuote(q, offline) == nil {
			return fmt.Errorf("%w: %v", ErrTCB, libErr)
		}
	}
	// What is left are the library's profile checks on the chain: subject
	// names, algorithms, PCK extensions.
	return fmt.Errorf("%w: %v", ErrChain, libErr)
}

// pckChain decodes the PEM chain leaf, intermediate, root from a quote.
func pckChain(chain []byte) (leaf, inter *x509.Certificate, err error) {
	var certs []*x509.Certificate
	for rest := chain; len(certs) < 3; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, nil, fmt.Errorf("PCK chain has %d certificates, want 3", len(certs))
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("PCK chain certificate %d: %v", len(certs), err)
		}
		certs = append(certs, c)
	}
	return certs[0], certs[1], nil
}

// checkP256 verifies a raw r||s ECDSA P-256 signature over SHA-256(msg).
func checkP256(key any, msg, sig []byte) error {
	pub, ok := key.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("key is %T, not ECDSA", key)
	}
	der, err := abi.SignatureToDER(sig)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(pub, digest[:], der) {
		return errors.New("signature does not verify")
	}
	return nil
}

// rawP256 decodes an uncompressed P-256 point given as X||Y (64 bytes).
func rawP256(xy []byte) (*ecdsa.PublicKey, error) {
	if len(xy) != 64 {
		return nil, fmt.Errorf("%d bytes, want 64", len(xy))
	}
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, xy...))
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
