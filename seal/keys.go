package seal

import (
	"crypto/hpke"
	"errors"
	"fmt"
)

// Sizes of the marshaled keys of the MLKEM768X25519 (X-Wing) KEM.
const (
	PublicKeySize  = 1216 // ML-KEM-768 encapsulation key (1184) || X25519 point (32)
	PrivateKeySize = 32   // the KEM seed; both halves are expanded from it
	encSize        = 1120 // HPKE encapsulated key: ML-KEM-768 ciphertext (1088) || X25519 point (32)
)

// ErrInvalidKey reports key bytes that do not decode to a valid key.
var ErrInvalidKey = errors.New("seal: invalid key")

// The HPKE suite used for every recipient: X-Wing, HKDF-SHA256, ChaCha20Poly1305.
var (
	kem  = hpke.MLKEM768X25519()
	kdf  = hpke.HKDFSHA256()
	aead = hpke.ChaCha20Poly1305()
)

// PrivateKey is a worker's HPKE decryption key.
type PrivateKey struct{ k hpke.PrivateKey }

// PublicKey is the encryption key a worker publishes (and binds into its
// attestation) so submitters can seal to it.
type PublicKey struct{ k hpke.PublicKey }

// GenerateKey returns a fresh random private key.
func GenerateKey() (*PrivateKey, error) {
	k, err := kem.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("seal: generate key: %w", err)
	}
	return &PrivateKey{k}, nil
}

// ParsePrivateKey decodes a PrivateKeySize-byte seed written by [PrivateKey.Bytes].
func ParsePrivateKey(b []byte) (*PrivateKey, error) {
	if len(b) != PrivateKeySize {
		return nil, fmt.Errorf("%w: private key is %d bytes, want %d", ErrInvalidKey, len(b), PrivateKeySize)
	}
	k, err := kem.NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return &PrivateKey{k}, nil
}

// Bytes returns the PrivateKeySize-byte seed. Keep it secret.
func (p *PrivateKey) Bytes() []byte {
	b, err := p.k.Bytes()
	if err != nil { // only for keys built without a seed, which this package never does
		panic("seal: private key has no seed: " + err.Error())
	}
	return b
}

// PublicKey returns the matching public key.
func (p *PrivateKey) PublicKey() *PublicKey { return &PublicKey{p.k.PublicKey()} }

// ParsePublicKey decodes and validates PublicKeySize bytes written by [PublicKey.Bytes].
func ParsePublicKey(b []byte) (*PublicKey, error) {
	if len(b) != PublicKeySize {
		return nil, fmt.Errorf("%w: public key is %d bytes, want %d", ErrInvalidKey, len(b), PublicKeySize)
	}
	k, err := kem.NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return &PublicKey{k}, nil
}

// Bytes returns the PublicKeySize-byte encoding (ML-KEM-768 key || X25519 point).
func (p *PublicKey) Bytes() []byte { return p.k.Bytes() }
