package ton

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// NanoPerTON is the number of nanoTON in one TON.
const NanoPerTON = 1_000_000_000

// ErrAmount reports an amount that is not a positive number of nanoTON
// representable in an int64.
var ErrAmount = errors.New("invalid TON amount")

// ParseAmount parses a positive decimal TON amount ("1", "2.5", "0.000000001")
// into nanoTON. Negative, zero, more than nine decimals, exponents, signs and
// values above math.MaxInt64 nanoTON are refused with ErrAmount.
func ParseAmount(s string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" && frac == "" || !digits(whole) || !digits(frac) || dot && frac == "" {
		return 0, fmt.Errorf("%w: %.30q is not a decimal number of TON", ErrAmount, s)
	}
	if len(frac) > 9 {
		return 0, fmt.Errorf("%w: %.30q has more than 9 decimals (1 nanoTON is the smallest unit)", ErrAmount, s)
	}
	var w, f uint64
	var err error
	if whole != "" {
		if w, err = strconv.ParseUint(whole, 10, 64); err != nil || w > math.MaxInt64/NanoPerTON {
			return 0, fmt.Errorf("%w: %.30q is too large", ErrAmount, s)
		}
	}
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	n := w*NanoPerTON + f
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("%w: %.30q is too large", ErrAmount, s)
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: amount must be above zero", ErrAmount)
	}
	return int64(n), nil
}

// FormatAmount renders nanoTON as a decimal TON amount without trailing zeros.
func FormatAmount(nano int64) string {
	sign := ""
	u := uint64(nano)
	if nano < 0 {
		sign, u = "-", uint64(-(nano+1))+1
	}
	s := strconv.FormatUint(u/NanoPerTON, 10)
	if f := u % NanoPerTON; f != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%09d", f), "0")
	}
	return sign + s
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
