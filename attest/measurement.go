package attest

import (
	"encoding/hex"
	"fmt"
)

// Register is a 48-byte TDX measurement register (MRTD or an RTMR). It reads
// and writes as lowercase hex in JSON, TOML and flags.
type Register [48]byte

// String returns the register as lowercase hex.
func (r Register) String() string { return hex.EncodeToString(r[:]) }

// MarshalText implements encoding.TextMarshaler.
func (r Register) MarshalText() ([]byte, error) {
	return []byte(r.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler; it wants exactly 96 hex
// digits.
func (r *Register) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(r) {
		return fmt.Errorf("attest: register must be %d hex digits, got %d", 2*len(r), len(b))
	}
	_, err := hex.Decode(r[:], b)
	return err
}

// ParseRegister decodes a register from 96 hex digits.
func ParseRegister(s string) (Register, error) {
	var r Register
	err := r.UnmarshalText([]byte(s))
	return r, err
}

// Measurement is the part of a TD's identity the allowlist pins: MRTD (the
// initial TD image: firmware) and RTMR0-2 (firmware configuration, kernel
// and command line, as extended at boot). RTMR3 is left to the OS at run
// time and is not pinned.
type Measurement struct {
	MRTD  Register `json:"mrtd" toml:"mrtd"`
	RTMR0 Register `json:"rtmr0" toml:"rtmr0"`
	RTMR1 Register `json:"rtmr1" toml:"rtmr1"`
	RTMR2 Register `json:"rtmr2" toml:"rtmr2"`
}

// String returns the four registers as "mrtd=… rtmr0=… rtmr1=… rtmr2=…".
func (m Measurement) String() string {
	return fmt.Sprintf("mrtd=%s rtmr0=%s rtmr1=%s rtmr2=%s", m.MRTD, m.RTMR0, m.RTMR1, m.RTMR2)
}
