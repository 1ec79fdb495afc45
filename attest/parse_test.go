package attest

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-tdx-guest/testing/testdata"
)

// The TDX library panics on a quote whose signed-data size is 0; checkLayout
// catches it, and decode alone must turn the panic into ErrMalformed.
func TestDecodeRecoversLibraryPanic(t *testing.T) {
	q := append([]byte(nil), testdata.RawQuote...)
	binary.LittleEndian.PutUint32(q[offSignedDataSize:], 0)
	if _, err := decode(q); !errors.Is(err, ErrMalformed) {
		t.Fatalf("decode = %v, want ErrMalformed", err)
	}
	if err := checkLayout(q); err == nil {
		t.Fatal("checkLayout accepted signed data size 0")
	}
	if err := checkLayout(testdata.RawQuote); err != nil {
		t.Fatalf("checkLayout(shipped) = %v", err)
	}
}
