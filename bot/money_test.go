package bot

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// fakeAccounts is an in-memory broker billing API: credits idempotent by op
// id (409 for the same op with another amount), as the broker's ledger.
type fakeAccounts struct {
	mu      sync.Mutex
	balance map[string]int64
	ops     map[string]int64 // op id -> amount
	credits int              // credits applied (not duplicates)
	down    bool             // answer as an unreachable broker
	off     bool             // billing off
}

func newFakeAccounts() *fakeAccounts {
	return &fakeAccounts{balance: map[string]int64{}, ops: map[string]int64{}}
}

func (a *fakeAccounts) Balance(_ context.Context, user string) (*wire.Balance, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		return nil, fmt.Errorf("%w: connection refused", client.ErrUnavailable)
	}
	return &wire.Balance{Available: a.balance[user], Billing: !a.off}, nil
}

func (a *fakeAccounts) Account(ctx context.Context, user string) (*wire.Account, error) {
	b, err := a.Balance(ctx, user)
	if err != nil {
		return nil, err
	}
	return &wire.Account{Balance: *b}, nil
}

func (a *fakeAccounts) Credit(_ context.Context, user string, req wire.CreditRequest) (*wire.CreditResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		return nil, fmt.Errorf("%w: connection refused", client.ErrUnavailable)
	}
	if req.Source != "stars" || req.Amount <= 0 {
		return nil, &wire.Error{Code: wire.CodeBadRequest, Status: http.StatusBadRequest, Message: "bad credit"}
	}
	if amt, ok := a.ops[req.OpID]; ok {
		if amt != req.Amount {
			return nil, &wire.Error{Code: wire.CodeConflict, Status: http.StatusConflict, Message: "op id reused"}
		}
		return &wire.CreditResponse{Balance: a.balance[user], Duplicate: true}, nil
	}
	a.ops[req.OpID] = req.Amount
	a.balance[user] += req.Amount
	a.credits++
	return &wire.CreditResponse{Balance: a.balance[user]}, nil
}

func (a *fakeAccounts) Refund(_ context.Context, user string, req wire.CreditRequest) (*wire.CreditResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.ops[req.OpID]; ok {
		return &wire.CreditResponse{Balance: a.balance[user], Duplicate: true}, nil
	}
	if a.balance[user] < req.Amount {
		return nil, &wire.Error{Code: wire.CodeInsufficient, Status: http.StatusPaymentRequired, Message: "spent"}
	}
	a.ops[req.OpID] = -req.Amount
	a.balance[user] -= req.Amount
	return &wire.CreditResponse{Balance: a.balance[user]}, nil
}

func (a *fakeAccounts) Cost(context.Context, string, time.Duration) *int64 {
	c := int64(1234)
	return &c
}

func (a *fakeAccounts) set(f func(a *fakeAccounts)) {
	a.mu.Lock()
	f(a)
	a.mu.Unlock()
}

func TestStarsPreCheckoutAcceptsOnlyTheBotsOwnInvoices(t *testing.T) {
	acc := newFakeAccounts()
	h := newHarness(t, func(c *Config) { c.Accounts = acc })
	cases := []struct {
		name     string
		payload  string
		currency string
		total    int
		want     bool
	}{
		{"garbage", "give me credit", "XTR", 100, false},
		{"another user's invoice", starsPayload(bob.ID, 100), "XTR", 100, false},
		{"amount not offered", starsPayload(alice.ID, 7), "XTR", 7, false},
		{"total differs from the payload", starsPayload(alice.ID, 100), "XTR", 1000, false},
		{"not Stars", starsPayload(alice.ID, 100), "USD", 100, false},
		{"leading zero", "topup:1001:0100", "XTR", 100, false},
		{"signed", "topup:+1001:100", "XTR", 100, false},
		{"extra part", starsPayload(alice.ID, 100) + ":1", "XTR", 100, false},
		{"overflow", "topup:99999999999999999999:100", "XTR", 100, false},
		{"valid", starsPayload(alice.ID, 100), "XTR", 100, true},
	}
	for _, c := range cases {
		id := h.api.preCheckout(alice, c.payload, c.currency, c.total)
		ok, msg := h.api.preCheckoutAnswer(id, 10*time.Second)
		if ok != c.want {
			t.Errorf("%s: ok %v, want %v", c.name, ok, c.want)
		}
		if !ok && !strings.Contains(msg, "/topup") {
			t.Errorf("%s: refusal %q", c.name, msg)
		}
	}
	// A broker that does not bill would take Stars it cannot credit.
	acc.set(func(a *fakeAccounts) { a.off = true })
	if ok, _ := h.api.preCheckoutAnswer(h.api.preCheckout(alice, starsPayload(alice.ID, 100), "XTR", 100), 10*time.Second); ok {
		t.Errorf("pre-checkout accepted with billing off")
	}
	if acc.credits != 0 {
		t.Errorf("a pre-checkout credited something")
	}
}

func TestStarsPaymentIsRetriedUntilTheBrokerTakesIt(t *testing.T) {
	acc := newFakeAccounts()
	h := newHarness(t, func(c *Config) { c.Accounts = acc; c.CreditRetry = 300 * time.Millisecond })
	acc.set(func(a *fakeAccounts) { a.down = true })
	h.api.paid(alice, starsPayload(alice.ID, 50), 50, "stxDELAYED1")
	h.api.waitText(alice.ID, "Crediting is delayed", 10*time.Second)

	// The bot restarts while the broker is down: the payment is not lost.
	h.stop()
	h.start()
	acc.set(func(a *fakeAccounts) { a.down = false })
	m := h.api.waitText(alice.ID, "50 ⭐ received: 0.5 TON added", 10*time.Second)
	if !strings.Contains(m.Visible, "Balance: 0.5 TON") {
		t.Errorf("credited late: %q", m.Visible)
	}
	// Telegram delivers the same payment again: nothing more.
	h.api.paid(alice, starsPayload(alice.ID, 50), 50, "stxDELAYED1")
	h.api.waitText(alice.ID, "already credited", 10*time.Second)
	time.Sleep(time.Second) // a few retry periods
	acc.mu.Lock()
	defer acc.mu.Unlock()
	if acc.credits != 1 || acc.balance["tg:1001"] != 50*DefaultStarsNanoTON {
		t.Errorf("credits %d, balance %d", acc.credits, acc.balance["tg:1001"])
	}
	if n, _ := h.rdb.HLen(context.Background(), starsPendingKey).Result(); n != 0 {
		t.Errorf("%d payments still pending", n)
	}
}

func TestLowBalanceMessageShowsTheBalance(t *testing.T) {
	acc := newFakeAccounts()
	acc.balance["tg:1001"] = 1500
	prices, _ := ledger.ParsePrices("tiny:latest=1000/2000")
	h := newHarness(t, func(c *Config) { c.Accounts = acc; c.Prices = prices; c.MaxTokens = 100 })
	h.asker.answer = func(*submit.Request) script {
		return script{Err: &wire.Error{Code: wire.CodeInsufficient, Status: http.StatusPaymentRequired, Message: "poor"}}
	}
	h.api.say(alice.ID, alice, "hello")
	m := h.api.waitText(alice.ID, "/topup", 10*time.Second)
	req := h.asker.reqs()[0]
	need, err := prices["tiny:latest"].ReserveAmount(int64(submit.PromptBytes(req.Messages)), 100, ledger.CoefOne)
	if err != nil {
		t.Fatal(err)
	}
	want := "Your balance (0.0000015 TON) does not cover this answer (up to " + ledger.FormatTON(need) + " TON)"
	if !strings.Contains(m.Visible, want) {
		t.Errorf("low-balance message %q lacks %q", m.Visible, want)
	}
	if strings.Contains(m.Visible, footerRule) {
		t.Errorf("the refusal came with a footer: %q", m.Visible)
	}
	// Billing answers in a group go to the private chat.
	const group = -300
	h.api.setChatType(group, "supergroup")
	for _, c := range []string{"/balance", "/usage", "/topup", "/apikey"} {
		h.api.say(group, alice, c)
	}
	h.api.waitFor("four private-only replies", 10*time.Second, func() bool {
		n := 0
		for _, m := range h.api.botMessages(group) {
			if strings.Contains(m.Visible, "private chat only") {
				n++
			}
		}
		return n == 4
	})
	if len(h.api.callsTo("sendInvoice", 0))+len(h.api.callsTo("sendPhoto", 0)) != 0 {
		t.Errorf("a top-up was offered in a group")
	}
}
