package attest

import (
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"time"
)

// Policy says which quotes Verify accepts. The zero value is usable and
// strict, but accepts nothing until Allow lists a measurement.
type Policy struct {
	// TrustedRoots anchors the PCK certificate chain. Nil means the pinned
	// Intel SGX Root CA (IntelRoots). Tests pass a throwaway root here.
	TrustedRoots *x509.CertPool
	// Allow lists the accepted measurements; a quote must equal one entry in
	// all four registers. Empty accepts no quote.
	Allow []Measurement
	// QESigner pins the MRSIGNER of the quoting enclave. Zero means
	// IntelQESigner.
	QESigner [32]byte
	// AllowDebug accepts TDs with a debug (TUD) attribute set. Never in
	// production: the host can read a debug TD's memory.
	AllowDebug bool
	// AllowInsecureDev makes VerifyEvidence accept EvidenceInsecureDev.
	AllowInsecureDev bool
	// Getter fetches collateral (TCB info, QE identity, CRLs). Nil means
	// offline: only the quote and its certificate chain are checked, and
	// Report.TCBStatus is TCBUnknown. Use NewCachingGetter: the library's
	// getter otherwise runs on every verification.
	Getter Getter
	// Now is the clock used for certificate and collateral validity. Nil
	// means time.Now.
	Now func() time.Time
}

// Getter fetches a URL, returning response headers and body. It has the
// method set of the TDX library's HTTPS getter, so either fits.
type Getter interface {
	Get(url string) (header map[string][]string, body []byte, err error)
}

//go:embed intel_sgx_root_ca.pem
var intelRootPEM []byte

// intelRootSHA256 pins the embedded root: SHA-256 of its DER encoding.
const intelRootSHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

var intelRoots = mustPool(intelRootPEM)

// IntelRoots returns a pool holding only the Intel SGX Root CA, which
// anchors every genuine PCK certificate chain (valid to 2049-12-31).
func IntelRoots() *x509.CertPool { return intelRoots.Clone() }

// IntelRootPEM returns the pinned Intel SGX Root CA certificate in PEM.
func IntelRootPEM() []byte { return append([]byte(nil), intelRootPEM...) }

// intelQESigner is the MRSIGNER of Intel's TDX quoting enclave, as found in
// genuine quotes (and in the quote shipped with the TDX library).
var intelQESigner = [32]byte{
	0xdc, 0x9e, 0x2a, 0x7c, 0x6f, 0x94, 0x8f, 0x17, 0x47, 0x4e, 0x34, 0xa7, 0xfc, 0x43, 0xed, 0x03,
	0x0f, 0x7c, 0x15, 0x63, 0xf1, 0xba, 0xbd, 0xdf, 0x63, 0x40, 0xc8, 0x2e, 0x0e, 0x54, 0xa8, 0xc5,
}

// IntelQESigner returns the MRSIGNER of Intel's quoting enclave, the default
// for Policy.QESigner.
func IntelQESigner() [32]byte { return intelQESigner }

func mustPool(pemBytes []byte) *x509.CertPool {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		panic("attest: embedded root is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		panic("attest: embedded root: " + err.Error())
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func (p *Policy) roots() *x509.CertPool {
	if p.TrustedRoots != nil {
		return p.TrustedRoots
	}
	return intelRoots
}

func (p *Policy) qeSigner() [32]byte {
	if p.QESigner == ([32]byte{}) {
		return intelQESigner
	}
	return p.QESigner
}

func (p *Policy) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Policy) allowed(m Measurement) bool {
	for _, a := range p.Allow {
		if a == m {
			return true
		}
	}
	return false
}
