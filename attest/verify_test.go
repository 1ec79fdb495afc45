package attest_test

import (
	"crypto/ed25519"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/attest/attesttest"
)

// Offsets into a v4 quote, for tampering.
const (
	offMRTD       = 0x30 + 0x88
	offReportData = 0x30 + 0x208
	offSignature  = 0x27c
	offQEReport   = 0x27c + 0x80 + 6
	offQEMRSigner = offQEReport + 0x80
)

func shippedPolicy() attest.Policy {
	return attest.Policy{
		Allow: []attest.Measurement{attesttest.ShippedMeasurement()},
		Now:   func() time.Time { return attesttest.ShippedValidAt },
	}
}

func flip(quote []byte, off int) []byte {
	q := append([]byte(nil), quote...)
	q[off] ^= 0x01
	return q
}

func claims(seed byte) attest.Claims {
	key := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	if seed != 0 {
		s := make([]byte, 32)
		s[0] = seed
		key = ed25519.NewKeyFromSeed(s).Public().(ed25519.PublicKey)
	}
	return attest.Claims{
		Domain:     "cocoon-join:test",
		Nonce:      [32]byte{1, 2, 3},
		SigningKey: key,
		HPKEKey:    []byte("hpke-public-key"),
		Models:     []attest.ModelDigest{{Name: "qwen3:0.6b", Digest: "sha256:abc"}},
	}
}

func TestShippedQuoteVerifies(t *testing.T) {
	p := shippedPolicy()
	r, err := p.Verify(attesttest.ShippedQuote(), attesttest.ShippedReportData())
	if err != nil {
		t.Fatalf("Verify(shipped quote) = %v", err)
	}
	if r.Measurement != attesttest.ShippedMeasurement() {
		t.Errorf("Report.Measurement = %v", r.Measurement)
	}
	if r.TCBStatus != attest.TCBUnknown {
		t.Errorf("offline TCBStatus = %q, want %q", r.TCBStatus, attest.TCBUnknown)
	}
	if want := "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb"; r.Measurement.MRTD.String() != want {
		t.Errorf("MRTD = %s, want %s", r.Measurement.MRTD, want)
	}
	if len(r.QuoteSHA256) != 64 || r.QESigner != "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5" {
		t.Errorf("Report = %+v", r)
	}
}

func TestShippedQuoteRejected(t *testing.T) {
	pki := attesttest.MustNew(t)
	shipped := attesttest.ShippedQuote()
	rd := attesttest.ShippedReportData()
	other := shippedPolicy()
	other.Allow = []attest.Measurement{{MRTD: attest.Register{1}}}
	partial := shippedPolicy()
	m := attesttest.ShippedMeasurement()
	m.RTMR1[0] ^= 1
	partial.Allow = []attest.Measurement{m}
	expired := shippedPolicy()
	expired.Now = func() time.Time { return time.Date(2029, 9, 21, 0, 0, 0, 0, time.UTC) }
	notYet := shippedPolicy()
	notYet.Now = func() time.Time { return time.Date(2022, 9, 1, 0, 0, 0, 0, time.UTC) }
	foreignRoot := shippedPolicy()
	foreignRoot.TrustedRoots = pki.Roots
	wrongSigner := shippedPolicy()
	wrongSigner.QESigner = [32]byte{1}
	emptyAllow := shippedPolicy()
	emptyAllow.Allow = nil

	tamperedRD := append([]byte(nil), shipped...)
	want := attest.ReportData(claims(1))
	copy(tamperedRD[offReportData:], want[:])

	tests := []struct {
		name    string
		policy  attest.Policy
		quote   []byte
		want    [64]byte
		wantErr error
	}{
		{"tampered REPORTDATA", shippedPolicy(), tamperedRD, want, attest.ErrSignature},
		{"tampered MRTD", shippedPolicy(), flip(shipped, offMRTD), rd, attest.ErrSignature},
		{"tampered signature", shippedPolicy(), flip(shipped, offSignature+5), rd, attest.ErrSignature},
		{"tampered QE report", shippedPolicy(), flip(shipped, offQEMRSigner), rd, attest.ErrQEReport},
		{"truncated", shippedPolicy(), shipped[:len(shipped)/2], rd, attest.ErrMalformed},
		{"truncated chain", shippedPolicy(), shipped[:len(shipped)-100], rd, attest.ErrMalformed},
		{"empty", shippedPolicy(), nil, rd, attest.ErrMalformed},
		{"non-Intel root", foreignRoot, shipped, rd, attest.ErrChain},
		{"expired certificate", expired, shipped, rd, attest.ErrCertExpired},
		{"not yet valid", notYet, shipped, rd, attest.ErrCertExpired},
		{"REPORTDATA of other claims", shippedPolicy(), shipped, attest.ReportData(claims(0)), attest.ErrReportData},
		{"measurement not allowed", other, shipped, rd, attest.ErrMeasurement},
		{"one register differs", partial, shipped, rd, attest.ErrMeasurement},
		{"empty allowlist", emptyAllow, shipped, rd, attest.ErrMeasurement},
		{"QE signer not pinned", wrongSigner, shipped, rd, attest.ErrQEIdentity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.policy.Verify(tt.quote, tt.want)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify() = %v, %v; want %v", r, err, tt.wantErr)
			}
			if r != nil {
				t.Errorf("Verify() returned a report with an error")
			}
		})
	}
}

func TestResignedQuotes(t *testing.T) {
	pki := attesttest.MustNew(t)
	c := claims(0)
	rd := attest.ReportData(c)
	custom := attest.Measurement{MRTD: attest.Register{0xaa}, RTMR0: attest.Register{0xbb}, RTMR1: attest.Register{0xcc}, RTMR2: attest.Register{0xdd}}
	otherQE := [32]byte{0x42}

	mustQuote := func(o attesttest.QuoteOptions) []byte {
		t.Helper()
		q, err := pki.Quote(o)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	plain := mustQuote(attesttest.QuoteOptions{ReportData: rd})
	debug := mustQuote(attesttest.QuoteOptions{ReportData: rd, Debug: true})
	measured := mustQuote(attesttest.QuoteOptions{ReportData: rd, Measurement: &custom})
	foreignQE := mustQuote(attesttest.QuoteOptions{ReportData: rd, QESigner: &otherQE})
	sgxQE := mustQuote(attesttest.QuoteOptions{ReportData: rd, QEProdID: 1})
	debugQE := mustQuote(attesttest.QuoteOptions{ReportData: rd, QEDebug: true})

	test := pki.Policy()
	testDebug := pki.Policy()
	testDebug.AllowDebug = true
	testCustom := pki.Policy(custom)
	testQE := pki.Policy()
	testQE.QESigner = otherQE
	prod := attest.Policy{Allow: []attest.Measurement{attesttest.ShippedMeasurement(), custom}}

	tests := []struct {
		name    string
		policy  attest.Policy
		quote   []byte
		want    [64]byte
		wantErr error
	}{
		{"accepted under test root", test, plain, rd, nil},
		{"production root rejects", prod, plain, rd, attest.ErrChain},
		{"production root rejects custom measurement", prod, measured, rd, attest.ErrChain},
		{"bound to another key", test, plain, attest.ReportData(claims(1)), attest.ErrReportData},
		{"debug TD", test, debug, rd, attest.ErrDebugTD},
		{"debug TD allowed", testDebug, debug, rd, nil},
		{"custom measurement not allowed", test, measured, rd, attest.ErrMeasurement},
		{"custom measurement allowed", testCustom, measured, rd, nil},
		{"QE signer not Intel", test, foreignQE, rd, attest.ErrQEIdentity},
		{"QE signer pinned", testQE, foreignQE, rd, nil},
		{"not the TD QE", test, sgxQE, rd, attest.ErrQEIdentity},
		{"debug QE", test, debugQE, rd, attest.ErrQEIdentity},
		{"tampered REPORTDATA", test, flip(plain, offReportData), rd, attest.ErrSignature},
		{"tampered QE report", test, flip(plain, offQEReport+1), rd, attest.ErrQEReport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.policy.Verify(tt.quote, tt.want)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Verify() = %v; want %v", err, tt.wantErr)
			}
			if err == nil && r.ReportData == "" {
				t.Errorf("accepted without a report")
			}
		})
	}
}

func TestVerifyEvidence(t *testing.T) {
	pki := attesttest.MustNew(t)
	c := claims(0)
	tdx, err := attest.NewEvidence(pki.Quoter(attesttest.QuoteOptions{}), c)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := attest.NewEvidence(attest.DevQuoter{}, c)
	if err != nil {
		t.Fatal(err)
	}
	if tdx.Type != attest.EvidenceTDX || dev.Type != attest.EvidenceInsecureDev {
		t.Fatalf("types %q, %q", tdx.Type, dev.Type)
	}
	strict := pki.Policy()
	lax := pki.Policy()
	lax.AllowInsecureDev = true

	tests := []struct {
		name     string
		policy   attest.Policy
		ev       attest.Evidence
		claims   attest.Claims
		wantErr  error
		insecure bool
	}{
		{"tdx", strict, tdx, c, nil, false},
		{"tdx other claims", strict, tdx, claims(1), attest.ErrReportData, false},
		{"dev refused", strict, dev, c, attest.ErrInsecureDev, false},
		{"dev allowed", lax, dev, c, nil, true},
		{"dev other claims", lax, dev, claims(1), attest.ErrReportData, false},
		{"unknown type", lax, attest.Evidence{Type: "sev-snp", Quote: tdx.Quote}, c, attest.ErrEvidenceType, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.policy.VerifyClaims(tt.ev, tt.claims)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("VerifyClaims() = %v; want %v", err, tt.wantErr)
			}
			if err == nil && r.Insecure != tt.insecure {
				t.Errorf("Insecure = %v, want %v", r.Insecure, tt.insecure)
			}
		})
	}
}

// One Policy shared by many goroutines (run with -race): Verify must build
// fresh library options per call.
func TestVerifyConcurrent(t *testing.T) {
	pki := attesttest.MustNew(t)
	p := pki.Policy()
	quotes := make([][]byte, 4)
	wants := make([][64]byte, 4)
	for i := range quotes {
		wants[i] = attest.ReportData(claims(byte(i)))
		q, err := pki.Quote(attesttest.QuoteOptions{ReportData: wants[i]})
		if err != nil {
			t.Fatal(err)
		}
		quotes[i] = q
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				k := (g + i) % len(quotes)
				if _, err := p.Verify(quotes[k], wants[k]); err != nil {
					t.Error(err)
				}
				if _, err := p.Verify(quotes[k], wants[(k+1)%len(quotes)]); !errors.Is(err, attest.ErrReportData) {
					t.Errorf("cross-check: %v", err)
				}
			}
		})
	}
	wg.Wait()
}
