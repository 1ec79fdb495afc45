package ledger

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// testNow is the fixed clock tests date charges with.
var testNow = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

// env is one ledger under test with the client it runs on.
type env struct {
	t   testing.TB
	l   *Ledger
	rdb redis.UniversalClient
}

func newEnv(t testing.TB, rdb redis.UniversalClient) *env {
	return &env{t: t, l: New(rdb, WithClock(func() time.Time { return testNow })), rdb: rdb}
}

// single starts a private redis-server for t.
func single(t testing.TB) *env {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	return newEnv(t, r.Client())
}

// flush empties every master.
func (e *env) flush() {
	e.t.Helper()
	ctx := context.Background()
	var err error
	if cc, ok := e.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.FlushAll(ctx).Err() })
	} else {
		err = e.rdb.FlushAll(ctx).Err()
	}
	if err != nil {
		e.t.Fatalf("flush: %v", err)
	}
}

// check fails the test unless the invariant holds, and returns the report.
func (e *env) check() Report {
	e.t.Helper()
	rep, err := e.l.Check(context.Background())
	if err != nil {
		e.t.Fatalf("Check: %v", err)
	}
	if !rep.OK() {
		e.t.Fatalf("invariant fails:\n%s", rep)
	}
	return rep
}

// dump is the whole ledger keyspace, key -> DUMP payload, without the
// aggregator's pending hint set (a hint, not money).
func (e *env) dump() map[string]string {
	e.t.Helper()
	ctx := context.Background()
	keys, err := e.l.scan(ctx, "*")
	if err != nil {
		e.t.Fatalf("scan: %v", err)
	}
	out := map[string]string{}
	for _, k := range keys {
		if k == keyPending() {
			continue
		}
		v, err := e.rdb.Dump(ctx, k).Result()
		if err != nil {
			e.t.Fatalf("dump %s: %v", k, err)
		}
		out[k] = v
	}
	return out
}

// sameDump fails when the keyspace changed since before.
func (e *env) sameDump(before map[string]string, what string) {
	e.t.Helper()
	after := e.dump()
	var diff []string
	for k, v := range after {
		if before[k] != v {
			diff = append(diff, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			diff = append(diff, k)
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		e.t.Fatalf("%s changed the ledger: keys %v", what, diff)
	}
}

func (e *env) credit(user, op string, amount int64) {
	e.t.Helper()
	if _, err := e.l.Credit(context.Background(), user, op, SourceTON, amount); err != nil {
		e.t.Fatalf("credit: %v", err)
	}
}

func (e *env) reserve(user, job string, amount int64) {
	e.t.Helper()
	if _, err := e.l.Reserve(context.Background(), user, job, amount); err != nil {
		e.t.Fatalf("reserve: %v", err)
	}
}

func (e *env) settle(s Settlement) SettleReceipt {
	e.t.Helper()
	rc, err := e.l.Settle(context.Background(), s)
	if err != nil {
		e.t.Fatalf("settle: %v", err)
	}
	return rc
}

func (e *env) apply(user string) int {
	e.t.Helper()
	n, err := e.l.ApplyOutbox(context.Background(), user)
	if err != nil {
		e.t.Fatalf("apply outbox: %v", err)
	}
	return n
}

func (e *env) balance(user string) Balance {
	e.t.Helper()
	b, err := e.l.Balance(context.Background(), user)
	if err != nil {
		e.t.Fatalf("balance: %v", err)
	}
	return b
}

func (e *env) earnings(worker string) WorkerAccount {
	e.t.Helper()
	a, err := e.l.Worker(context.Background(), worker)
	if err != nil {
		e.t.Fatalf("worker: %v", err)
	}
	return a
}

func (e *env) revenue() int64 {
	e.t.Helper()
	r, err := e.l.OperatorRevenue(context.Background())
	if err != nil {
		e.t.Fatalf("revenue: %v", err)
	}
	return r
}

// settlement is a simple one-worker settlement.
func settlement(user, job string, worker int64, op int64) Settlement {
	s := Settlement{User: user, JobID: job, Model: "tiny:latest", PromptTokens: 10, CompletionTokens: 20, Operator: op}
	if worker > 0 {
		s.Segments = []Segment{{WorkerID: "w1", Amount: worker}}
	}
	s.Charge = worker + op
	return s
}

// ledgerErrs are the refusals a workload may legitimately meet.
var ledgerErrs = []error{ErrInvalidAmount, ErrInsufficientBalance, ErrInsufficientEarnings, ErrNoReservation,
	ErrJobClosed, ErrChargeExceedsReservation, ErrConflict, ErrUnknownPayout, ErrPayoutClosed}

func isRefusal(err error) bool {
	for _, s := range ledgerErrs {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// suite is the core tests, run on a single node and on the cluster.
var suite = []struct {
	name string
	fn   func(t *testing.T, e *env)
}{
	{"Credit", testCredit},
	{"ReserveSettleRelease", testReserveSettleRelease},
	{"Unreserve", testUnreserve},
	{"InvalidInput", testInvalidInput},
	{"Idempotency", testIdempotency},
	{"ConcurrentReserve", testConcurrentReserve},
	{"FailoverSettlement", testFailoverSettlement},
	{"OutboxCrash", testOutboxCrash},
	{"Payouts", testPayouts},
	{"EscrowRefund", testEscrowRefund},
	{"UsageAndCharges", testUsageAndCharges},
	{"CheckCatchesTampering", testCheckCatchesTampering},
	{"Aggregator", testAggregator},
}

func runSuite(t *testing.T, rdb redis.UniversalClient) {
	var mu sync.Mutex // subtests share one server: one at a time
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			defer mu.Unlock()
			e := newEnv(t, rdb)
			e.flush()
			tc.fn(t, e)
			e.check()
		})
	}
}

func TestSingleNode(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	runSuite(t, r.Client())
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-master Redis Cluster")
	}
	c := testenv.StartCluster(t)
	cc := c.Client(t)
	runSuite(t, cc)
	// The last subtest's users, workers and operator live on several masters.
	var mu sync.Mutex
	used := 0
	cc.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		mu.Lock()
		defer mu.Unlock()
		if err == nil && n > 0 {
			used++
		}
		return err
	})
	if used < 2 {
		t.Fatalf("keys on %d masters: the cluster run did not cross slots", used)
	}
}
