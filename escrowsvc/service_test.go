package escrowsvc

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-network/cocoon/contracts/escrow"
	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/ledger"
)

const nano = uint64(1_000_000_000)

func filled(b byte) []byte {
	out := make([]byte, 32)
	for i := range out {
		out[i] = b
	}
	return out
}

type env struct {
	t        *testing.T
	ctx      context.Context
	chain    *fakeChain
	rdb      *redis.Client
	books    *ledger.Ledger
	key      ed25519.PrivateKey
	treasury *address.Address
	client   *address.Address
}

func newEnv(t *testing.T) *env {
	t.Helper()
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := r.Client()
	chain := newFakeChain(t, 1_800_000_000)
	now := func() time.Time { return time.Unix(int64(chain.clock()), 0) }
	return &env{
		t: t, ctx: context.Background(), chain: chain, rdb: rdb,
		books:    ledger.New(rdb, ledger.WithClock(now)),
		key:      ed25519.NewKeyFromSeed(filled(3)),
		treasury: address.NewAddress(0, 0, filled(0x7e)),
		client:   address.NewAddress(0, 0, filled(0xc1)),
	}
}

// service returns a fresh Service on the same Redis, chain and ledger, as
// after a restart.
func (e *env) service() *Service {
	e.t.Helper()
	s, err := New(Config{
		Chain: e.chain, Redis: e.rdb, Ledger: e.books, Treasury: e.treasury, ServiceKey: e.key,
		Now:    func() time.Time { return time.Unix(int64(e.chain.clock()), 0) },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) poll(s *Service) {
	e.t.Helper()
	if err := s.Poll(e.ctx); err != nil {
		e.t.Fatalf("poll: %v", err)
	}
}

// charge runs one job for user that costs amount (all to the operator).
func (e *env) charge(user, job string, amount int64) {
	e.t.Helper()
	if _, err := e.books.Reserve(e.ctx, user, job, amount); err != nil {
		e.t.Fatalf("reserve %s: %v", job, err)
	}
	if _, err := e.books.Settle(e.ctx, ledger.Settlement{User: user, JobID: job, Charge: amount, Operator: amount, Model: "m"}); err != nil {
		e.t.Fatalf("settle %s: %v", job, err)
	}
}

func (e *env) available(user string) int64 {
	e.t.Helper()
	b, err := e.books.Balance(e.ctx, user)
	if err != nil {
		e.t.Fatal(err)
	}
	return b.Available
}

func (e *env) check() ledger.Report {
	e.t.Helper()
	if _, err := e.books.ApplyAllOutboxes(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	rep, err := e.books.Check(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if !rep.OK() {
		e.t.Fatalf("ledger invariant fails:\n%s", rep)
	}
	return rep
}

func (e *env) status(s *Service, user string) Status {
	e.t.Helper()
	st, err := s.Status(e.ctx, user)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func TestRegister(t *testing.T) {
	e := newEnv(t)
	s := e.service()
	a, err := s.Register(e.ctx, "tg:42", e.client, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := escrow.Address(escrow.Params{Client: e.client, Treasury: e.treasury, ServiceKey: e.key.Public().(ed25519.PublicKey), CloseDelay: time.Hour, EscrowID: a.Params.EscrowID})
	if !a.Address.Equals(want) {
		t.Fatalf("address %s, want %s", a.Address.StringRaw(), want.StringRaw())
	}
	again, err := e.service().Register(e.ctx, "tg:42", e.client, time.Hour)
	if err != nil || !again.Address.Equals(a.Address) {
		t.Fatalf("re-register: %v %v", again.Address, err)
	}
	other, err := s.Register(e.ctx, "tg:43", e.client, time.Hour)
	if err != nil || other.Address.Equals(a.Address) {
		t.Fatalf("same client for another user must get another escrow: %v %v", other.Address, err)
	}
	if u, err := s.UserOf(e.ctx, other.Address); err != nil || u != "tg:43" {
		t.Fatalf("UserOf: %q %v", u, err)
	}
	tests := []struct {
		name    string
		user    string
		client  *address.Address
		delay   time.Duration
		wantErr error
	}{
		{"other delay", "tg:42", e.client, 2 * time.Hour, ErrRegistered},
		{"bad user", "a b", e.client, time.Hour, ErrInvalid},
		{"no client", "tg:44", nil, time.Hour, ErrInvalid},
		{"delay too short", "tg:44", e.client, time.Minute, ErrInvalid},
		{"fractional delay", "tg:44", e.client, time.Hour + time.Millisecond, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Register(e.ctx, tt.user, tt.client, tt.delay); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
		})
	}
	if s.Closing(e.ctx, "tg:42") || s.Closing(e.ctx, "nobody") {
		t.Fatal("nobody is closing yet")
	}
}

// TestLifecycle runs one escrow in the TVM from deployment to withdrawal:
// deposits credited once across restarts, charges redeemed exactly once,
// close stops credit, the withdrawal is refunded and the invariant holds.
func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	const user = "tg:42"
	s := e.service()
	esc, err := s.Register(e.ctx, user, e.client, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	addr := esc.Address
	si, err := escrow.StateInit(esc.Params)
	if err != nil {
		t.Fatal(err)
	}

	// Deposits: the deploying one, a plain transfer; not deposits: a bounced
	// message and an unknown op (the contract bounces it).
	if res := e.chain.internal(t, e.client, addr, 10*nano, false, false, escrow.DepositBody(1), si); res.ExitCode != 0 {
		t.Fatalf("deploy: exit %d", res.ExitCode)
	}
	e.chain.internal(t, e.client, addr, 5*nano, true, false, nil, nil)
	e.chain.internal(t, e.client, addr, nano, false, true, nil, nil)
	unknown := cell.BeginCell().MustStoreUInt(0x12345678, 32).MustStoreUInt(0, 64).EndCell()
	if res := e.chain.internal(t, e.client, addr, nano, true, false, unknown, nil); escrow.ExitCode(res.ExitCode) != escrow.ExitUnknownOp {
		t.Fatalf("unknown op: exit %d", res.ExitCode)
	}
	e.poll(s)
	st := e.status(s, user)
	t.Logf("credited %d, escrow balance %d", st.Credited, e.chain.balance(addr))
	if st.Credited <= int64(15*nano)-int64(nano/100) || st.Credited > int64(15*nano) {
		t.Fatalf("credited %d, want 15 TON minus the deposits' fees", st.Credited)
	}
	if got := e.available(user); got != st.Credited {
		t.Fatalf("ledger balance %d, credited %d", got, st.Credited)
	}
	credited := st.Credited

	// Credited once: after a restart, and after losing the cursor altogether.
	s = e.service()
	e.poll(s)
	if err := e.rdb.Del(e.ctx, keyCursor(addr)).Err(); err != nil {
		t.Fatal(err)
	}
	e.poll(s)
	if st := e.status(s, user); st.Credited != credited || e.available(user) != credited {
		t.Fatalf("after restart and re-walk: credited %d, balance %d, want %d", st.Credited, e.available(user), credited)
	}
	e.check()

	// Charges over MinRedeem are redeemed at the next poll; the treasury gets exactly them.
	e.charge(user, "j1", int64(3*nano))
	e.poll(s)
	if got := e.chain.received(e.treasury); got != 3*nano {
		t.Fatalf("treasury received %d, want %d", got, 3*nano)
	}
	e.poll(s)
	if st := e.status(s, user); st.Redeemed != 3*nano || st.Pending != nil {
		t.Fatalf("after redeem: redeemed %d, pending %+v", st.Redeemed, st.Pending)
	}

	// The voucher lands but the sender sees an error: confirmed from the chain, not re-sent.
	e.charge(user, "j2", int64(nano))
	e.chain.onSend = func(int) (bool, error) { return true, errors.New("timeout") }
	e.poll(s)
	e.chain.onSend = nil
	sends := e.chain.sends
	e.poll(s)
	if e.chain.sends != sends {
		t.Fatal("a voucher that landed was sent again")
	}
	if st := e.status(s, user); st.Redeemed != 4*nano || st.Pending != nil || e.chain.received(e.treasury) != 4*nano {
		t.Fatalf("landed-with-error redeem: redeemed %d, pending %+v, treasury %d", st.Redeemed, st.Pending, e.chain.received(e.treasury))
	}

	// The voucher is lost: the next poll re-sends the same voucher.
	e.charge(user, "j3", int64(nano))
	e.chain.onSend = func(int) (bool, error) { return false, errors.New("lost") }
	e.poll(s)
	e.chain.onSend = nil
	lost := e.status(s, user).Pending
	if lost == nil || e.chain.received(e.treasury) != 4*nano {
		t.Fatalf("lost voucher: pending %+v, treasury %d", lost, e.chain.received(e.treasury))
	}
	s = e.service() // and the service restarts meanwhile
	e.poll(s)
	if got := e.chain.received(e.treasury); got != 5*nano {
		t.Fatalf("after re-send: treasury %d, want %d", got, 5*nano)
	}
	e.poll(s)
	if st := e.status(s, user); st.Redeemed != 5*nano || st.Pending != nil {
		t.Fatalf("after re-send: redeemed %d, pending %+v", st.Redeemed, st.Pending)
	}
	// Replaying that voucher pays nothing.
	m, err := lost.message()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.chain.SendExternalMessage(e.ctx, m); err == nil {
		t.Fatal("a replayed voucher was accepted")
	}
	if got := e.chain.received(e.treasury); got != 5*nano {
		t.Fatalf("after replay: treasury %d", got)
	}

	// A small charge waits for RedeemEvery.
	e.charge(user, "j4", int64(nano/10))
	e.poll(s)
	if got := e.chain.received(e.treasury); got != 5*nano {
		t.Fatalf("a charge under MinRedeem was redeemed at once: treasury %d", got)
	}

	// Close: credit stops, and what is owed is redeemed before the delay ends.
	e.chain.internal(t, e.client, addr, nano/10, true, false, escrow.RequestCloseBody(2), nil)
	e.poll(s)
	if !s.Closing(e.ctx, user) {
		t.Fatal("not closing after the client's close request")
	}
	if got := e.chain.received(e.treasury); got != 5*nano+nano/10 {
		t.Fatalf("closing: treasury %d, want %d", got, 5*nano+nano/10)
	}
	e.charge(user, "j5", int64(nano/5)) // a job that was running when the close came
	e.poll(s)
	e.poll(s)
	treasury := e.chain.received(e.treasury)
	if treasury != 5*nano+3*nano/10 {
		t.Fatalf("closing: treasury %d, want %d", treasury, 5*nano+3*nano/10)
	}
	e.check()

	// The close delay passes; the client withdraws the rest.
	e.chain.advance(3601)
	e.poll(s)
	before := e.chain.received(e.client)
	e.chain.internal(t, e.client, addr, nano/10, true, false, escrow.WithdrawBody(3), nil)
	got := e.chain.received(e.client) - before
	if got == 0 || e.chain.balance(addr) != 0 {
		t.Fatalf("withdraw: client got %d, escrow keeps %d", got, e.chain.balance(addr))
	}
	e.poll(s)
	if s.Closing(e.ctx, user) {
		t.Fatal("still closing after the withdrawal reopened the escrow")
	}
	assertSettled := func() {
		t.Helper()
		st := e.status(s, user)
		rep := e.check()
		if rep.DepositsEscrow-rep.EscrowRefunds != int64(treasury) {
			t.Fatalf("ledger escrow deposits %d − escrow refunds %d ≠ treasury received %d", rep.DepositsEscrow, rep.EscrowRefunds, treasury)
		}
		if st.Credited-st.Refunded != int64(st.Redeemed) || st.Shortfall != 0 {
			t.Fatalf("status after withdrawal: %+v", st)
		}
		if av := e.available(user); av != 0 {
			t.Fatalf("user keeps %d after withdrawing the escrow", av)
		}
	}
	assertSettled()
	w := e.withdrawal(user)
	if w.Attached != nano/10 || w.Withdrawn != int64(min(got-w.Attached, uint64(w.Remaining))) || w.Withdrawn+w.Fees != w.Remaining {
		t.Fatalf("withdrawal record %+v, client received %d", w, got)
	}
	t.Logf("withdrawal %+v", w)

	// Once only: restart, lose the cursor, walk everything again.
	s = e.service()
	if err := e.rdb.Del(e.ctx, keyCursor(addr)).Err(); err != nil {
		t.Fatal(err)
	}
	e.poll(s)
	e.poll(s)
	assertSettled()
	if got := e.chain.received(e.treasury); got != treasury {
		t.Fatalf("treasury %d after re-walk, want %d", got, treasury)
	}
}

func (e *env) withdrawal(user string) Withdrawal {
	e.t.Helper()
	h, err := e.rdb.HGetAll(e.ctx, keyOps(user)).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []Withdrawal
	for k, v := range h {
		if len(k) > 2 && k[:2] == "w:" {
			var w Withdrawal
			if err := json.Unmarshal([]byte(v), &w); err != nil {
				e.t.Fatal(err)
			}
			out = append(out, w)
		}
	}
	if len(out) != 1 {
		e.t.Fatalf("%d withdrawal records, want 1", len(out))
	}
	return out[0]
}
