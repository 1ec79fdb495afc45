package receipt

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var hex48 = strings.Repeat("ab", 48)

func signed(t *testing.T) (Receipt, ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := Receipt{
		Version: Version, JobID: "job-1", Segment: 1, WorkerID: "worker-1",
		RequestHash: HashRequest([]byte("sealed")), TextHash: HashText("Hello"),
		Model: "tiny", ModelDigest: "sha256:abc", PromptTokens: 12, CompletionTokens: 34,
		QuoteHash:    [32]byte{9},
		Measurements: Measurements{hex48, hex48, hex48, hex48},
		Attested:     true, Time: time.Unix(1700000000, 5e8),
	}
	if err := r.Sign(priv); err != nil {
		t.Fatal(err)
	}
	return r, pub
}

func TestVerify(t *testing.T) {
	r, pub := signed(t)
	if err := r.Verify(pub); err != nil {
		t.Fatal(err)
	}
	if err := CheckSegment(&r, "Hello"); err != nil {
		t.Fatal(err)
	}
	if err := CheckSegment(&r, "Hellp"); !errors.Is(err, ErrTextMismatch) {
		t.Fatalf("CheckSegment(other text) = %v", err)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	for _, k := range []ed25519.PublicKey{other, pub[:31], nil} {
		if err := r.Verify(k); !errors.Is(err, ErrSignature) {
			t.Errorf("Verify(wrong key %d bytes) = %v", len(k), err)
		}
	}
}

func TestInvalid(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	ok := func() Receipt {
		return Receipt{Version: Version, JobID: "j", WorkerID: "w", Time: time.Unix(1, 0),
			Attested: true, QuoteHash: [32]byte{1}, Measurements: Measurements{hex48, hex48, hex48, hex48}}
	}
	tests := []struct {
		name   string
		change func(*Receipt)
	}{
		{"version", func(r *Receipt) { r.Version = 0 }},
		{"no job id", func(r *Receipt) { r.JobID = "" }},
		{"no worker id", func(r *Receipt) { r.WorkerID = "" }},
		{"negative segment", func(r *Receipt) { r.Segment = -1 }},
		{"negative tokens", func(r *Receipt) { r.PromptTokens = -1 }},
		{"no time", func(r *Receipt) { r.Time = time.Time{} }},
		{"uppercase hex", func(r *Receipt) { r.Measurements.MRTD = strings.ToUpper(hex48) }},
		{"short measurement", func(r *Receipt) { r.Measurements.RTMR0 = "abcd" }},
		{"attested, missing measurement", func(r *Receipt) { r.Measurements.RTMR2 = "" }},
		{"attested, no quote hash", func(r *Receipt) { r.QuoteHash = [32]byte{} }},
	}
	for _, tt := range tests {
		r := ok()
		tt.change(&r)
		if err := r.Sign(priv); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Sign = %v, want ErrInvalid", tt.name, err)
		}
	}
	r := ok()
	if err := r.Sign(priv); err != nil {
		t.Fatalf("valid receipt: %v", err)
	}
}

func TestNotAttested(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	r := Receipt{Version: Version, JobID: "j", WorkerID: "dev", Time: time.Now()}
	if err := r.Sign(priv); err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(priv.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	r.Attested = true // no quote or measurements behind it
	if err := r.Verify(priv.Public().(ed25519.PublicKey)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("attested without evidence: %v", err)
	}
}

// TestAnyFieldChangeFails changes every field (and every measurement) in turn.
func TestAnyFieldChangeFails(t *testing.T) {
	changes := map[string]func(*Receipt){
		"Version":            func(r *Receipt) { r.Version = 2 },
		"JobID":              func(r *Receipt) { r.JobID = "job-2" },
		"Segment":            func(r *Receipt) { r.Segment = 2 },
		"WorkerID":           func(r *Receipt) { r.WorkerID = "worker-2" },
		"RequestHash":        func(r *Receipt) { r.RequestHash[31] ^= 1 },
		"TextHash":           func(r *Receipt) { r.TextHash[0] ^= 1 },
		"Model":              func(r *Receipt) { r.Model = "tiny2" },
		"ModelDigest":        func(r *Receipt) { r.ModelDigest = "sha256:abd" },
		"PromptTokens":       func(r *Receipt) { r.PromptTokens++ },
		"CompletionTokens":   func(r *Receipt) { r.CompletionTokens-- },
		"QuoteHash":          func(r *Receipt) { r.QuoteHash[5] ^= 1 },
		"Measurements.MRTD":  func(r *Receipt) { r.Measurements.MRTD = strings.Repeat("cd", 48) },
		"Measurements.RTMR0": func(r *Receipt) { r.Measurements.RTMR0 = strings.Repeat("cd", 48) },
		"Measurements.RTMR1": func(r *Receipt) { r.Measurements.RTMR1 = strings.Repeat("ef", 48) },
		"Measurements.RTMR2": func(r *Receipt) { r.Measurements.RTMR2 = strings.Repeat("01", 48) },
		"Attested":           func(r *Receipt) { r.Attested = false },
		"Time":               func(r *Receipt) { r.Time = r.Time.Add(time.Second) },
		"Signature":          func(r *Receipt) { r.Signature = bytes.Clone(r.Signature); r.Signature[0] ^= 1 },
	}
	for _, name := range fieldNames(reflect.TypeFor[Receipt](), "") {
		if changes[name] == nil {
			t.Errorf("no change for field %s: add one", name)
		}
	}
	base, pub := signed(t)
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			r := base
			change(&r)
			// Version 2 is refused before the signature is checked; every
			// other change is still well-formed, so the signature must catch it.
			want := ErrSignature
			if name == "Version" {
				want = ErrInvalid
			}
			if err := r.Verify(pub); !errors.Is(err, want) {
				t.Fatalf("Verify = %v, want %v", err, want)
			}
		})
	}
}

func fieldNames(typ reflect.Type, prefix string) (names []string) {
	for f := range typ.Fields() {
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
			names = append(names, fieldNames(f.Type, prefix+f.Name+".")...)
			continue
		}
		names = append(names, prefix+f.Name)
	}
	return names
}

func TestJSONRoundTrip(t *testing.T) {
	r, pub := signed(t)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"text_hash":"`, `"time":1700000000`, `"mrtd":"` + hex48} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	var got Receipt
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(pub); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip changed the receipt:\n%+v\n%+v", got, r)
	}
	for _, bad := range []string{
		strings.Replace(string(b), `"text_hash":"`, `"text_hash":"zz`, 1),
		strings.Replace(string(b), `"signature":"`, `"signature":"!`, 1),
	} {
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("Unmarshal accepted %s", bad)
		}
	}
}
