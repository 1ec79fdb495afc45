package ton

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// fakeLedger is an in-memory Ledger, idempotent by opID like the real one.
type fakeLedger struct {
	mu       sync.Mutex
	balance  map[string]int64
	ops      map[string]string // opID → user
	calls    map[string]int    // Credit calls per opID
	failNext int               // make the next n Credit calls fail
}

func newFakeLedger() *fakeLedger {
	return &fakeLedger{balance: map[string]int64{}, ops: map[string]string{}, calls: map[string]int{}}
}

func (l *fakeLedger) Credit(_ context.Context, user, opID, source string, amount int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[opID]++
	if l.failNext > 0 {
		l.failNext--
		return errors.New("ledger unavailable")
	}
	if source != CreditSource || amount <= 0 {
		return fmt.Errorf("bad credit %s %d", source, amount)
	}
	if u, ok := l.ops[opID]; ok {
		if u != user {
			return fmt.Errorf("op %s credited to %s, now %s", opID, u, user)
		}
		return nil
	}
	l.ops[opID] = user
	l.balance[user] += amount
	return nil
}

func (l *fakeLedger) snapshot() (map[string]int64, map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, c := map[string]int64{}, map[string]int{}
	for k, v := range l.balance {
		b[k] = v
	}
	for k, v := range l.calls {
		c[k] = v
	}
	return b, c
}

// fakePayoutLedger is an in-memory PayoutLedger and DueSource.
type fakePayoutLedger struct {
	mu       sync.Mutex
	earnings map[string]int64
	addr     map[string]string // worker → payout address
	payouts  map[string]*fakePayout
	refuse   map[string]bool // workers whose reservations fail
}

type fakePayout struct {
	worker string
	amount int64
	state  string // reserved | confirmed | failed
}

func newFakePayoutLedger() *fakePayoutLedger {
	return &fakePayoutLedger{earnings: map[string]int64{}, addr: map[string]string{}, payouts: map[string]*fakePayout{}, refuse: map[string]bool{}}
}

func (l *fakePayoutLedger) ReservePayout(_ context.Context, worker, id string, amount int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.payouts[id]; ok {
		if p.state == "failed" {
			return fmt.Errorf("payout %s already failed", id)
		}
		return nil
	}
	if l.refuse[worker] || l.earnings[worker] < amount || amount <= 0 {
		return fmt.Errorf("worker %s cannot be paid %d", worker, amount)
	}
	l.earnings[worker] -= amount
	l.payouts[id] = &fakePayout{worker: worker, amount: amount, state: "reserved"}
	return nil
}

func (l *fakePayoutLedger) ConfirmPayout(_ context.Context, worker, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.payouts[id]
	if !ok || p.state == "failed" || p.worker != worker {
		return fmt.Errorf("confirm payout %s of %s: not reserved", id, worker)
	}
	p.state = "confirmed"
	return nil
}

func (l *fakePayoutLedger) FailPayout(_ context.Context, worker, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.payouts[id]
	if !ok {
		return nil
	}
	if p.worker != worker {
		return fmt.Errorf("payout %s is not %s's", id, worker)
	}
	switch p.state {
	case "confirmed":
		return fmt.Errorf("payout %s was confirmed; it cannot fail", id)
	case "reserved":
		l.earnings[p.worker] += p.amount
		p.state = "failed"
	}
	return nil
}

func (l *fakePayoutLedger) DuePayouts(context.Context) ([]Due, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Due
	for w, e := range l.earnings {
		out = append(out, Due{Worker: w, To: l.addr[w], Amount: e})
	}
	return out, nil
}

// states returns payout id → state.
func (l *fakePayoutLedger) states() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := map[string]string{}
	for id, p := range l.payouts {
		m[id] = p.state
	}
	return m
}

func (l *fakePayoutLedger) earned(worker string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.earnings[worker]
}
