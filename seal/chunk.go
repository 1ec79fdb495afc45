package seal

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// MinSecretSize is the shortest submitter secret JobKey accepts.
const MinSecretSize = 16

// JobKey derives the 32-byte key that protects a job's answer chunks:
// HKDF-SHA256(secret = submitterSecret, salt = none,
// info = "cocoon-job-key-v1" || 0x00 || jobID). A submitter that restarts
// with the same secret derives the same key. The submitter puts the key inside
// the sealed request so every eligible worker, including a failover worker
// reading the streamed prefix, can seal and open the job's chunks.
// It panics if submitterSecret is shorter than MinSecretSize.
func JobKey(submitterSecret []byte, jobID string) [32]byte {
	if len(submitterSecret) < MinSecretSize {
		panic(fmt.Sprintf("seal: submitter secret is %d bytes, want at least %d", len(submitterSecret), MinSecretSize))
	}
	k, err := hkdf.Key(sha256.New, submitterSecret, nil, "cocoon-job-key-v1\x00"+jobID, 32)
	if err != nil {
		panic("seal: job key: " + err.Error())
	}
	return [32]byte(k)
}

// Sealed chunk layout, version 1:
//
//	off  size  field
//	0    1     version = 0x01
//	1    24    nonce, random (never derived from seq: after a failover two
//	           workers may seal different text for the same seq)
//	25   rest  XChaCha20-Poly1305(key, nonce, text, aad), at least 16 bytes
//
// aad = version (1 byte) || uint16 len(jobID) || jobID || uint64 seq, big-endian,
// so a chunk cannot be replayed into another job or position.
const chunkHeader = 1 + chacha20poly1305.NonceSizeX

func chunkAAD(jobID string, seq uint64) []byte {
	b := make([]byte, 0, 11+len(jobID))
	b = append(b, Version)
	b = binary.BigEndian.AppendUint16(b, uint16(len(jobID)))
	b = append(b, jobID...)
	return binary.BigEndian.AppendUint64(b, seq)
}

// SealChunk encrypts text as chunk seq of job jobID. It panics if jobID is
// longer than 65535 bytes.
func SealChunk(key [32]byte, jobID string, seq uint64, text []byte) []byte {
	if len(jobID) > 0xffff {
		panic("seal: job id too long")
	}
	c, _ := chacha20poly1305.NewX(key[:])
	out := make([]byte, chunkHeader, chunkHeader+len(text)+chacha20poly1305.Overhead)
	out[0] = Version
	rand.Read(out[1:chunkHeader])
	return c.Seal(out, out[1:chunkHeader], text, chunkAAD(jobID, seq))
}

// OpenChunk decrypts a chunk sealed by SealChunk for the same job and seq.
// It returns ErrMalformed or ErrAuth (wrapped).
func OpenChunk(key [32]byte, jobID string, seq uint64, sealed []byte) ([]byte, error) {
	if len(sealed) < chunkHeader+chacha20poly1305.Overhead || sealed[0] != Version {
		return nil, fmt.Errorf("%w: chunk", ErrMalformed)
	}
	if len(jobID) > 0xffff {
		return nil, fmt.Errorf("%w: chunk: job id too long", ErrAuth)
	}
	c, _ := chacha20poly1305.NewX(key[:])
	text, err := c.Open(nil, sealed[1:chunkHeader], sealed[chunkHeader:], chunkAAD(jobID, seq))
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d of job %q", ErrAuth, seq, jobID)
	}
	return text, nil
}
