package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// testInvalidInput: every refused operation says why and leaves the ledger untouched.
func testInvalidInput(t *testing.T, e *env) {
	ctx := context.Background()
	l := e.l
	// A ledger with something in every kind of key.
	e.credit("u", "tx", 1_000)
	l.Credit(ctx, "u", "esc", SourceEscrow, 1_000)
	e.reserve("u", "j0", 500)
	e.settle(settlement("u", "j0", 400, 100))
	e.apply("u")
	e.reserve("u", "j1", 300)
	e.reserve("u", "j2", 50)
	if _, err := l.Release(ctx, "u", "j2"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReservePayout(ctx, "w1", "p1", 100); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReservePayout(ctx, "w1", "p2", 100); err != nil {
		t.Fatal(err)
	}
	if _, err := l.FailPayout(ctx, "w1", "p2"); err != nil {
		t.Fatal(err)
	}
	before := e.dump()
	e.check()

	long := strings.Repeat("x", MaxIDLen+1)
	many := make([]Segment, MaxSegments+1)
	for i := range many {
		many[i] = Segment{WorkerID: "w1", Amount: 1}
	}
	tests := []struct {
		name    string
		op      func() error
		wantErr error
		wantMsg string
	}{
		{"credit negative", func() error { _, err := l.Credit(ctx, "u", "t1", SourceTON, -5); return err }, ErrInvalidAmount, "must be positive"},
		{"credit zero", func() error { _, err := l.Credit(ctx, "u", "t1", SourceTON, 0); return err }, ErrInvalidAmount, "must be positive"},
		{"credit above max", func() error { _, err := l.Credit(ctx, "u", "t1", SourceTON, MaxAmount+1); return err }, ErrInvalidAmount, "limit"},
		{"credit overflows balance", func() error {
			for i := 0; i < 9; i++ { // up to MaxCounter exactly
				if _, err := l.Credit(ctx, "big", "t"+string(rune('a'+i)), SourceTON, MaxAmount); err != nil {
					return err
				}
			}
			full := e.dump()
			_, err := l.Credit(ctx, "big", "tz", SourceTON, 1)
			e.sameDump(full, "overflowing credit")
			return err
		}, ErrOverflow, "overflow"},
		{"credit empty user", func() error { _, err := l.Credit(ctx, "", "t1", SourceTON, 5); return err }, ErrInvalidID, "user is empty"},
		{"credit user with brace", func() error { _, err := l.Credit(ctx, "a}b", "t1", SourceTON, 5); return err }, ErrInvalidID, "forbidden"},
		{"credit user with space", func() error { _, err := l.Credit(ctx, "a b", "t1", SourceTON, 5); return err }, ErrInvalidID, "forbidden"},
		{"credit user with glob", func() error { _, err := l.Credit(ctx, "a*", "t1", SourceTON, 5); return err }, ErrInvalidID, "forbidden"},
		{"credit long user", func() error { _, err := l.Credit(ctx, long, "t1", SourceTON, 5); return err }, ErrInvalidID, "at most"},
		{"credit empty op id", func() error { _, err := l.Credit(ctx, "u", "", SourceTON, 5); return err }, ErrInvalidID, "op id is empty"},
		{"credit op id with pipe", func() error { _, err := l.Credit(ctx, "u", "a|b", SourceTON, 5); return err }, ErrInvalidID, "forbidden"},
		{"credit unknown source", func() error { _, err := l.Credit(ctx, "u", "t1", Source("btc"), 5); return err }, ErrInvalidSource, "btc"},
		{"trial under another op id", func() error { _, err := l.Credit(ctx, "u", "trial2", SourceTrial, 5); return err }, ErrInvalidID, "trial"},
		{"replayed tx, other amount", func() error { _, err := l.Credit(ctx, "u", "tx", SourceTON, 999); return err }, ErrConflict, "was 1000"},
		{"trial zero", func() error { _, err := l.GrantTrial(ctx, "u", 0); return err }, ErrInvalidAmount, ""},
		{"trial negative", func() error { _, err := l.GrantTrial(ctx, "u", -1); return err }, ErrInvalidAmount, ""},

		{"reserve zero", func() error { _, err := l.Reserve(ctx, "u", "j9", 0); return err }, ErrInvalidAmount, ""},
		{"reserve negative", func() error { _, err := l.Reserve(ctx, "u", "j9", -1); return err }, ErrInvalidAmount, ""},
		{"reserve above max", func() error { _, err := l.Reserve(ctx, "u", "j9", MaxAmount+1); return err }, ErrInvalidAmount, ""},
		{"reserve bad job id", func() error { _, err := l.Reserve(ctx, "u", "j[1]", 1); return err }, ErrInvalidID, "job id"},
		{"reserve insufficient", func() error { _, err := l.Reserve(ctx, "u", "j9", 1_000_000); return err }, ErrInsufficientBalance, "available 1200"},
		{"reserve unknown user", func() error { _, err := l.Reserve(ctx, "nobody", "j9", 1); return err }, ErrInsufficientBalance, "available 0"},
		{"reserve again, other amount", func() error { _, err := l.Reserve(ctx, "u", "j1", 301); return err }, ErrConflict, ""},

		{"settle zero charge", func() error { _, err := l.Settle(ctx, settlement("u", "j1", 0, 0)); return err }, ErrInvalidAmount, "released, not settled"},
		{"settle charge != parts", func() error {
			s := settlement("u", "j1", 100, 10)
			s.Charge = 111
			_, err := l.Settle(ctx, s)
			return err
		}, ErrInvalidSettlement, "!= segments + operator"},
		{"settle negative operator", func() error {
			s := settlement("u", "j1", 100, 0)
			s.Operator, s.Charge = -10, 90
			_, err := l.Settle(ctx, s)
			return err
		}, ErrInvalidAmount, "operator"},
		{"settle zero segment", func() error {
			s := settlement("u", "j1", 0, 10)
			s.Segments = []Segment{{WorkerID: "w1", Amount: 0}}
			_, err := l.Settle(ctx, s)
			return err
		}, ErrInvalidAmount, "segment 0"},
		{"settle bad worker id", func() error {
			s := settlement("u", "j1", 10, 0)
			s.Segments[0].WorkerID = "w{1}"
			_, err := l.Settle(ctx, s)
			return err
		}, ErrInvalidID, "worker id"},
		{"settle overflowing segments", func() error {
			s := settlement("u", "j1", 0, 0)
			s.Segments = []Segment{{"w1", MaxAmount}, {"w2", MaxAmount}}
			s.Charge = 2 * MaxAmount
			_, err := l.Settle(ctx, s)
			return err
		}, ErrInvalidAmount, "charge"},
		{"settle too many segments", func() error {
			s := settlement("u", "j1", 0, 0)
			s.Segments, s.Charge = many, int64(len(many))
			_, err := l.Settle(ctx, s)
			return err
		}, ErrInvalidSettlement, "segments"},
		{"settle negative tokens", func() error {
			s := settlement("u", "j1", 10, 0)
			s.CompletionTokens = -1
			_, err := l.Settle(ctx, s)
			return err
		}, ErrInvalidSettlement, "token"},
		{"settle bad model", func() error {
			s := settlement("u", "j1", 10, 0)
			s.Model = "tiny latest"
			_, err := l.Settle(ctx, s)
			return err
		}, ErrInvalidID, "model"},
		{"settle above reservation", func() error { _, err := l.Settle(ctx, settlement("u", "j1", 301, 0)); return err }, ErrChargeExceedsReservation, "reserved 300"},
		{"settle unreserved job", func() error { _, err := l.Settle(ctx, settlement("u", "j9", 1, 0)); return err }, ErrNoReservation, ""},
		{"settle released job", func() error { _, err := l.Settle(ctx, settlement("u", "j2", 1, 0)); return err }, ErrJobClosed, "released"},
		{"settle again, other amounts", func() error { _, err := l.Settle(ctx, settlement("u", "j0", 300, 200)); return err }, ErrConflict, ""},

		{"release unreserved job", func() error { _, err := l.Release(ctx, "u", "j9"); return err }, ErrNoReservation, ""},
		{"release settled job", func() error { _, err := l.Release(ctx, "u", "j0"); return err }, ErrJobClosed, "settled"},
		{"release bad user", func() error { _, err := l.Release(ctx, "", "j1"); return err }, ErrInvalidID, ""},

		{"payout zero", func() error { _, err := l.ReservePayout(ctx, "w1", "p9", 0); return err }, ErrInvalidAmount, ""},
		{"payout negative", func() error { _, err := l.ReservePayout(ctx, "w1", "p9", -3); return err }, ErrInvalidAmount, ""},
		{"payout above earnings", func() error { _, err := l.ReservePayout(ctx, "w1", "p9", 301); return err }, ErrInsufficientEarnings, "unpaid 300"},
		{"payout bad worker", func() error { _, err := l.ReservePayout(ctx, "w 1", "p9", 1); return err }, ErrInvalidID, ""},
		{"payout again, other amount", func() error { _, err := l.ReservePayout(ctx, "w1", "p1", 7); return err }, ErrConflict, ""},
		{"confirm unknown payout", func() error { _, err := l.ConfirmPayout(ctx, "w1", "p9"); return err }, ErrUnknownPayout, ""},
		{"confirm failed payout", func() error { _, err := l.ConfirmPayout(ctx, "w1", "p2"); return err }, ErrPayoutClosed, "failed"},
		{"fail unknown payout", func() error { _, err := l.FailPayout(ctx, "w1", "p9"); return err }, ErrUnknownPayout, ""},

		{"escrow refund zero", func() error { _, err := l.EscrowRefund(ctx, "u", "r1", 0); return err }, ErrInvalidAmount, ""},
		{"escrow refund above deposits", func() error { _, err := l.EscrowRefund(ctx, "u", "r1", 1_001); return err }, ErrInvalidAmount, "escrow deposits"},
		{"escrow refund above balance", func() error { _, err := l.EscrowRefund(ctx, "u", "r1", 1_201); return err }, ErrInsufficientBalance, ""},
		{"apply outbox bad user", func() error { _, err := l.ApplyOutbox(ctx, "a?"); return err }, ErrInvalidID, ""},
	}
	for _, tt := range tests {
		err := tt.op()
		if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("%s: err = %v, want %v containing %q", tt.name, err, tt.wantErr, tt.wantMsg)
		}
		if tt.name == "credit overflows balance" {
			l.rdb.Del(ctx, keyBalance("big"), keyOps("big"), keyUserTotals("big"))
		}
		e.sameDump(before, tt.name)
	}
	var ib *InsufficientBalanceError
	_, err := l.Reserve(ctx, "u", "j9", 1_250)
	if !errors.As(err, &ib) || ib.Balance != 1_200 || ib.Needed != 1_250 || ib.User != "u" {
		t.Fatalf("typed insufficient balance: %#v", err)
	}
	e.sameDump(before, "insufficient reserve")
}
