package ledger

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestCost(t *testing.T) {
	p := Price{PromptPer1K: 1_000, CompletionPer1K: 3_000}
	tests := []struct {
		name               string
		price              Price
		prompt, completion int64
		coef               int64
		want               int64
		wantErr            error
	}{
		{"exact", p, 1_000, 1_000, CoefOne, 4_000, nil},
		{"rounds up", p, 1, 0, CoefOne, 1, nil},
		{"rounds up once", p, 1, 1, CoefOne, 4, nil},
		{"coefficient 1.5", p, 1_000, 0, 1_500, 1_500, nil},
		{"coefficient 0.001", p, 1, 0, 1, 1, nil},
		{"zero tokens", p, 0, 0, CoefOne, 0, nil},
		{"negative tokens", p, -1, 0, CoefOne, 0, ErrInvalidAmount},
		{"zero coefficient", p, 1, 1, 0, 0, ErrInvalidAmount},
		{"coefficient above max", p, 1, 1, MaxCoef + 1, 0, ErrInvalidAmount},
		{"negative price", Price{-1, 1}, 1, 1, CoefOne, 0, ErrInvalidAmount},
		{"free model", Price{0, 0}, 1, 1, CoefOne, 0, ErrInvalidAmount},
		{"overflow", Price{MaxAmount, MaxAmount}, math.MaxInt64, math.MaxInt64, MaxCoef, 0, ErrInvalidAmount},
		{"above MaxAmount", Price{MaxAmount, 0}, 1_001, 0, CoefOne, 0, ErrInvalidAmount},
	}
	for _, tt := range tests {
		got, err := tt.price.Cost(tt.prompt, tt.completion, tt.coef)
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Errorf("%s: Cost = %d, %v; want %d, %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestReserveAmountCoversCost(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20_000; i++ {
		p := Price{PromptPer1K: rng.Int64N(5_000_000), CompletionPer1K: 1 + rng.Int64N(5_000_000)}
		bytes, maxTok, maxCoef := rng.Int64N(100_000), 1+rng.Int64N(8_192), 1+rng.Int64N(3*CoefOne)
		res, err := p.ReserveAmount(bytes, maxTok, maxCoef)
		if err != nil {
			t.Fatalf("ReserveAmount(%v, %d, %d, %d): %v", p, bytes, maxTok, maxCoef, err)
		}
		pt, ct, coef := rng.Int64N(bytes+1), rng.Int64N(maxTok+1), 1+rng.Int64N(maxCoef)
		cost, err := p.Cost(pt, ct, coef)
		if err != nil || cost > res {
			t.Fatalf("Cost(%d,%d,%d)=%d > reserve %d for %v (err %v)", pt, ct, coef, cost, res, p, err)
		}
	}
	if _, err := (Price{0, 1}).ReserveAmount(100, 0, CoefOne); !errors.Is(err, ErrInvalidAmount) {
		t.Fatalf("nothing to reserve: %v", err)
	}
	if _, err := (Price{MaxAmount, MaxAmount}).ReserveAmount(1<<40, 1<<40, CoefOne); !errors.Is(err, ErrInvalidAmount) {
		t.Fatalf("overflowing reserve: %v", err)
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		charge, bp, wantWorker, wantOp int64
		wantErr                        error
	}{
		{1_000, 1_000, 900, 100, nil},
		{999, 1_000, 900, 99, nil}, // commission rounds down
		{1, 5_000, 1, 0, nil},
		{1_000, 0, 1_000, 0, nil},
		{1_000, MaxCommissionBP, 0, 1_000, nil},
		{MaxAmount, 9_999, MaxAmount - MaxAmount/10_000*9_999, MaxAmount / 10_000 * 9_999, nil},
		{1_000, -1, 0, 0, ErrInvalidAmount},
		{1_000, MaxCommissionBP + 1, 0, 0, ErrInvalidAmount},
		{-1, 10, 0, 0, ErrInvalidAmount},
	}
	for _, tt := range tests {
		w, op, err := Split(tt.charge, tt.bp)
		if !errors.Is(err, tt.wantErr) || w != tt.wantWorker || op != tt.wantOp {
			t.Errorf("Split(%d, %d) = %d, %d, %v; want %d, %d, %v", tt.charge, tt.bp, w, op, err, tt.wantWorker, tt.wantOp, tt.wantErr)
		}
	}
}

func TestNewSettlement(t *testing.T) {
	p := Price{PromptPer1K: 1_000, CompletionPer1K: 2_000}
	s, err := NewSettlement("u", "j", "m", p, 2_000, []SegmentUsage{
		{WorkerID: "a", PromptTokens: 500, CompletionTokens: 500, Coef: CoefOne, Signed: true}, // 1500: a 1200, op 300
		{WorkerID: "b", CompletionTokens: 250, Coef: 2 * CoefOne, Signed: false},               // 1000: op
		{WorkerID: "c", CompletionTokens: 1, Coef: CoefOne, Signed: true},                      // 2: c 2, op 0
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Settlement{User: "u", JobID: "j", Model: "m", Charge: 2_502, Operator: 1_300,
		Segments: []Segment{{"a", 1_200}, {"c", 2}}, PromptTokens: 500, CompletionTokens: 751}
	if s.Charge != want.Charge || s.Operator != want.Operator || len(s.Segments) != 2 ||
		s.Segments[0] != want.Segments[0] || s.Segments[1] != want.Segments[1] ||
		s.PromptTokens != want.PromptTokens || s.CompletionTokens != want.CompletionTokens {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
	if _, err := NewSettlement("u", "j", "m", p, 0, []SegmentUsage{{WorkerID: "a", Coef: CoefOne, Signed: true}}); !errors.Is(err, ErrInvalidAmount) {
		t.Fatalf("job that costs nothing: %v", err)
	}
	if _, err := NewSettlement("u", "j", "m", p, 0, []SegmentUsage{{WorkerID: "a", PromptTokens: 1, Coef: 0}}); !errors.Is(err, ErrInvalidAmount) {
		t.Fatalf("zero coefficient: %v", err)
	}
}

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"1", 1, false}, {" 42 ", 42, false}, {"+7", 7, false}, {"1000000000000000000", MaxAmount, false},
		{"0", 0, true}, {"-5", 0, true}, {"1.5", 0, true}, {"1e9", 0, true}, {"", 0, true}, {"abc", 0, true},
		{"1000000000000000001", 0, true}, {"99999999999999999999", 0, true}, {"0x10", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseAmount(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want || (err != nil && !errors.Is(err, ErrInvalidAmount)) {
			t.Errorf("ParseAmount(%q) = %d, %v", tt.in, got, err)
		}
	}
}

func TestFormatTON(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1: "0.000000001", 1_500_000_000: "1.5", -2_000_000_000: "-2",
		math.MinInt64: "-9223372036.854775808", math.MaxInt64: "9223372036.854775807"} {
		if got := FormatTON(n); got != want {
			t.Errorf("FormatTON(%d) = %q, want %q", n, got, want)
		}
	}
}
