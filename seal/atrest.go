package seal

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// AtRest encrypts records stored outside the trust boundary (the bot's chat
// history in Redis) under one 32-byte key. It is safe for concurrent use.
//
// Record layout, version 1: version (0x01) || 24-byte random nonce ||
// XChaCha20-Poly1305(key, nonce, plaintext, "cocoon-at-rest-v1" || 0x00 || aad).
// Pass the record's storage key name as aad so a record cannot be moved to
// another key.
type AtRest struct{ aead cipher.AEAD }

// NewAtRest returns an AtRest using key.
func NewAtRest(key [32]byte) *AtRest {
	c, _ := chacha20poly1305.NewX(key[:])
	return &AtRest{c}
}

func atRestAAD(aad []byte) []byte { return append([]byte("cocoon-at-rest-v1\x00"), aad...) }

// Encrypt seals plaintext bound to aad.
func (a *AtRest) Encrypt(plaintext, aad []byte) []byte {
	out := make([]byte, chunkHeader, chunkHeader+len(plaintext)+chacha20poly1305.Overhead)
	out[0] = Version
	rand.Read(out[1:chunkHeader])
	return a.aead.Seal(out, out[1:chunkHeader], plaintext, atRestAAD(aad))
}

// Decrypt opens a record written by Encrypt with the same aad.
// It returns ErrMalformed or ErrAuth (wrapped).
func (a *AtRest) Decrypt(record, aad []byte) ([]byte, error) {
	if len(record) < chunkHeader+chacha20poly1305.Overhead || record[0] != Version {
		return nil, fmt.Errorf("%w: at-rest record", ErrMalformed)
	}
	pt, err := a.aead.Open(nil, record[1:chunkHeader], record[chunkHeader:], atRestAAD(aad))
	if err != nil {
		return nil, fmt.Errorf("%w: at-rest record", ErrAuth)
	}
	return pt, nil
}
