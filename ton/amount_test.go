package ton

import (
	"errors"
	"math"
	"testing"
)

func TestParseAmount(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64 // 0: refused
	}{
		{"1", NanoPerTON},
		{"2.5", 2_500_000_000},
		{" 0.000000001 ", 1},
		{".5", 500_000_000},
		{"9223372036.854775807", math.MaxInt64},
		{"9223372036.854775808", 0},
		{"9223372037", 0},
		{"99999999999999999999999", 0},
		{"0", 0},
		{"0.000000000", 0},
		{"-1", 0},
		{"+1", 0},
		{"1.0000000001", 0},
		{"1e9", 0},
		{"1,5", 0},
		{"1.", 0},
		{".", 0},
		{"", 0},
		{"abc", 0},
		{"0x10", 0},
		{"1 000", 0},
	} {
		got, err := ParseAmount(tt.in)
		if tt.want == 0 {
			if !errors.Is(err, ErrAmount) || got != 0 {
				t.Errorf("ParseAmount(%q) = %d, %v; want ErrAmount", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1: "0.000000001", NanoPerTON: "1", 2_500_000_000: "2.5", -1_500_000_000: "-1.5", math.MaxInt64: "9223372036.854775807", math.MinInt64: "-9223372036.854775808"} {
		if got := FormatAmount(n); got != want {
			t.Errorf("FormatAmount(%d) = %q, want %q", n, got, want)
		}
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1", "2.5", "0.000000001", "9223372036.854775807", "-1", "1e9", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseAmount(s)
		if err != nil {
			if !errors.Is(err, ErrAmount) || n != 0 {
				t.Fatalf("ParseAmount(%q) = %d, %v", s, n, err)
			}
			return
		}
		if n <= 0 {
			t.Fatalf("ParseAmount(%q) = %d", s, n)
		}
		if back, err := ParseAmount(FormatAmount(n)); err != nil || back != n {
			t.Fatalf("round trip of %d via %q: %d, %v", n, FormatAmount(n), back, err)
		}
	})
}
