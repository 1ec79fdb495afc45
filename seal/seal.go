package seal

import (
	"crypto/hpke"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Version is the first byte of every sealed message, chunk and at-rest record.
const Version = 1

// MaxRecipients bounds the recipient list of one sealed message.
const MaxRecipients = 255

// Errors returned by Open, OpenChunk and AtRest.Decrypt; match with errors.Is.
var (
	ErrMalformed    = errors.New("seal: malformed sealed message")
	ErrNotRecipient = errors.New("seal: not a recipient")
	ErrAuth         = errors.New("seal: authentication failed")
)

// Recipient names a worker and its PublicKeySize-byte HPKE public key.
type Recipient struct {
	ID        string
	PublicKey []byte
}

// Sealed message layout, version 1 (integers big-endian):
//
//	off  size     field
//	0    1        version = 0x01
//	1    2        HPKE KEM id  = 0x647a (MLKEM768X25519)
//	3    2        HPKE KDF id  = 0x0001 (HKDF-SHA256)
//	5    2        HPKE AEAD id = 0x0003 (ChaCha20Poly1305)
//	7    1        n, the number of recipients, 1..255
//	8    ...      n recipient entries, in the order given to Seal:
//	              1     idLen, 1..255
//	              idLen recipient id, unique within the message
//	              1120  enc, the HPKE encapsulated key
//	              48    the 32-byte content key sealed with HPKE (single-shot,
//	                    info = "cocoon-seal-v1" || 0x00 || id, aad = caller aad)
//	     24       payload nonce, random
//	     rest     payload = XChaCha20-Poly1305(content key, nonce, plaintext,
//	              "cocoon-seal-v1" || header || caller aad), at least 16 bytes
//
// header is every byte before the payload (version through nonce), so the
// recipient list cannot be edited without breaking the payload tag for all.
const (
	domain     = "cocoon-seal-v1"
	wrappedLen = 32 + 16
	prefixLen  = 8
)

var suite = [7]byte{Version, 0x64, 0x7a, 0x00, 0x01, 0x00, 0x03}

type entry struct {
	id           string
	enc, wrapped []byte
}

func info(id string) []byte { return append([]byte(domain+"\x00"), id...) }

// Seal encrypts plaintext once under a fresh random content key and seals that
// key to every recipient. aad is authenticated but not encrypted; Open must be
// given the same aad. The content key is returned for callers that need it;
// it is secret and most callers drop it.
func Seal(plaintext, aad []byte, recipients []Recipient) (sealed, contentKey []byte, err error) {
	if len(recipients) == 0 || len(recipients) > MaxRecipients {
		return nil, nil, fmt.Errorf("seal: %d recipients, want 1..%d", len(recipients), MaxRecipients)
	}
	contentKey = make([]byte, chacha20poly1305.KeySize)
	rand.Read(contentKey)
	size := prefixLen + chacha20poly1305.NonceSizeX + len(plaintext) + chacha20poly1305.Overhead
	for _, r := range recipients {
		size += 1 + len(r.ID) + encSize + wrappedLen
	}
	out := append(make([]byte, 0, size), suite[:]...)
	out = append(out, byte(len(recipients)))
	seen := make(map[string]bool, len(recipients))
	for _, r := range recipients {
		if len(r.ID) == 0 || len(r.ID) > 255 || seen[r.ID] {
			return nil, nil, fmt.Errorf("seal: recipient id %q empty, too long or repeated", r.ID)
		}
		seen[r.ID] = true
		pk, err := ParsePublicKey(r.PublicKey)
		if err != nil {
			return nil, nil, fmt.Errorf("seal: recipient %q: %w", r.ID, err)
		}
		enc, s, err := hpke.NewSender(pk.k, kdf, aead, info(r.ID))
		if err != nil {
			return nil, nil, fmt.Errorf("seal: recipient %q: %w", r.ID, err)
		}
		wrapped, err := s.Seal(aad, contentKey)
		if err != nil {
			return nil, nil, fmt.Errorf("seal: recipient %q: %w", r.ID, err)
		}
		out = append(out, byte(len(r.ID)))
		out = append(append(append(out, r.ID...), enc...), wrapped...)
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce)
	out = append(out, nonce...)
	c, _ := chacha20poly1305.NewX(contentKey)
	return c.Seal(out, nonce, plaintext, payloadAAD(out, aad)), contentKey, nil
}

// Open decrypts a message sealed by Seal as recipient myID holding priv.
// It returns ErrMalformed, ErrNotRecipient or ErrAuth (wrapped).
func Open(sealed, aad []byte, myID string, priv *PrivateKey) ([]byte, error) {
	entries, header, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	var me *entry
	for i := range entries {
		if entries[i].id == myID {
			me = &entries[i]
		}
	}
	if me == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotRecipient, myID)
	}
	r, err := hpke.NewRecipient(me.enc, priv.k, kdf, aead, info(myID))
	if err != nil {
		return nil, fmt.Errorf("%w: decapsulate: %v", ErrAuth, err)
	}
	contentKey, err := r.Open(aad, me.wrapped)
	if err != nil || len(contentKey) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("%w: content key", ErrAuth)
	}
	c, _ := chacha20poly1305.NewX(contentKey)
	nonce := header[len(header)-chacha20poly1305.NonceSizeX:]
	pt, err := c.Open(nil, nonce, sealed[len(header):], payloadAAD(header, aad))
	if err != nil {
		return nil, fmt.Errorf("%w: payload", ErrAuth)
	}
	return pt, nil
}

// RecipientIDs lists the recipient ids of a sealed message without decrypting
// it. The list is authenticated only once a recipient has opened the message.
func RecipientIDs(sealed []byte) ([]string, error) {
	entries, _, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.id
	}
	return ids, nil
}

func payloadAAD(header, aad []byte) []byte {
	b := make([]byte, 0, len(domain)+len(header)+len(aad))
	return append(append(append(b, domain...), header...), aad...)
}

// parse splits a sealed message into its recipient entries and header (all
// bytes before the payload ciphertext).
func parse(b []byte) (entries []entry, header []byte, err error) {
	bad := func(what string) ([]entry, []byte, error) {
		return nil, nil, fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	if len(b) < prefixLen {
		return bad("short")
	}
	if [7]byte(b[:7]) != suite {
		return bad("unknown version or suite")
	}
	n, off := int(b[7]), prefixLen
	if n == 0 {
		return bad("no recipients")
	}
	seen := make(map[string]bool, n)
	for range n {
		if off >= len(b) {
			return bad("truncated recipient")
		}
		idLen := int(b[off])
		off++
		if idLen == 0 || len(b)-off < idLen+encSize+wrappedLen {
			return bad("truncated recipient")
		}
		e := entry{id: string(b[off : off+idLen])}
		off += idLen
		e.enc, off = b[off:off+encSize], off+encSize
		e.wrapped, off = b[off:off+wrappedLen], off+wrappedLen
		if seen[e.id] {
			return bad("repeated recipient")
		}
		seen[e.id] = true
		entries = append(entries, e)
	}
	off += chacha20poly1305.NonceSizeX
	if len(b)-off < chacha20poly1305.Overhead {
		return bad("truncated payload")
	}
	return entries, b[:off], nil
}
