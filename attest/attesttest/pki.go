// Package attesttest re-signs the real TDX quote shipped with the TDX library
// under a throwaway certificate chain, so tests can exercise the accept path
// of attest.Policy.Verify with a REPORTDATA (and measurements) of their
// choosing. The production Intel root rejects every quote made here.
package attesttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/google/go-tdx-guest/pcs"
)

// The TDX library checks these subject names on a PCK chain, so the test
// chain must use them too; the organization says what it really is.
const (
	rootCN         = "Intel SGX Root CA"
	intermediateCN = "Intel SGX PCK Platform CA"
	leafCN         = "Intel SGX PCK Certificate"
	testOrg        = "Cocoon TEST ONLY - not Intel"
)

var (
	notBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter  = time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC)
)

// PKI is a throwaway root → intermediate → PCK leaf chain with the Intel PCK
// certificate profile.
type PKI struct {
	// Roots holds only this PKI's root: pass it as Policy.TrustedRoots.
	Roots *x509.CertPool
	// Root, Intermediate and Leaf are the chain's certificates.
	Root, Intermediate, Leaf *x509.Certificate

	leafKey  *ecdsa.PrivateKey
	chainPEM []byte
}

// New makes a fresh PKI: three new P-256 keys, certificates valid from 2020
// to 2099. The leaf carries the SGX extension of the shipped quote's PCK
// certificate (FMSPC and TCB levels), which the library parses.
func New() (*PKI, error) {
	shipped, err := shippedLeaf()
	if err != nil {
		return nil, err
	}
	var sgxExt []byte
	for _, e := range shipped.Extensions {
		if e.Id.Equal(pcs.OidSgxExtension) {
			sgxExt = e.Value
		}
	}
	if sgxExt == nil {
		return nil, errors.New("attesttest: shipped PCK certificate has no SGX extension")
	}

	rootKey, interKey, leafKey := newKey(), newKey(), newKey()
	root, err := issue(&x509.Certificate{
		Subject:               name(rootCN),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}, nil, rootKey, rootKey)
	if err != nil {
		return nil, err
	}
	inter, err := issue(&x509.Certificate{
		Subject:               name(intermediateCN),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, root, rootKey, interKey)
	if err != nil {
		return nil, err
	}
	// Six extensions, like a real PCK certificate: authority and subject key
	// IDs, CRL distribution point, key usage, basic constraints, SGX.
	leaf, err := issue(&x509.Certificate{
		Subject:               name(leafCN),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		SubjectKeyId:          []byte("cocoon-test-pck"),
		CRLDistributionPoints: []string{"http://cocoon-test.invalid/pck.crl"},
		ExtraExtensions:       []pkix.Extension{{Id: pcs.OidSgxExtension, Value: sgxExt}},
	}, inter, interKey, leafKey)
	if err != nil {
		return nil, err
	}

	p := &PKI{Roots: x509.NewCertPool(), Root: root, Intermediate: inter, Leaf: leaf, leafKey: leafKey}
	p.Roots.AddCert(root)
	for _, c := range []*x509.Certificate{leaf, inter, root} {
		p.chainPEM = append(p.chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return p, nil
}

// MustNew is New for tests: it fails tb on error.
func MustNew(tb testing.TB) *PKI {
	tb.Helper()
	p, err := New()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func name(cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{testOrg}}
}

func newKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // cannot fail with crypto/rand
	}
	return k
}

func issue(tmpl, parent *x509.Certificate, parentKey, key *ecdsa.PrivateKey) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
	tmpl.SignatureAlgorithm = x509.ECDSAWithSHA256
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, fmt.Errorf("attesttest: issue %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}
