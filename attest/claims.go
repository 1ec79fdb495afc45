package attest

import (
	"cmp"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"hash"
	"slices"
)

// ReportDataVersion is the tag that starts the version 1 REPORTDATA encoding.
// A change to the encoding gets a new tag.
const ReportDataVersion = "cocoon-reportdata-v1"

// ModelDigest names a model a worker serves and the digest of its weights
// (the Ollama manifest digest, e.g. "sha256:…").
type ModelDigest struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// Claims is what a worker's quote vouches for: the keys it holds and the
// models it serves, for one nonce in one domain.
type Claims struct {
	// Domain separates uses and deployments (e.g. "cocoon-join:<broker id>"),
	// so a quote made for one can never be accepted by another.
	Domain string
	// Nonce is the single-use value the verifier issued (NewNonce).
	Nonce [32]byte
	// SigningKey signs receipts and authenticates the worker's session.
	SigningKey ed25519.PublicKey
	// HPKEKey is the worker's HPKE public key as crypto/hpke encodes it
	// (PublicKey.Bytes of an MLKEM768X25519 key); prompts are sealed to it.
	HPKEKey []byte
	// Models lists the models served; order does not matter.
	Models []ModelDigest
}

// ReportData returns the 64 bytes a worker puts into its quote's REPORTDATA
// field: SHA-512 over the version 1 encoding of c.
//
// Encoding, version 1. A "field" is a 4-byte big-endian unsigned length
// followed by that many bytes; fields are concatenated with nothing between:
//
//	field("cocoon-reportdata-v1")   the version tag, 20 bytes
//	field(Domain)                   UTF-8 bytes as given
//	field(Nonce)                    32 bytes
//	field(SigningKey)               Ed25519 public key, 32 bytes
//	field(HPKEKey)                  HPKE public key bytes (MLKEM768X25519: 1216)
//	uint32 big-endian N             number of models
//	N times: field(Name) field(Digest)
//	                                models sorted by Name, then by Digest,
//	                                comparing bytes; duplicates are kept
//
//	REPORTDATA = SHA-512(encoding)  64 bytes, the whole REPORTDATA field
//
// Every variable-length value carries its length, so two different Claims
// never share an encoding; the caller's Models slice is not reordered.
func ReportData(c Claims) [64]byte {
	h := sha512.New()
	writeField(h, []byte(ReportDataVersion))
	writeField(h, []byte(c.Domain))
	writeField(h, c.Nonce[:])
	writeField(h, c.SigningKey)
	writeField(h, c.HPKEKey)

	models := slices.Clone(c.Models)
	slices.SortFunc(models, func(a, b ModelDigest) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Digest, b.Digest))
	})
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(models)))
	h.Write(n[:])
	for _, m := range models {
		writeField(h, []byte(m.Name))
		writeField(h, []byte(m.Digest))
	}

	var out [64]byte
	h.Sum(out[:0])
	return out
}

func writeField(h hash.Hash, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	h.Write(n[:])
	h.Write(b)
}
