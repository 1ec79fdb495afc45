package ledger

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// testIdempotency repeats every operation: the repeat returns the first
// result marked Duplicate and changes nothing.
func testIdempotency(t *testing.T, e *env) {
	ctx := context.Background()
	l := e.l
	e.credit("u", "seed", 10_000)
	e.reserve("u", "jr", 100)
	e.reserve("u", "js", 1_000)
	e.reserve("u", "jx", 700)
	e.settle(settlement("u", "jx", 600, 100))
	e.apply("u")
	e.l.ReservePayout(ctx, "w1", "pc", 10)
	e.l.ReservePayout(ctx, "w1", "pf", 10)
	e.l.Credit(ctx, "u", "esc", SourceEscrow, 500)

	ops := []struct {
		name string
		op   func() (any, error)
	}{
		{"credit ton", func() (any, error) { return l.Credit(ctx, "u", "tx1", SourceTON, 123) }},
		{"credit stars", func() (any, error) { return l.Credit(ctx, "u", "tg_charge_1", SourceStars, 77) }},
		{"credit escrow", func() (any, error) { return l.Credit(ctx, "u", "esc2", SourceEscrow, 5) }},
		{"grant trial", func() (any, error) { return l.GrantTrial(ctx, "u", 50) }},
		{"reserve", func() (any, error) { return l.Reserve(ctx, "u", "j1", 400) }},
		{"settle", func() (any, error) { return l.Settle(ctx, settlement("u", "js", 700, 200)) }},
		{"release", func() (any, error) { return l.Release(ctx, "u", "jr") }},
		{"escrow refund", func() (any, error) { return l.EscrowRefund(ctx, "u", "wd", 300) }},
		{"apply outbox", func() (any, error) { return l.ApplyOutbox(ctx, "u") }},
		{"reserve payout", func() (any, error) { return l.ReservePayout(ctx, "w1", "p1", 100) }},
		{"confirm payout", func() (any, error) { return l.ConfirmPayout(ctx, "w1", "pc") }},
		{"fail payout", func() (any, error) { return l.FailPayout(ctx, "w1", "pf") }},
	}
	for _, o := range ops {
		first, err := o.op()
		if err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		e.check()
		before := e.dump()
		for i := 0; i < 3; i++ {
			again, err := o.op()
			if err != nil {
				t.Fatalf("%s repeated: %v", o.name, err)
			}
			if o.name == "apply outbox" {
				if again.(int) != 0 {
					t.Fatalf("apply outbox repeated moved %v entries", again)
				}
			} else if want := markDup(first); !reflect.DeepEqual(again, want) {
				t.Fatalf("%s repeated = %+v, want %+v", o.name, again, want)
			}
			e.sameDump(before, o.name+" repeated")
		}
	}
}

// markDup returns the receipt a repeat should give: the first, Duplicate set.
func markDup(v any) any {
	switch r := v.(type) {
	case Receipt:
		r.Duplicate = true
		return r
	case SettleReceipt:
		r.Duplicate = true
		return r
	case Payout:
		r.Duplicate = true
		return r
	}
	return v
}

// testConcurrentReserve: 100 concurrent reservations against a balance that
// covers 10 → exactly 10 succeed.
func testConcurrentReserve(t *testing.T, e *env) {
	ctx := context.Background()
	e.credit("u", "tx", 10*1_000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, short := 0, 0
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.l.Reserve(ctx, "u", fmt.Sprintf("job-%d", i), 1_000)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrInsufficientBalance):
				short++
			default:
				t.Errorf("reserve %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if ok != 10 || short != 90 {
		t.Fatalf("%d reserved, %d refused; want 10 and 90", ok, short)
	}
	if b := e.balance("u"); b.Available != 0 || b.Reserved != 10_000 {
		t.Fatalf("balance %+v", b)
	}
}
