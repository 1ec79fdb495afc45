package attest

import "crypto/rand"

// NewNonce returns 32 random bytes for Claims.Nonce. The verifier issues it,
// stores it for single use with a short lifetime, and rebuilds the Claims
// with it when the evidence comes back.
func NewNonce() [32]byte {
	var n [32]byte
	rand.Read(n[:]) // never fails since Go 1.24; crashes the program instead
	return n
}
