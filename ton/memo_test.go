package ton

import (
	"errors"
	"strings"
	"testing"
)

func TestMemoRoundTrip(t *testing.T) {
	for _, user := range []string{"tg:42", "tg:9007199254740993", "api:acme-1", "u", "A.b_c-D:9", strings.Repeat("x", 64)} {
		m, err := Memo(user)
		if err != nil {
			t.Fatalf("Memo(%q): %v", user, err)
		}
		if !strings.HasPrefix(m, "c1-"+user+"-") || len(m) != len("c1-")+len(user)+5 {
			t.Errorf("Memo(%q) = %q", user, m)
		}
		got, err := ParseMemo(m)
		if err != nil || got != user {
			t.Errorf("ParseMemo(%q) = %q, %v; want %q", m, got, err, user)
		}
	}
}

func TestMemoRefusesBadUserIDs(t *testing.T) {
	for _, user := range []string{"", "tg 42", "tg/42", "tg:42\n", "тг:42", strings.Repeat("x", 65), "a\x00b"} {
		if m, err := Memo(user); !errors.Is(err, ErrMemoUserID) {
			t.Errorf("Memo(%q) = %q, %v; want ErrMemoUserID", user, m, err)
		}
	}
}

func TestParseMemo(t *testing.T) {
	good := mustMemo("tg:42")
	check := good[len(good)-4:]
	for _, tt := range []struct {
		in      string
		want    string
		wantErr error
	}{
		{in: good, want: "tg:42"},
		{in: "  " + good + "\n", want: "tg:42"},
		{in: "C1-tg:42-" + strings.ToUpper(check), want: "tg:42"},
		{in: "c1-tg:42-" + strings.NewReplacer("0", "o", "1", "l").Replace(check), want: "tg:42"},
		{in: "", wantErr: ErrMemoEmpty},
		{in: " \t\n", wantErr: ErrMemoEmpty},
		{in: mistype(good), wantErr: ErrMemoChecksum},
		{in: "c1-tg:43-" + check, wantErr: ErrMemoChecksum},
		{in: "c1-TG:42-" + check, wantErr: ErrMemoChecksum},
		{in: "c2-tg:42-" + check, wantErr: ErrMemoFormat},
		{in: "tg:42", wantErr: ErrMemoFormat},
		{in: "c1-tg:42", wantErr: ErrMemoFormat},
		{in: "c1-", wantErr: ErrMemoFormat},
		{in: "c1--" + check, wantErr: ErrMemoFormat},
		{in: "c1-tg:42-" + check + "x", wantErr: ErrMemoFormat},
		{in: "c1-tg 42-" + check, wantErr: ErrMemoFormat},
		{in: "c1-tg:42-" + check[:3], wantErr: ErrMemoFormat},
		{in: "c1-" + strings.Repeat("x", 500) + "-abcd", wantErr: ErrMemoFormat},
		{in: "c1-tg:42-\xff\xfe\xfd\xfc", wantErr: ErrMemoChecksum},
		{in: "thanks!", wantErr: ErrMemoFormat},
	} {
		got, err := ParseMemo(tt.in)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) || got != "" {
				t.Errorf("ParseMemo(%q) = %q, %v; want %v", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMemo(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestMemoChecksumCatchesTypos: every single-character substitution in the
// user id of a memo is refused.
func TestMemoChecksumCatchesTypos(t *testing.T) {
	for _, user := range []string{"tg:42", "tg:123456789", "api:acme-1"} {
		m := mustMemo(user)
		for i := len("c1-"); i < len("c1-")+len(user); i++ {
			for _, c := range []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:_.-") {
				if c == m[i] {
					continue
				}
				typo := m[:i] + string(c) + m[i+1:]
				if got, err := ParseMemo(typo); err == nil {
					t.Errorf("typo %q accepted as %q", typo, got)
				}
			}
		}
	}
}

func FuzzParseMemo(f *testing.F) {
	for _, s := range []string{mustMemo("tg:42"), mustMemo("api:acme-1"), "", "c1-", "c1--", "C1-x-0000", "c1-tg:42-oool", "c1-a-b-c-dddd", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		user, err := ParseMemo(s)
		if err != nil {
			if user != "" {
				t.Fatalf("ParseMemo(%q) returned %q with error %v", s, user, err)
			}
			if !errors.Is(err, ErrMemoEmpty) && !errors.Is(err, ErrMemoFormat) && !errors.Is(err, ErrMemoChecksum) {
				t.Fatalf("ParseMemo(%q): error of no known kind: %v", s, err)
			}
			return
		}
		// Whatever parses is a valid user id whose canonical memo parses back.
		m, err := Memo(user)
		if err != nil {
			t.Fatalf("ParseMemo(%q) = %q, which Memo refuses: %v", s, user, err)
		}
		if back, err := ParseMemo(m); err != nil || back != user {
			t.Fatalf("round trip of %q: %q, %v", user, back, err)
		}
		if !strings.EqualFold(strings.TrimSpace(s)[:3], "c1-") {
			t.Fatalf("ParseMemo(%q) accepted a memo without the prefix", s)
		}
	})
}
