package attest_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"

	"github.com/cocoon-network/cocoon/attest"
)

func vectorClaims() attest.Claims {
	var nonce [32]byte
	for i := range nonce {
		nonce[i] = byte(i)
	}
	return attest.Claims{
		Domain:     "cocoon-join:test",
		Nonce:      nonce,
		SigningKey: ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey),
		HPKEKey:    []byte{0xde, 0xad, 0xbe, 0xef},
		Models: []attest.ModelDigest{
			{Name: "qwen3:0.6b", Digest: "sha256:2222"},
			{Name: "llama3.2:1b", Digest: "sha256:1111"},
		},
	}
}

// TestReportDataVector pins the version 1 encoding (the test vector for
// docs/protocol.md). An independent implementation of the documented layout
// (Python: struct.pack(">I", len(b)) + b per field, hashlib.sha512) gives the
// same value. Changing the encoding means a new version tag, not a new vector.
func TestReportDataVector(t *testing.T) {
	const want = "06d56b3434fdab74fb1deba598640d29378e984a7bccb1d777e8a9863fb892b9" +
		"28e64f508c5486251913c686b256f9f8af540f2a09cad30a790b394662a27df2"
	got := attest.ReportData(vectorClaims())
	if hex.EncodeToString(got[:]) != want {
		t.Errorf("ReportData(vector) = %x\nwant %s", got, want)
	}
}

func TestReportDataBindsEveryField(t *testing.T) {
	base := vectorClaims()
	ref := attest.ReportData(base)

	swapped := vectorClaims()
	swapped.Models[0], swapped.Models[1] = swapped.Models[1], swapped.Models[0]
	if attest.ReportData(swapped) != ref {
		t.Error("model order changes ReportData")
	}
	if base.Models[0].Name != "qwen3:0.6b" {
		t.Error("ReportData reordered the caller's models")
	}

	otherKey := ed25519.NewKeyFromSeed(append([]byte{1}, make([]byte, 31)...)).Public().(ed25519.PublicKey)
	changes := map[string]func(*attest.Claims){
		"domain":         func(c *attest.Claims) { c.Domain = "cocoon-join:prod" },
		"nonce":          func(c *attest.Claims) { c.Nonce[31] ^= 1 },
		"signing key":    func(c *attest.Claims) { c.SigningKey = otherKey },
		"hpke key":       func(c *attest.Claims) { c.HPKEKey = []byte{0xde, 0xad, 0xbe, 0xee} },
		"model digest":   func(c *attest.Claims) { c.Models[0].Digest = "sha256:3333" },
		"model name":     func(c *attest.Claims) { c.Models[1].Name = "llama3.2:3b" },
		"model dropped":  func(c *attest.Claims) { c.Models = c.Models[:1] },
		"model added":    func(c *attest.Claims) { c.Models = append(c.Models, attest.ModelDigest{Name: "x"}) },
		"no models":      func(c *attest.Claims) { c.Models = nil },
		"bytes shifted":  func(c *attest.Claims) { c.Domain += "\xde"; c.HPKEKey = c.HPKEKey[1:] },
		"name to digest": func(c *attest.Claims) { c.Models[0] = attest.ModelDigest{Name: "qwen3:0.6bsha256:", Digest: "2222"} },
	}
	for name, change := range changes {
		c := vectorClaims()
		change(&c)
		if attest.ReportData(c) == ref {
			t.Errorf("changing the %s leaves ReportData unchanged", name)
		}
	}
}

func TestNewNonce(t *testing.T) {
	a, b := attest.NewNonce(), attest.NewNonce()
	if a == b || a == ([32]byte{}) {
		t.Errorf("NewNonce() = %x, %x", a, b)
	}
}
