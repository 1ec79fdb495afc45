package ledger

import (
	"fmt"
	"math/big"
	"math/bits"
)

const (
	// CoefOne is a per-worker price coefficient of 1.0× (Cocoon's convention:
	// coefficients are thousandths).
	CoefOne int64 = 1000
	// MaxCoef bounds a price coefficient (100×).
	MaxCoef int64 = 100 * CoefOne
	// MaxCommissionBP is a commission of 100% in basis points.
	MaxCommissionBP int64 = 10_000
)

// Price is a model's price in nanoTON per 1,000 tokens.
type Price struct {
	PromptPer1K     int64
	CompletionPer1K int64
}

// Validate checks both prices are in 0..MaxAmount and not both zero.
func (p Price) Validate() error {
	if p.PromptPer1K < 0 || p.PromptPer1K > MaxAmount || p.CompletionPer1K < 0 || p.CompletionPer1K > MaxAmount {
		return fmt.Errorf("%w: price %d/%d out of range 0..%d nanoTON per 1K tokens", ErrInvalidAmount, p.PromptPer1K, p.CompletionPer1K, MaxAmount)
	}
	if p.PromptPer1K == 0 && p.CompletionPer1K == 0 {
		return fmt.Errorf("%w: price 0/0 (a model must cost something)", ErrInvalidAmount)
	}
	return nil
}

// price computes ceil((prompt×PromptPer1K + completion×CompletionPer1K) × coef / 10^6)
// with one rounding, so it is monotone in every argument.
func (p Price) price(prompt, completion, coef int64) (int64, error) {
	if err := p.Validate(); err != nil {
		return 0, err
	}
	if prompt < 0 || completion < 0 {
		return 0, fmt.Errorf("%w: negative token count %d/%d", ErrInvalidAmount, prompt, completion)
	}
	if coef < 1 || coef > MaxCoef {
		return 0, fmt.Errorf("%w: price coefficient %d out of range 1..%d", ErrInvalidAmount, coef, MaxCoef)
	}
	s := new(big.Int).Mul(big.NewInt(prompt), big.NewInt(p.PromptPer1K))
	s.Add(s, new(big.Int).Mul(big.NewInt(completion), big.NewInt(p.CompletionPer1K)))
	s.Mul(s, big.NewInt(coef))
	d := big.NewInt(1000 * CoefOne)
	s.Add(s, new(big.Int).Sub(d, big.NewInt(1)))
	s.Quo(s, d)
	if !s.IsInt64() || s.Int64() > MaxAmount {
		return 0, fmt.Errorf("%w: %d prompt + %d completion tokens at %d/%d ×%d/%d overflows %d nanoTON",
			ErrInvalidAmount, prompt, completion, p.PromptPer1K, p.CompletionPer1K, coef, CoefOne, MaxAmount)
	}
	return s.Int64(), nil
}

// Cost is what promptTokens and completionTokens cost on a worker with price
// coefficient coef (CoefOne = 1.0×), rounded up to a whole nanoTON.
func (p Price) Cost(promptTokens, completionTokens, coef int64) (int64, error) {
	return p.price(promptTokens, completionTokens, coef)
}

// ReserveAmount is what to reserve before a job whose prompt is promptBytes
// long and which may generate maxTokens, on workers up to the user's maximum
// coefficient maxCoef. The broker cannot count prompt tokens, and every token
// is at least one byte, so promptBytes bounds them; the result is never below
// the Cost of the job at any coefficient up to maxCoef.
func (p Price) ReserveAmount(promptBytes, maxTokens, maxCoef int64) (int64, error) {
	n, err := p.price(promptBytes, maxTokens, maxCoef)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: nothing to reserve for %d prompt bytes and %d max tokens", ErrInvalidAmount, promptBytes, maxTokens)
	}
	return n, nil
}

// Split divides a charge between the worker and the operator's commission
// (basis points, rounded down so the worker keeps the odd nanoTON).
func Split(charge, commissionBP int64) (worker, operator int64, err error) {
	if charge < 0 || charge > MaxAmount {
		return 0, 0, fmt.Errorf("%w: charge %d out of range 0..%d", ErrInvalidAmount, charge, MaxAmount)
	}
	if commissionBP < 0 || commissionBP > MaxCommissionBP {
		return 0, 0, fmt.Errorf("%w: commission %d bp out of range 0..%d", ErrInvalidAmount, commissionBP, MaxCommissionBP)
	}
	hi, lo := bits.Mul64(uint64(charge), uint64(commissionBP))
	q, _ := bits.Div64(hi, lo, uint64(MaxCommissionBP))
	return charge - int64(q), int64(q), nil
}

// SegmentUsage is the part of a job one worker served: the tokens the user
// received from it, its coefficient, and whether it finished and signed.
type SegmentUsage struct {
	WorkerID         string
	PromptTokens     int64
	CompletionTokens int64
	Coef             int64 // the worker's price coefficient (CoefOne = 1.0×)
	Signed           bool  // false: the worker died mid-segment; its share goes to the operator
}

// NewSettlement prices a job's segments into a Settlement: the user pays
// every segment; a signed segment pays its worker the charge minus the
// commission; an unsigned (dead worker's) segment pays the operator all of it.
// It fails with ErrInvalidAmount when the job costs nothing (release it instead).
func NewSettlement(user, jobID, model string, price Price, commissionBP int64, segs []SegmentUsage) (Settlement, error) {
	s := Settlement{User: user, JobID: jobID, Model: model}
	for i, g := range segs {
		cost, err := price.Cost(g.PromptTokens, g.CompletionTokens, g.Coef)
		if err != nil {
			return Settlement{}, fmt.Errorf("segment %d: %w", i, err)
		}
		w, op, err := Split(cost, commissionBP)
		if err != nil {
			return Settlement{}, err
		}
		if !g.Signed {
			w, op = 0, cost
		}
		var ok1, ok2, ok3, ok4 bool
		s.Charge, ok1 = addChecked(s.Charge, cost)
		s.Operator, ok2 = addChecked(s.Operator, op)
		s.PromptTokens, ok3 = addChecked(s.PromptTokens, g.PromptTokens)
		s.CompletionTokens, ok4 = addChecked(s.CompletionTokens, g.CompletionTokens)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return Settlement{}, fmt.Errorf("%w: segments overflow", ErrInvalidAmount)
		}
		if w > 0 {
			s.Segments = append(s.Segments, Segment{WorkerID: g.WorkerID, Amount: w})
		}
	}
	if s.Charge == 0 {
		return Settlement{}, fmt.Errorf("%w: job %s costs nothing: release it instead", ErrInvalidAmount, jobID)
	}
	return s, s.validate()
}
