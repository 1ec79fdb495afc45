package escrowsvc

import (
	"errors"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-network/cocoon/contracts/escrow"
)

// deploy registers user with client and deposits value into the new escrow.
func (e *env) deploy(s *Service, user string, client *address.Address, value uint64) Escrow {
	e.t.Helper()
	esc, err := s.Register(e.ctx, user, client, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	si, err := escrow.StateInit(esc.Params)
	if err != nil {
		e.t.Fatal(err)
	}
	if res := e.chain.internal(e.t, client, esc.Address, value, false, false, escrow.DepositBody(1), si); res.ExitCode != 0 {
		e.t.Fatalf("deploy: exit %d", res.ExitCode)
	}
	return esc
}

// requestClose sends the client's close request and polls.
func (e *env) requestClose(s *Service, user string, esc Escrow) {
	e.t.Helper()
	e.chain.internal(e.t, esc.Params.Client, esc.Address, nano/20, true, false, escrow.RequestCloseBody(2), nil)
	e.poll(s)
	if !s.Closing(e.ctx, user) {
		e.t.Fatal("not closing")
	}
}

// withdraw waits out the close delay and withdraws; it returns what the
// client received beyond the withdraw message's own value.
func (e *env) withdraw(s *Service, esc Escrow) uint64 {
	e.t.Helper()
	e.chain.advance(3601)
	e.poll(s)
	before := e.chain.received(esc.Params.Client)
	e.chain.internal(e.t, esc.Params.Client, esc.Address, nano/20, true, false, escrow.WithdrawBody(3), nil)
	return e.chain.received(esc.Params.Client) - before - nano/20
}

func TestRedeemEveryAndWithdrawalFees(t *testing.T) {
	e := newEnv(t)
	const user = "tg:7"
	s := e.service()
	esc := e.deploy(s, user, e.client, 2*nano)
	e.poll(s)
	e.charge(user, "j1", int64(nano/10))
	e.poll(s)
	if got := e.chain.received(e.treasury); got != 0 {
		t.Fatalf("redeemed %d under MinRedeem before RedeemEvery", got)
	}
	e.chain.advance(3601)
	e.poll(s)
	if got := e.chain.received(e.treasury); got != nano/10 {
		t.Fatalf("after RedeemEvery the treasury got %d, want %d", got, nano/10)
	}

	// A job still reserved when the client withdraws: the refund waits for it.
	if _, err := e.books.Reserve(e.ctx, user, "j2", int64(nano/2)); err != nil {
		t.Fatal(err)
	}
	e.requestClose(s, user, esc)
	received := e.withdraw(s, esc)
	if err := s.Poll(e.ctx); !errors.Is(err, ErrReservationsPending) {
		t.Fatalf("poll with a reservation open: %v, want ErrReservationsPending", err)
	}
	if _, err := e.books.Release(e.ctx, user, "j2"); err != nil {
		t.Fatal(err)
	}
	e.poll(s)
	w := e.withdrawal(user)
	if w.Withdrawn != int64(received) || w.Fees <= 0 || w.Withdrawn+w.Fees != w.Remaining || w.Shortfall != 0 {
		t.Fatalf("withdrawal %+v, client received %d", w, received)
	}
	t.Logf("withdrawal %+v", w)
	rep := e.check()
	if rep.DepositsEscrow-rep.EscrowRefunds != int64(e.chain.received(e.treasury)) || e.available(user) != 0 {
		t.Fatalf("escrow deposits %d − refunds %d ≠ treasury %d (user keeps %d)", rep.DepositsEscrow, rep.EscrowRefunds, e.chain.received(e.treasury), e.available(user))
	}

	// The escrow opens again: a new deposit is credited and claimed only for new charges.
	e.chain.internal(t, e.client, esc.Address, nano, true, false, nil, nil)
	e.poll(s)
	e.charge(user, "j3", int64(nano/2))
	e.poll(s)
	if got := e.chain.received(e.treasury); got != nano/10+nano/2 {
		t.Fatalf("second round: treasury %d, want %d", got, nano/10+nano/2)
	}
	e.check()
}

func TestShortfallWhenChargesExceedWhatTheEscrowCanPay(t *testing.T) {
	e := newEnv(t)
	const user = "tg:8"
	s := e.service()
	esc := e.deploy(s, user, e.client, nano)
	e.poll(s)
	e.requestClose(s, user, esc)
	all := e.available(user)
	e.charge(user, "j1", all) // everything credited: the escrow cannot pay its reserve and fees too
	e.poll(s)
	paid := e.chain.received(e.treasury)
	if paid == 0 || paid >= uint64(all) {
		t.Fatalf("treasury got %d of %d owed", paid, all)
	}
	if bal := e.chain.balance(esc.Address); bal < escrow.MinReserve {
		t.Fatalf("escrow left with %d, below its reserve", bal)
	}
	e.withdraw(s, esc)
	e.poll(s)
	st := e.status(s, user)
	rep := e.check()
	if st.Shortfall <= 0 || rep.DepositsEscrow-rep.EscrowRefunds != int64(paid)+st.Shortfall {
		t.Fatalf("shortfall %d; escrow deposits %d − refunds %d, treasury %d", st.Shortfall, rep.DepositsEscrow, rep.EscrowRefunds, paid)
	}
	t.Logf("owed %d, paid %d, shortfall %d, withdrawal %+v", all, paid, st.Shortfall, e.withdrawal(user))
}
