package attest

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/google/go-tdx-guest/testing/testdata"
)

func TestIntelRootPinned(t *testing.T) {
	block, _ := pem.Decode(intelRootPEM)
	sum := sha256.Sum256(block.Bytes)
	if got := hex.EncodeToString(sum[:]); got != intelRootSHA256 {
		t.Fatalf("embedded root SHA-256 = %s, want %s", got, intelRootSHA256)
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if root.Subject.CommonName != "Intel SGX Root CA" {
		t.Errorf("root subject %v", root.Subject)
	}

	// The shipped quote's chain ends in the same root.
	q, err := parseQuote(testdata.RawQuote)
	if err != nil {
		t.Fatal(err)
	}
	chain := q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetPckCertificateChainData().GetPckCertChain()
	var last *pem.Block
	for rest := chain; ; {
		b, r := pem.Decode(rest)
		if b == nil {
			break
		}
		last, rest = b, r
	}
	if last == nil || !bytes.Equal(last.Bytes, block.Bytes) {
		t.Error("shipped quote's root differs from the embedded root")
	}
}

func TestIntelQESignerFromShippedQuote(t *testing.T) {
	q, err := parseQuote(testdata.RawQuote)
	if err != nil {
		t.Fatal(err)
	}
	got := q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetQeReport().GetMrSigner()
	if !bytes.Equal(got, intelQESigner[:]) {
		t.Errorf("shipped QE MRSIGNER %x, pinned %x", got, intelQESigner)
	}
}

func TestMeasurementText(t *testing.T) {
	m := Measurement{MRTD: Register{0xab}, RTMR2: Register{47: 0x01}}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Measurement
	if err := json.Unmarshal(b, &back); err != nil || back != m {
		t.Fatalf("round trip %s: %v, %v", b, back, err)
	}
	if _, err := ParseRegister("abcd"); err == nil {
		t.Error("ParseRegister accepted 2 bytes")
	}
	if _, err := ParseRegister(m.MRTD.String()[:94] + "zz"); err == nil {
		t.Error("ParseRegister accepted non-hex")
	}
}
