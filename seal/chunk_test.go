package seal

import (
	"bytes"
	"errors"
	"testing"
)

var secret = bytes.Repeat([]byte{7}, 32)

func TestJobKey(t *testing.T) {
	if JobKey(secret, "job-1") != JobKey(bytes.Clone(secret), "job-1") {
		t.Fatal("JobKey is not deterministic")
	}
	if JobKey(secret, "job-1") == JobKey(secret, "job-2") {
		t.Fatal("two jobs share a key")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("short secret accepted")
		}
	}()
	JobKey(secret[:MinSecretSize-1], "job-1")
}

func TestChunk(t *testing.T) {
	key := JobKey(secret, "job-1")
	c := SealChunk(key, "job-1", 4, []byte("Hello"))
	if c2 := SealChunk(key, "job-1", 4, []byte("Hello")); bytes.Equal(c, c2) {
		t.Fatal("nonce reused for the same seq")
	}
	flip := bytes.Clone(c)
	flip[len(flip)-1] ^= 1
	tests := []struct {
		name    string
		key     [32]byte
		job     string
		seq     uint64
		chunk   []byte
		wantErr error
	}{
		{"ok", key, "job-1", 4, c, nil},
		{"other seq", key, "job-1", 5, c, ErrAuth},
		{"other job", key, "job-2", 4, c, ErrAuth},
		{"wrong key", JobKey(secret, "job-2"), "job-1", 4, c, ErrAuth},
		{"tampered", key, "job-1", 4, flip, ErrAuth},
		{"truncated", key, "job-1", 4, c[:chunkHeader+15], ErrMalformed},
		{"version", key, "job-1", 4, append([]byte{2}, c[1:]...), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OpenChunk(tt.key, tt.job, tt.seq, tt.chunk)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("OpenChunk err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && string(got) != "Hello" {
				t.Fatalf("OpenChunk = %q", got)
			}
		})
	}
}

func TestAtRest(t *testing.T) {
	a := NewAtRest([32]byte{1})
	rec := a.Encrypt([]byte("history"), []byte("cocoon:bot:history:42"))
	if got, err := a.Decrypt(rec, []byte("cocoon:bot:history:42")); err != nil || string(got) != "history" {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
	flip := bytes.Clone(rec)
	flip[chunkHeader] ^= 1
	tests := []struct {
		name    string
		a       *AtRest
		rec     []byte
		aad     string
		wantErr error
	}{
		{"other key name", a, rec, "cocoon:bot:history:43", ErrAuth},
		{"wrong key", NewAtRest([32]byte{2}), rec, "cocoon:bot:history:42", ErrAuth},
		{"tampered", a, flip, "cocoon:bot:history:42", ErrAuth},
		{"truncated", a, rec[:10], "cocoon:bot:history:42", ErrMalformed},
	}
	for _, tt := range tests {
		if _, err := tt.a.Decrypt(tt.rec, []byte(tt.aad)); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: Decrypt err = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}
