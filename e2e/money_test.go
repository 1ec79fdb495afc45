package e2e

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/teststack"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
	"github.com/cocoon-network/cocoon/worker"
)

const testPrices = "tiny:latest=1000/2000"

// checkLedger fails the test when the money invariant does not hold.
func checkLedger(t *testing.T, l *ledger.Ledger) ledger.Report {
	t.Helper()
	var rep ledger.Report
	var err error
	for i := 0; i < 400; i++ { // jobs finish and settle asynchronously: let them land (≤ 20 s)
		rep, err = l.Check(context.Background())
		if err == nil && rep.OK() && rep.Reservations == 0 {
			return rep
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("ledger: %v\n%s", err, rep.String())
	return rep
}

func TestJobIsChargedPerToken(t *testing.T) {
	s := teststack.Start(t, teststack.Options{Prices: testPrices, Trial: 1_000_000_000})
	s.AddWorker(nil)
	ctx := context.Background()
	res, err := s.Submitter.Run(ctx, &submit.Request{Model: s.Ollama.Model, User: "tg:1", MaxTokens: 32,
		Messages: []wire.Message{{Role: "user", Content: "hello"}}, Options: detOpts}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cost := s.Client.Cost(ctx, res.JobID, 5*time.Second)
	prices, _ := ledger.ParsePrices(testPrices)
	want, _ := prices["tiny:latest"].Cost(int64(res.PromptTokens), int64(res.CompletionTokens), ledger.CoefOne)
	if cost == nil || *cost != want || want == 0 {
		t.Fatalf("cost %v, want %d for %d+%d tokens", derefCost(cost), want, res.PromptTokens, res.CompletionTokens)
	}
	bal, err := s.Client.Balance(ctx, "tg:1")
	if err != nil || bal.Available != 1_000_000_000-want || bal.Reserved != 0 {
		t.Errorf("balance %+v, %v; want %d", bal, err, 1_000_000_000-want)
	}
	rep := checkLedger(t, s.Ledger)
	if rep.DepositsTrial != 1_000_000_000 {
		t.Errorf("trial deposits %d", rep.DepositsTrial)
	}
}

// TestBalanceCoversExactlyTen: 100 concurrent requests from one user whose
// balance covers 10 → exactly 10 are accepted, the rest get 402.
func TestBalanceCoversExactlyTen(t *testing.T) {
	prices, _ := ledger.ParsePrices(testPrices)
	msgs := []wire.Message{{Role: "user", Content: "hi"}}
	const maxTokens = 16
	per, err := prices["tiny:latest"].ReserveAmount(int64(reserveBytes(msgs)), maxTokens, ledger.CoefOne)
	if err != nil {
		t.Fatal(err)
	}
	s := teststack.Start(t, teststack.Options{Prices: testPrices, Trial: 10 * per})
	s.AddWorker(nil)
	ctx := context.Background()
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sr, err := s.Submitter.Prepare(ctx, &submit.Request{Model: s.Ollama.Model, User: "tg:7", MaxTokens: maxTokens, Messages: msgs})
			if err != nil {
				t.Error(err)
				return
			}
			_, err = s.Client.Submit(ctx, sr)
			var we *wire.Error
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &we) && we.Code == wire.CodeInsufficient && we.Status == 402:
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 10 || refused.Load() != 90 {
		t.Fatalf("accepted %d, refused %d; want 10 and 90", ok.Load(), refused.Load())
	}
	checkLedger(t, s.Ledger)
}

// reserveBytes is what the submitter declares as prompt bytes.
func reserveBytes(msgs []wire.Message) int { return submit.PromptBytes(msgs) }

func derefCost(c *int64) any {
	if c == nil {
		return nil
	}
	return *c
}

// checkFailoverBilling: the user pays for every token received; the killed
// worker, which never finished its segment, earns nothing; the worker that
// finished is paid; the dead segment's share is operator revenue.
func checkFailoverBilling(t *testing.T, s *teststack.Stack, id string, names map[string]string, deadName string) {
	t.Helper()
	ctx := context.Background()
	if c := s.Client.Cost(ctx, id, 5*time.Second); c == nil || *c <= 0 {
		t.Fatalf("failover job not charged: %v", derefCost(c))
	}
	rep := checkLedger(t, s.Ledger)
	if _, err := s.Ledger.ApplyAllOutboxes(ctx); err != nil {
		t.Fatal(err)
	}
	for wid, name := range names {
		acct, err := s.Ledger.Worker(ctx, wid)
		if err != nil {
			t.Fatal(err)
		}
		if name == deadName && acct.Earnings != 0 {
			t.Errorf("killed worker %s earned %d", name, acct.Earnings)
		}
		if name != deadName && acct.Earnings <= 0 {
			t.Errorf("finishing worker %s earned nothing", name)
		}
	}
	if rev, _ := s.Ledger.OperatorRevenue(ctx); rev <= 0 {
		t.Errorf("operator revenue %d after a failover (report %s)", rev, rep.String())
	}
	checkLedger(t, s.Ledger)
}

func TestCreditIsIdempotentAndValidated(t *testing.T) {
	s := teststack.Start(t, teststack.Options{Prices: testPrices})
	ctx := context.Background()
	req := wire.CreditRequest{Source: "stars", OpID: "charge-1", Amount: 5_000_000}
	r1, err := s.Client.Credit(ctx, "tg:9", req)
	if err != nil || r1.Balance != 5_000_000 || r1.Duplicate {
		t.Fatalf("credit: %+v %v", r1, err)
	}
	r2, err := s.Client.Credit(ctx, "tg:9", req) // a replayed payment
	if err != nil || r2.Balance != 5_000_000 || !r2.Duplicate {
		t.Fatalf("replayed credit: %+v %v", r2, err)
	}
	for _, bad := range []wire.CreditRequest{
		{Source: "stars", OpID: "c2", Amount: 0},
		{Source: "stars", OpID: "c3", Amount: -5},
		{Source: "gold", OpID: "c4", Amount: 5},
		{Source: "stars", OpID: "", Amount: 5},
		{Source: "stars", OpID: "charge-1", Amount: 7}, // same payment, other amount
	} {
		var we *wire.Error
		if _, err := s.Client.Credit(ctx, "tg:9", bad); !errors.As(err, &we) || (we.Status != 400 && we.Status != 409) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	acct, err := s.Client.Account(ctx, "tg:9")
	if err != nil || acct.Balance.Available != 5_000_000 {
		t.Fatalf("account: %+v %v", acct, err)
	}
	rep := checkLedger(t, s.Ledger)
	if rep.DepositsStars != 5_000_000 {
		t.Errorf("stars deposits %d", rep.DepositsStars)
	}
}

// TestWorkerPriceCoefficient: a worker charging 2.0× is not offered to a
// user whose maximum is 1.0×; a user accepting 2.0× is billed at it.
func TestWorkerPriceCoefficient(t *testing.T) {
	s := teststack.Start(t, teststack.Options{Prices: testPrices, Trial: 1_000_000_000})
	s.AddWorker(func(c *worker.Config) { c.PriceCoef = 2000 })
	ctx := context.Background()
	req := &submit.Request{Model: s.Ollama.Model, User: "tg:5", MaxTokens: 16, Options: detOpts,
		Messages: []wire.Message{{Role: "user", Content: "hi"}}}
	cheap := &submit.Submitter{C: s.Client, Policy: s.Submitter.Policy, MaxCoef: 1000}
	_, err := cheap.Run(ctx, req, nil)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeNoCapacity {
		t.Fatalf("max 1.0x with only a 2.0x worker: %v, want no_capacity", err)
	}
	willing := &submit.Submitter{C: s.Client, Policy: s.Submitter.Policy, MaxCoef: 2000}
	res, err := willing.Run(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	prices, _ := ledger.ParsePrices(testPrices)
	want, _ := prices[s.Ollama.Model].Cost(int64(res.PromptTokens), int64(res.CompletionTokens), 2000)
	if cost := s.Client.Cost(ctx, res.JobID, 5*time.Second); cost == nil || *cost != want {
		t.Fatalf("cost %v, want %d at 2.0x", derefCost(cost), want)
	}
	checkLedger(t, s.Ledger)
}
