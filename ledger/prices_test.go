package ledger

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePrices(t *testing.T) {
	tests := []struct {
		in      string
		want    Prices
		wantErr string // substring; "" means success
	}{
		{"", Prices{}, ""},
		{"  ", Prices{}, ""},
		{"tiny:latest=100/200", Prices{"tiny:latest": {100, 200}}, ""},
		{"tiny:latest=100/200, llama3 = 1000 / 3000", Prices{"tiny:latest": {100, 200}, "llama3": {1000, 3000}}, ""},
		{"hf.co/org/model:Q4_K_M=0/5", Prices{"hf.co/org/model:Q4_K_M": {0, 5}}, ""},
		{"tiny=1/2,", nil, "entry 2"},
		{"tiny", nil, "no '='"},
		{"=1/2", nil, "model is empty"},
		{"tiny=1", nil, "prompt/completion"},
		{"tiny=1/2/3", nil, "prompt/completion"},
		{"tiny=-1/2", nil, "prompt price"},
		{"tiny=1/x", nil, "completion price"},
		{"tiny=1.5/2", nil, "prompt price"},
		{"tiny=0/0", nil, "must cost something"},
		{"tiny=1/99999999999999999999", nil, "completion price"},
		{"tiny=1/2,tiny=3/4", nil, "priced twice"},
		{"ti ny=1/2", nil, "forbidden"},
		{"a=b=1/2", nil, "prompt price"},
	}
	for _, tt := range tests {
		got, err := ParsePrices(tt.in)
		if tt.wantErr != "" {
			if err == nil || !errors.Is(err, ErrInvalidPrices) || !strings.Contains(err.Error(), tt.wantErr) ||
				!strings.Contains(err.Error(), PricesSetting) {
				t.Errorf("ParsePrices(%q) err = %v, want one naming %s with %q", tt.in, err, PricesSetting, tt.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("ParsePrices(%q) = %v, %v", tt.in, got, err)
			continue
		}
		for m, p := range tt.want {
			if got[m] != p {
				t.Errorf("ParsePrices(%q)[%q] = %v, want %v", tt.in, m, got[m], p)
			}
		}
	}
}

func TestPricesLookup(t *testing.T) {
	ps, err := ParsePrices("tiny:latest=1/2,llama3=3/4,qwen:7b=5/6")
	if err != nil {
		t.Fatal(err)
	}
	for model, want := range map[string]Price{"tiny": {1, 2}, "tiny:latest": {1, 2}, "llama3:latest": {3, 4}, "llama3": {3, 4}, "qwen:7b": {5, 6}} {
		if got, err := ps.Lookup(model); err != nil || got != want {
			t.Errorf("Lookup(%q) = %v, %v", model, got, err)
		}
	}
	for _, model := range []string{"qwen", "qwen:latest", "tiny:7b", ""} {
		if _, err := ps.Lookup(model); !errors.Is(err, ErrUnknownModel) || !strings.Contains(err.Error(), PricesSetting) {
			t.Errorf("Lookup(%q) err = %v", model, err)
		}
	}
	if s := ps.String(); s != "llama3=3/4,qwen:7b=5/6,tiny:latest=1/2" {
		t.Errorf("String() = %q", s)
	}
}

// FuzzParsePrices: the parser never panics; what it accepts is valid and
// survives a round trip through String.
func FuzzParsePrices(f *testing.F) {
	for _, s := range []string{"", "tiny:latest=100/200", "a=1/2,b=3/4", "x=0/1", " m = 5 / 6 ", "a=1/2,", "=", "a=b=1/2", "a=1/2/3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParsePrices(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPrices) {
				t.Fatalf("error %v does not wrap ErrInvalidPrices", err)
			}
			return
		}
		for m, p := range ps {
			if validID("model", m) != nil || p.Validate() != nil {
				t.Fatalf("accepted invalid %q=%v", m, p)
			}
		}
		again, err := ParsePrices(ps.String())
		if err != nil || len(again) != len(ps) {
			t.Fatalf("round trip of %q via %q: %v %v", s, ps.String(), again, err)
		}
		for m, p := range ps {
			if again[m] != p {
				t.Fatalf("round trip changed %q: %v -> %v", m, p, again[m])
			}
		}
	})
}
