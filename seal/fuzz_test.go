package seal

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// fuzzKey is fixed so the committed corpus (testdata/fuzz/FuzzOpen) holds
// messages genuinely sealed to it.
func fuzzKey(t testing.TB) *PrivateKey {
	k, err := ParsePrivateKey(bytes.Repeat([]byte{0x42}, PrivateKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func FuzzOpen(f *testing.F) {
	priv := fuzzKey(f)
	sealed, _, err := Seal([]byte("seed"), []byte("job"), []Recipient{{"w", priv.PublicKey().Bytes()}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, []byte("job"))
	f.Add(sealed[:prefixLen+1], []byte("job"))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, b, aad []byte) {
		_, err := Open(b, aad, "w", priv)
		switch {
		case err == nil:
			if ids, err := RecipientIDs(b); err != nil || !slices.Contains(ids, "w") {
				t.Fatalf("Open succeeded but RecipientIDs = %v, %v", ids, err)
			}
		case !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotRecipient) && !errors.Is(err, ErrAuth):
			t.Fatalf("Open error %v is not one of the sentinels", err)
		}
	})
}
