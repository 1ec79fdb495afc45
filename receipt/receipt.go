package receipt

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Version is the only receipt version this package signs and verifies.
const Version = 1

// Domain starts the canonical encoding, separating receipt signatures from any
// other use of a worker's signing key.
const Domain = "cocoon-receipt-v1"

// Errors returned by Sign, Verify and CheckSegment; match with errors.Is.
var (
	ErrInvalid      = errors.New("receipt: invalid")
	ErrSignature    = errors.New("receipt: signature does not verify")
	ErrTextMismatch = errors.New("receipt: text does not match the receipt")
)

// Measurements are the TD measurements from the worker's quote, each the
// lowercase hex of 48 bytes. They may be empty only when Attested is false.
type Measurements struct {
	MRTD  string `json:"mrtd"`
	RTMR0 string `json:"rtmr0"`
	RTMR1 string `json:"rtmr1"`
	RTMR2 string `json:"rtmr2"`
}

func (m Measurements) list() []string { return []string{m.MRTD, m.RTMR0, m.RTMR1, m.RTMR2} }

// Receipt is a worker's signed statement about one segment of an answer.
// A segment cut short by the worker's death has none.
type Receipt struct {
	Version          int
	JobID            string
	Segment          int // index within the answer, from 0; each failover starts a new one
	WorkerID         string
	RequestHash      [32]byte // SHA-256 of the sealed request, see HashRequest
	TextHash         [32]byte // SHA-256 of the segment's plaintext, see HashText
	Model            string
	ModelDigest      string // the Ollama model digest
	PromptTokens     int
	CompletionTokens int
	QuoteHash        [32]byte // SHA-256 of the worker's TDX quote; zero if not attested
	Measurements     Measurements
	Attested         bool      // false for insecure-dev workers: show "not attested"
	Time             time.Time // signed at one-second resolution
	Signature        []byte    // Ed25519 over Canonical()
}

// HashRequest returns the RequestHash of a sealed request.
func HashRequest(sealed []byte) [32]byte { return sha256.Sum256(sealed) }

// HashText returns the TextHash of a segment's text.
func HashText(text string) [32]byte { return sha256.Sum256([]byte(text)) }

// Validate reports (wrapping ErrInvalid) a receipt this package would refuse
// to sign or verify.
func (r *Receipt) Validate() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: "+f, append([]any{ErrInvalid}, a...)...) }
	switch {
	case r.Version != Version:
		return bad("version %d, want %d", r.Version, Version)
	case r.JobID == "" || r.WorkerID == "":
		return bad("empty job or worker id")
	case r.Segment < 0 || r.PromptTokens < 0 || r.CompletionTokens < 0:
		return bad("negative segment or token count")
	case r.Time.IsZero():
		return bad("no time")
	}
	for _, m := range r.Measurements.list() {
		if m == "" && !r.Attested {
			continue
		}
		if b, err := hex.DecodeString(m); err != nil || len(b) != 48 || hex.EncodeToString(b) != m {
			return bad("measurement %q is not 48 bytes of lowercase hex", m)
		}
	}
	if r.Attested && r.QuoteHash == [32]byte{} {
		return bad("attested without a quote hash")
	}
	return nil
}

// Canonical returns the bytes the signature covers. Integers are big-endian;
// str is a uint32 byte length followed by the bytes:
//
//	Domain            17 bytes, "cocoon-receipt-v1"
//	Version           uint32
//	JobID             str
//	Segment           uint64
//	WorkerID          str
//	RequestHash       32 bytes
//	TextHash          32 bytes
//	Model             str
//	ModelDigest       str
//	PromptTokens      uint64
//	CompletionTokens  uint64
//	QuoteHash         32 bytes
//	MRTD, RTMR0, RTMR1, RTMR2  str each (lowercase hex text, or empty)
//	Attested          1 byte, 0x00 or 0x01
//	Time              int64, Unix seconds
func (r *Receipt) Canonical() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	b := append(make([]byte, 0, 512), Domain...)
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(r.Version))
	str(r.JobID)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Segment))
	str(r.WorkerID)
	b = append(append(b, r.RequestHash[:]...), r.TextHash[:]...)
	str(r.Model)
	str(r.ModelDigest)
	b = binary.BigEndian.AppendUint64(b, uint64(r.PromptTokens))
	b = binary.BigEndian.AppendUint64(b, uint64(r.CompletionTokens))
	b = append(b, r.QuoteHash[:]...)
	for _, m := range r.Measurements.list() {
		str(m)
	}
	attested := byte(0)
	if r.Attested {
		attested = 1
	}
	b = append(b, attested)
	return binary.BigEndian.AppendUint64(b, uint64(r.Time.Unix())), nil
}

// Sign truncates Time to the second (UTC) and sets Signature.
func (r *Receipt) Sign(priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("receipt: sign: private key is %d bytes", len(priv))
	}
	r.Time = time.Unix(r.Time.Unix(), 0).UTC()
	msg, err := r.Canonical()
	if err != nil {
		return err
	}
	r.Signature = ed25519.Sign(priv, msg)
	return nil
}

// Verify checks the receipt is valid and signed by pub, the worker's attested
// signing key. It does not check the quote or measurements against a policy.
func (r *Receipt) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes", ErrSignature, len(pub))
	}
	msg, err := r.Canonical()
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, msg, r.Signature) {
		return fmt.Errorf("%w: job %q segment %d worker %q", ErrSignature, r.JobID, r.Segment, r.WorkerID)
	}
	return nil
}

// CheckSegment reports whether text is the segment r covers (its TextHash).
// It does not check the signature: call Verify too.
func CheckSegment(r *Receipt, text string) error {
	if HashText(text) != r.TextHash {
		return fmt.Errorf("%w: job %q segment %d", ErrTextMismatch, r.JobID, r.Segment)
	}
	return nil
}
