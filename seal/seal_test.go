package seal

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
)

type worker struct {
	id   string
	priv *PrivateKey
}

func workers(t testing.TB, n int) ([]worker, []Recipient) {
	t.Helper()
	var ws []worker
	var rs []Recipient
	for i := range n {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("worker-%d", i+1)
		ws = append(ws, worker{id, k})
		rs = append(rs, Recipient{id, k.PublicKey().Bytes()})
	}
	return ws, rs
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ws, rs := workers(t, n)
			msg, aad := []byte("a secret prompt"), []byte("job-1")
			sealed, ck, err := Seal(msg, aad, rs)
			if err != nil {
				t.Fatal(err)
			}
			if len(ck) != 32 || bytes.Contains(sealed, msg) {
				t.Fatalf("content key %d bytes, plaintext visible: %v", len(ck), bytes.Contains(sealed, msg))
			}
			ids, err := RecipientIDs(sealed)
			if err != nil || !slices.Equal(ids, idsOf(rs)) {
				t.Fatalf("RecipientIDs = %v, %v", ids, err)
			}
			for _, w := range ws {
				got, err := Open(sealed, aad, w.id, w.priv)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("%s: Open = %q, %v", w.id, got, err)
				}
			}
		})
	}
}

func idsOf(rs []Recipient) (ids []string) {
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestOpenFails(t *testing.T) {
	ws, rs := workers(t, 3)
	outsider, _ := workers(t, 1)
	aad := []byte("job-1")
	sealed, _, err := Seal([]byte("prompt"), aad, rs)
	if err != nil {
		t.Fatal(err)
	}
	// Offsets into the first entry (id "worker-1", 8 bytes) and the payload.
	enc0, wrapped0 := prefixLen+1+8, prefixLen+1+8+encSize
	entry2 := prefixLen + 2*(1+8+encSize+wrappedLen)
	flip := func(i int) []byte { b := bytes.Clone(sealed); b[i] ^= 1; return b }
	rename := bytes.Clone(sealed)
	copy(rename[prefixLen+1:], "worker-9")
	tests := []struct {
		name    string
		sealed  []byte
		aad     []byte
		id      string
		priv    *PrivateKey
		wantErr error
	}{
		{"outsider key and id", sealed, aad, "outsider", outsider[0].priv, ErrNotRecipient},
		{"outsider key, listed id", sealed, aad, ws[0].id, outsider[0].priv, ErrAuth},
		{"other worker's key", sealed, aad, ws[0].id, ws[1].priv, ErrAuth},
		{"tampered payload", flip(len(sealed) - 1), aad, ws[0].id, ws[0].priv, ErrAuth},
		{"tampered nonce", flip(len(sealed) - 20), aad, ws[0].id, ws[0].priv, ErrAuth},
		{"tampered aad", sealed, []byte("job-2"), ws[0].id, ws[0].priv, ErrAuth},
		{"tampered own enc", flip(enc0 + 5), aad, ws[0].id, ws[0].priv, ErrAuth},
		{"tampered own wrapped key", flip(wrapped0), aad, ws[0].id, ws[0].priv, ErrAuth},
		{"tampered other entry", flip(entry2 + 30), aad, ws[0].id, ws[0].priv, ErrAuth},
		{"renamed entry", rename, aad, "worker-9", ws[0].priv, ErrAuth},
		{"renamed entry, old id", rename, aad, ws[0].id, ws[0].priv, ErrNotRecipient},
		{"version", flip(0), aad, ws[0].id, ws[0].priv, ErrMalformed},
		{"suite", flip(2), aad, ws[0].id, ws[0].priv, ErrMalformed},
		{"truncated", sealed[:len(sealed)-17], aad, ws[0].id, ws[0].priv, ErrMalformed},
		{"empty", nil, aad, ws[0].id, ws[0].priv, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Open(tt.sealed, tt.aad, tt.id, tt.priv)
			if !errors.Is(err, tt.wantErr) || got != nil {
				t.Fatalf("Open = %q, %v; want %v", got, err, tt.wantErr)
			}
		})
	}
}

func TestSealRejects(t *testing.T) {
	_, rs := workers(t, 1)
	bad := []struct {
		name string
		rs   []Recipient
	}{
		{"none", nil},
		{"empty id", []Recipient{{"", rs[0].PublicKey}}},
		{"repeated id", []Recipient{rs[0], rs[0]}},
		{"short key", []Recipient{{"w", rs[0].PublicKey[:100]}}},
	}
	for _, tt := range bad {
		if _, _, err := Seal([]byte("x"), nil, tt.rs); err == nil {
			t.Errorf("%s: Seal succeeded", tt.name)
		}
	}
}

func TestKeys(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParsePrivateKey(k.Bytes())
	if err != nil || !bytes.Equal(k2.PublicKey().Bytes(), k.PublicKey().Bytes()) {
		t.Fatalf("private key round trip: %v", err)
	}
	pub := k.PublicKey().Bytes()
	if len(pub) != PublicKeySize {
		t.Fatalf("public key is %d bytes", len(pub))
	}
	if p, err := ParsePublicKey(pub); err != nil || !bytes.Equal(p.Bytes(), pub) {
		t.Fatalf("public key round trip: %v", err)
	}
	bad := bytes.Repeat([]byte{0xff}, PublicKeySize) // ML-KEM coefficients out of range
	for _, b := range [][]byte{nil, pub[:PublicKeySize-1], append(bytes.Clone(pub), 0), bad} {
		if _, err := ParsePublicKey(b); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParsePublicKey(%d bytes) = %v, want ErrInvalidKey", len(b), err)
		}
	}
	if _, err := ParsePrivateKey(make([]byte, 31)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("ParsePrivateKey(31 bytes) = %v", err)
	}
}

func BenchmarkSealOpen4KiB3Recipients(b *testing.B) {
	ws, rs := workers(b, 3)
	prompt := bytes.Repeat([]byte("p"), 4096)
	aad := []byte("job-bench")
	for b.Loop() {
		sealed, _, err := Seal(prompt, aad, rs)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Open(sealed, aad, ws[2].id, ws[2].priv); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "seal_open_us")
}
