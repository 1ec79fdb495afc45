package ledger

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Report is one run of the invariant
//
//	user balances + reservations + outbox in transit + worker earnings
//	  + payouts in flight + operator revenue
//	= deposits (TON + Stars + escrow + trial) − payouts − escrow refunds
//
// with every term named. All amounts are nanoTON.
type Report struct {
	// Held: where the money is now.
	UserBalances    int64
	Reservations    int64
	OutboxInTransit int64 // settled, owed to workers/operator, not yet applied
	WorkerEarnings  int64 // unpaid
	PayoutsInFlight int64 // reserved for a TON transfer, not yet confirmed or failed
	OperatorRevenue int64

	// Funded: what came in and what went out.
	DepositsTON    int64
	DepositsStars  int64
	DepositsEscrow int64
	DepositsTrial  int64
	Payouts        int64 // confirmed worker payouts
	EscrowRefunds  int64
	StarsRefunds   int64 // Stars payments refunded to users

	Users   int
	Workers int
	// Problems lists anomalies that are wrong even when the sums agree
	// (a negative balance, a corrupt record, an in-flight counter that
	// disagrees with the payouts it counts).
	Problems []string
}

// Held is the left side: money the ledger holds somewhere.
func (r Report) Held() int64 {
	return r.UserBalances + r.Reservations + r.OutboxInTransit + r.WorkerEarnings + r.PayoutsInFlight + r.OperatorRevenue
}

// Funded is the right side: deposits minus payouts minus escrow refunds.
func (r Report) Funded() int64 {
	return r.DepositsTON + r.DepositsStars + r.DepositsEscrow + r.DepositsTrial - r.Payouts - r.EscrowRefunds - r.StarsRefunds
}

// Difference is Held − Funded: positive means money was invented, negative lost.
func (r Report) Difference() int64 { return r.Held() - r.Funded() }

// OK reports whether the books balance and nothing is anomalous.
func (r Report) OK() bool { return r.Difference() == 0 && len(r.Problems) == 0 }

// String renders the report for people, one term per line.
func (r Report) String() string {
	var b strings.Builder
	status := "OK"
	if !r.OK() {
		status = "FAILED"
	}
	fmt.Fprintf(&b, "ledger check: %s (%d users, %d workers)\n", status, r.Users, r.Workers)
	line := func(name string, v int64) { fmt.Fprintf(&b, "  %-28s %22d  %s TON\n", name, v, FormatTON(v)) }
	b.WriteString(" held\n")
	line("user balances", r.UserBalances)
	line("reservations", r.Reservations)
	line("outbox in transit", r.OutboxInTransit)
	line("worker earnings", r.WorkerEarnings)
	line("payouts in flight", r.PayoutsInFlight)
	line("operator revenue", r.OperatorRevenue)
	line("= held", r.Held())
	b.WriteString(" funded\n")
	line("deposits TON", r.DepositsTON)
	line("deposits Stars", r.DepositsStars)
	line("deposits escrow", r.DepositsEscrow)
	line("deposits trial", r.DepositsTrial)
	line("- payouts", r.Payouts)
	line("- escrow refunds", r.EscrowRefunds)
	line("- stars refunds", r.StarsRefunds)
	line("= funded", r.Funded())
	line("difference (held - funded)", r.Difference())
	for _, p := range r.Problems {
		fmt.Fprintf(&b, " problem: %s\n", p)
	}
	return b.String()
}

// FormatTON renders nanoTON as a decimal TON amount ("1.5", "-0.000000001").
func FormatTON(n int64) string {
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign, u = "-", uint64(-(n+1))+1
	}
	whole, frac := u/1_000_000_000, u%1_000_000_000
	if frac == 0 {
		return fmt.Sprintf("%s%d", sign, whole)
	}
	return strings.TrimRight(fmt.Sprintf("%s%d.%09d", sign, whole, frac), "0")
}

// sum accumulates int64 terms and remembers an overflow.
type sum struct {
	v    int64
	over bool
}

func (s *sum) add(n int64) {
	var ok bool
	if s.v, ok = addChecked(s.v, n); !ok {
		s.over = true
	}
}

type userSnap struct {
	user     string
	balance  int64
	reserved int64
	totals   map[string]string
	outbox   []outboxEntry
	problems []string
}

type payeeSnap struct {
	balance  int64
	applied  map[string]string // user -> watermark
	inFlight int64
	paidOut  int64
	problems []string
}

// Check runs the invariant over the whole keyspace (every master on Redis
// Cluster). Each user, worker and the operator is read atomically, users
// before payees, so an aggregator applying outboxes meanwhile does not
// disturb the result; other traffic during a Check (credits, settlements,
// payouts) can make one run differ, so a failing run is worth repeating
// (RunCheck does). The error is for Redis failures; the verdict is Report.OK.
func (l *Ledger) Check(ctx context.Context) (Report, error) {
	var rep Report
	users, err := l.Users(ctx)
	if err != nil {
		return rep, fmt.Errorf("ledger: check: scan users: %w", err)
	}
	snaps := make([]userSnap, len(users))
	if err := parallel(ctx, len(users), func(i int) error {
		var err error
		snaps[i], err = l.snapUser(ctx, users[i])
		return err
	}); err != nil {
		return rep, fmt.Errorf("ledger: check: %w", err)
	}
	workers, err := l.Workers(ctx)
	if err != nil {
		return rep, fmt.Errorf("ledger: check: scan workers: %w", err)
	}
	seen := map[string]bool{}
	for _, w := range workers {
		seen[w] = true
	}
	for _, s := range snaps {
		for _, e := range s.outbox {
			if e.Kind == payeeWorker && !seen[e.Payee] {
				seen[e.Payee] = true
				workers = append(workers, e.Payee)
			}
		}
	}
	sort.Strings(workers)
	wsnaps := make([]payeeSnap, len(workers))
	if err := parallel(ctx, len(workers), func(i int) error {
		var err error
		wsnaps[i], err = l.snapPayee(ctx, keyEarnings(workers[i]), keyWorkerApplied(workers[i]), workers[i])
		return err
	}); err != nil {
		return rep, fmt.Errorf("ledger: check: %w", err)
	}
	op, err := l.snapPayee(ctx, keyRevenue(), keyOpApplied(), "")
	if err != nil {
		return rep, fmt.Errorf("ledger: check: %w", err)
	}
	byWorker := map[string]*payeeSnap{}
	for i := range wsnaps {
		byWorker[workers[i]] = &wsnaps[i]
	}

	var bal, res, transit, earn, flight, rev, ton, stars, escrow, trial, paid, refunds, srefunds sum
	for _, s := range snaps {
		bal.add(s.balance)
		res.add(s.reserved)
		rep.Problems = append(rep.Problems, s.problems...)
		for _, e := range s.outbox {
			p := &op
			if e.Kind == payeeWorker {
				p = byWorker[e.Payee]
			}
			wm, _ := parseI64("watermark", p.applied[s.user])
			if e.Seq > wm {
				transit.add(e.Amount)
			}
		}
		for _, f := range []struct {
			acc   *sum
			field string
		}{{&ton, string(SourceTON)}, {&stars, string(SourceStars)}, {&escrow, string(SourceEscrow)},
			{&trial, string(SourceTrial)}, {&refunds, fieldEscrowRefund}, {&srefunds, fieldStarsRefund}} {
			v, err := parseI64(f.field, s.totals[f.field])
			if err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("user %s: %v", s.user, err))
			}
			f.acc.add(v)
		}
	}
	for _, w := range wsnaps {
		earn.add(w.balance)
		flight.add(w.inFlight)
		paid.add(w.paidOut)
		rep.Problems = append(rep.Problems, w.problems...)
	}
	rev.add(op.balance)
	rep.Problems = append(rep.Problems, op.problems...)

	rep.UserBalances, rep.Reservations, rep.OutboxInTransit = bal.v, res.v, transit.v
	rep.WorkerEarnings, rep.PayoutsInFlight, rep.OperatorRevenue = earn.v, flight.v, rev.v
	rep.DepositsTON, rep.DepositsStars, rep.DepositsEscrow, rep.DepositsTrial = ton.v, stars.v, escrow.v, trial.v
	rep.Payouts, rep.EscrowRefunds, rep.StarsRefunds = paid.v, refunds.v, srefunds.v
	rep.Users, rep.Workers = len(users), len(workers)
	for _, s := range []sum{bal, res, transit, earn, flight, rev, ton, stars, escrow, trial, paid, refunds, srefunds} {
		if s.over {
			return rep, fmt.Errorf("ledger: check: %w: a term exceeds int64", ErrOverflow)
		}
	}
	var held, funded sum
	for _, v := range []int64{bal.v, res.v, transit.v, earn.v, flight.v, rev.v} {
		held.add(v)
	}
	for _, v := range []int64{ton.v, stars.v, escrow.v, trial.v, -paid.v, -refunds.v} {
		funded.add(v)
	}
	if _, ok := addChecked(held.v, -funded.v); held.over || funded.over || !ok {
		return rep, fmt.Errorf("ledger: check: %w: the sides exceed int64", ErrOverflow)
	}
	return rep, nil
}

// snapUser reads one user's money keys in one MULTI (one slot).
func (l *Ledger) snapUser(ctx context.Context, user string) (userSnap, error) {
	s := userSnap{user: user}
	var b *redis.StringCmd
	var r *redis.StringSliceCmd
	var o, t *redis.MapStringStringCmd
	_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		b = p.Get(ctx, keyBalance(user))
		r = p.HVals(ctx, keyReserved(user))
		o = p.HGetAll(ctx, keyOutbox(user))
		t = p.HGetAll(ctx, keyUserTotals(user))
		return nil
	})
	if err != nil && err != redis.Nil {
		return s, fmt.Errorf("read user %s: %w", user, err)
	}
	bad := func(err error) { s.problems = append(s.problems, fmt.Sprintf("user %s: %v", user, err)) }
	if s.balance, err = parseI64("balance", b.Val()); err != nil {
		bad(err)
	}
	if s.balance < 0 {
		bad(fmt.Errorf("negative balance %d", s.balance))
	}
	for _, v := range r.Val() {
		n, err := parseI64("reservation", v)
		if err != nil || n <= 0 {
			bad(fmt.Errorf("bad reservation %q", v))
		}
		s.reserved += n
	}
	for k, v := range o.Val() {
		e, err := parseOutboxEntry(k, v)
		if err != nil {
			bad(err)
			continue
		}
		s.outbox = append(s.outbox, e)
	}
	s.totals = t.Val()
	return s, nil
}

// snapPayee reads a worker's (or, with worker "", the operator's) keys in one MULTI.
func (l *Ledger) snapPayee(ctx context.Context, balanceKey, appliedKey, worker string) (payeeSnap, error) {
	var s payeeSnap
	var b *redis.StringCmd
	var a, t, po *redis.MapStringStringCmd
	_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		b = p.Get(ctx, balanceKey)
		a = p.HGetAll(ctx, appliedKey)
		if worker != "" {
			t = p.HGetAll(ctx, keyWorkerTotals(worker))
			po = p.HGetAll(ctx, keyPayouts(worker))
		}
		return nil
	})
	name := "operator"
	if worker != "" {
		name = "worker " + worker
	}
	if err != nil && err != redis.Nil {
		return s, fmt.Errorf("read %s: %w", name, err)
	}
	bad := func(err error) { s.problems = append(s.problems, fmt.Sprintf("%s: %v", name, err)) }
	if s.balance, err = parseI64("balance", b.Val()); err != nil {
		bad(err)
	}
	if s.balance < 0 {
		bad(fmt.Errorf("negative balance %d", s.balance))
	}
	s.applied = a.Val()
	if worker == "" {
		return s, nil
	}
	if s.inFlight, err = parseI64(fieldInFlight, t.Val()[fieldInFlight]); err != nil {
		bad(err)
	}
	if s.paidOut, err = parseI64(fieldPaidOut, t.Val()[fieldPaidOut]); err != nil {
		bad(err)
	}
	var flight, paid int64
	for id, rec := range po.Val() {
		p, err := parsePayout(worker, id, rec)
		if err != nil {
			bad(err)
			continue
		}
		switch p.State {
		case PayoutInFlight:
			flight += p.Amount
		case PayoutConfirmed:
			paid += p.Amount
		}
	}
	if flight != s.inFlight || paid != s.paidOut {
		bad(fmt.Errorf("payout counters in flight %d / paid %d disagree with payout records %d / %d", s.inFlight, s.paidOut, flight, paid))
	}
	return s, nil
}

// parallel runs fn(0..n-1) on a few goroutines and returns the first error.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	const workers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for w := 0; w < workers && w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// checkRetryDelay is the pause before RunCheck repeats a failing run.
var checkRetryDelay = time.Second

// RunCheck is `cocoon ledger check`: it runs Check, repeats a failing run up
// to twice (traffic during a scan can make one run differ), writes the last
// report to w, and returns an error wrapping ErrInvariant that says by how
// much the books are off, so the command exits non-zero.
func RunCheck(ctx context.Context, l *Ledger, w io.Writer) error {
	var rep Report
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(checkRetryDelay):
			}
		}
		var err error
		if rep, err = l.Check(ctx); err != nil {
			return err
		}
		if rep.OK() {
			break
		}
	}
	fmt.Fprint(w, rep.String())
	if rep.OK() {
		return nil
	}
	d := rep.Difference()
	return fmt.Errorf("%w: held - funded = %d nanoTON (%s TON), %d problems", ErrInvariant, d, FormatTON(d), len(rep.Problems))
}
