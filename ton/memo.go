package ton

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// A deposit memo is "c1-<user id>-<check>": the version prefix, the ledger's
// user id and four base32 characters of a SHA-256 checksum, so a mistyped memo
// is refused instead of crediting somebody else. The checksum is not a
// secret; it only catches typos.
const (
	memoPrefix    = "c1-"
	memoCheckLen  = 4
	maxMemoUserID = 64
)

// checkAlphabet is Crockford-style base32 without i, l, o and u.
const checkAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

var (
	ErrMemoEmpty    = errors.New("memo is empty")
	ErrMemoFormat   = errors.New("memo is not a Cocoon deposit memo")
	ErrMemoChecksum = errors.New("memo checksum does not match (typo?)")
	ErrMemoUserID   = errors.New("user id cannot be put in a memo")
)

// Memo returns the deposit memo of user.
func Memo(user string) (string, error) {
	if err := checkMemoUser(user); err != nil {
		return "", err
	}
	return memoPrefix + user + "-" + memoCheck(user), nil
}

// ParseMemo returns the user id of a deposit memo. Surrounding white space,
// an upper-case prefix and upper-case or look-alike checksum characters
// (O for 0, I or L for 1) are accepted; anything else is refused with
// ErrMemoEmpty, ErrMemoFormat or ErrMemoChecksum.
func ParseMemo(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ErrMemoEmpty
	}
	if len(s) > len(memoPrefix)+maxMemoUserID+1+memoCheckLen {
		return "", fmt.Errorf("%w: %.40q… is too long", ErrMemoFormat, s)
	}
	if !strings.EqualFold(s[:min(len(s), len(memoPrefix))], memoPrefix) {
		return "", fmt.Errorf("%w: %q does not start with %q", ErrMemoFormat, s, memoPrefix)
	}
	rest := s[len(memoPrefix):]
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return "", fmt.Errorf("%w: %q has no checksum", ErrMemoFormat, s)
	}
	user, check := rest[:i], rest[i+1:]
	if err := checkMemoUser(user); err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrMemoFormat, s, err)
	}
	if len(check) != memoCheckLen {
		return "", fmt.Errorf("%w: %q: checksum must be %d characters", ErrMemoFormat, s, memoCheckLen)
	}
	if normalizeCheck(check) != memoCheck(user) {
		return "", fmt.Errorf("%w: %q", ErrMemoChecksum, s)
	}
	return user, nil
}

// checkMemoUser allows 1–64 characters of A–Z, a–z, 0–9 and ":_.-".
func checkMemoUser(user string) error {
	if user == "" || len(user) > maxMemoUserID {
		return fmt.Errorf("%w: length must be 1..%d", ErrMemoUserID, maxMemoUserID)
	}
	for i := 0; i < len(user); i++ {
		c := user[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(":_.-", c) >= 0) {
			return fmt.Errorf("%w: character %q", ErrMemoUserID, c)
		}
	}
	return nil
}

func memoCheck(user string) string {
	sum := sha256.Sum256([]byte("cocoon/memo/v1:" + user))
	v := binary.BigEndian.Uint32(sum[:4]) >> (32 - 5*memoCheckLen)
	var b [memoCheckLen]byte
	for i := memoCheckLen - 1; i >= 0; i-- {
		b[i] = checkAlphabet[v&31]
		v >>= 5
	}
	return string(b[:])
}

func normalizeCheck(s string) string {
	return strings.NewReplacer("o", "0", "i", "1", "l", "1").Replace(strings.ToLower(s))
}
