package bot

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-network/cocoon/apikey"
	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/internal/teststack"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/ton"
)

// textAsker remembers the answers' raw text (to look for it in Redis).
type textAsker struct {
	Asker
	mu    sync.Mutex
	texts []string
}

func (a *textAsker) Ask(ctx context.Context, req *submit.Request, queued func(string, int), delta func(string)) (*submit.Result, error) {
	res, err := a.Asker.Ask(ctx, req, queued, delta)
	if res != nil && res.Text != "" {
		a.mu.Lock()
		a.texts = append(a.texts, res.Text)
		a.mu.Unlock()
	}
	return res, err
}

// TestEndToEndMoneyThroughTheBroker runs the money commands against a real
// broker with billing and its ledger (no trial credit), a real worker and
// Ollama: the low-balance message, /topup (TON with memo, link and QR;
// Stars invoice, pre-checkout, payment credited once, the replay crediting
// nothing, a forged pre-checkout refused), an answer whose footer shows the
// ledger's charge, /verify, /balance and /usage matching the ledger, the
// whole Redis free of the prompt and the answer, and an admin refund.
func TestEndToEndMoneyThroughTheBroker(t *testing.T) {
	const priceSetting = "tiny:latest=1000/2000"
	s := teststack.Start(t, teststack.Options{Prices: priceSetting, Trial: 0}) // skips under -short
	s.AddWorker(nil)
	prices, err := ledger.ParsePrices(priceSetting)
	if err != nil {
		t.Fatal(err)
	}
	rdb, ok := s.Redis.(*redis.Client)
	if !ok {
		t.Fatalf("teststack Redis is a %T", s.Redis)
	}
	ctx := context.Background()
	deposit := address.NewAddress(0, 0, bytes.Repeat([]byte{7}, 32))
	const admin = 1009
	asker := &textAsker{Asker: SubmitAsker{New: func() *submit.Submitter {
		return &submit.Submitter{C: s.Client, Policy: attest.Policy{AllowInsecureDev: true}, Secret: []byte("0123456789abcdef0123")}
	}}}
	h := &harness{t: t, api: newFakeAPI(t), rdb: rdb, logs: &testenv.LogBuffer{}}
	h.cfg = Config{Token: h.api.token, APIURL: h.api.URL(), Redis: rdb, HistoryKey: testHistoryKey,
		Asker: asker, Broker: s.Client, Accounts: s.Client, Keys: apikey.New(rdb), Prices: prices,
		TON: &TONTopup{Network: ton.Testnet, Deposit: deposit}, Admins: []int64{admin},
		Pool: BrokerPool(s.URL, teststack.Token, nil), Options: detOpts, MaxTokens: 64,
		PollTimeout: time.Second, ChatInterval: 150 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	h.launch()
	api := h.api
	balance := func() ledger.Balance {
		t.Helper()
		b, err := s.Ledger.Balance(ctx, "tg:1001")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// No credit: the broker refuses the job before queuing it; the bot says
	// the balance and how to top up.
	api.say(alice.ID, alice, "hello")
	low := api.waitText(alice.ID, "/topup", time.Minute)
	if !strings.Contains(low.Visible, "Your balance (0 TON) does not cover this answer (up to ") {
		t.Errorf("low-balance message: %q", low.Visible)
	}

	// /topup: TON with the user's memo, link and QR code, and Stars buttons.
	api.say(alice.ID, alice, "/topup")
	kb := api.waitText(alice.ID, "Telegram Stars", 10*time.Second)
	want, err := ton.NewTopup(ton.Testnet, deposit, "tg:1001", 0)
	if err != nil {
		t.Fatal(err)
	}
	var photo fakeMsg
	for _, m := range api.botMessages(alice.ID) {
		if m.Photo != nil {
			photo = m
		}
	}
	if !bytes.HasPrefix(photo.Photo, []byte("\x89PNG\r\n\x1a\n")) || !bytes.Equal(photo.Photo, want.QR) {
		t.Errorf("the QR photo is not the PNG of the top-up link (%d bytes)", len(photo.Photo))
	}
	for _, w := range []string{want.Address, want.Memo, want.Link, "ton://transfer/", "text=c1-tg%3A1001-"} {
		if !strings.Contains(photo.Visible, w) {
			t.Errorf("TON top-up caption lacks %q:\n%s", w, photo.Visible)
		}
	}
	data := buttons(t, kb)["100 ⭐ → 1 TON"]
	if data != "s:100" {
		t.Fatalf("Stars buttons: %v", buttons(t, kb))
	}
	h.press(alice, kb, data)
	var inv fakeMsg
	api.waitFor("an invoice", 10*time.Second, func() bool {
		for _, m := range api.botMessages(alice.ID) {
			if m.Invoice != nil {
				inv = m
				return true
			}
		}
		return false
	})
	if str(inv.Invoice, "currency") != "XTR" || str(inv.Invoice, "provider_token") != "" ||
		str(inv.Invoice, "payload") != "topup:1001:100" || !strings.Contains(str(inv.Invoice, "prices"), `"amount":100`) {
		t.Errorf("invoice: %v", inv.Invoice)
	}

	// Alice pays: credited once, 100 × 0.01 TON.
	const charge = "stxE2E-charge-0001"
	if !api.pay(alice, inv, charge) {
		t.Fatal("the pre-checkout of the bot's own invoice was refused")
	}
	api.waitText(alice.ID, "100 ⭐ received: 1 TON added. Balance: 1 TON.", 10*time.Second)
	if b := balance(); b.Available != 100*DefaultStarsNanoTON {
		t.Fatalf("balance after the payment: %+v", b)
	}
	// Telegram delivers the payment again: nothing is added.
	api.paid(alice, "topup:1001:100", 100, charge)
	api.waitText(alice.ID, "already credited", 10*time.Second)
	if b := balance(); b.Available != 100*DefaultStarsNanoTON {
		t.Fatalf("the replayed payment credited again: %+v", b)
	}
	// Bob tries to pay with Alice's invoice: refused before any money moves.
	if ok, _ := api.preCheckoutAnswer(api.preCheckout(bob, "topup:1001:100", "XTR", 100), 10*time.Second); ok {
		t.Errorf("a forged pre-checkout was accepted")
	}

	// An answer: its footer shows what the ledger charged.
	marker := fmt.Sprintf("MARKER-%d-c0c0a", time.Now().UnixNano())
	api.say(alice.ID, alice, "tell me about "+marker)
	var final fakeMsg
	api.waitFor("the answer with its cost", 2*time.Minute, func() bool {
		ms := api.botMessages(alice.ID)
		final = ms[len(ms)-1]
		return strings.Contains(footer(final.Visible), "tokens")
	})
	charges, err := s.Ledger.RecentCharges(ctx, "tg:1001", 5)
	if err != nil || len(charges) != 1 {
		t.Fatalf("charges %+v, %v", charges, err)
	}
	ch := charges[0]
	f := footer(final.Visible)
	for _, w := range []string{"tiny:latest", fmt.Sprintf("%d → %d tokens", ch.PromptTokens, ch.CompletionTokens),
		"not attested", ledger.FormatTON(ch.Amount) + " TON"} {
		if !strings.Contains(f, w) {
			t.Errorf("footer %q lacks %q", f, w)
		}
	}

	// /verify: the receipt as the bot's submitter checked it.
	api.say(alice.ID, alice, "/verify")
	v := api.waitText(alice.ID, "Receipts of the last answer", 10*time.Second).Visible
	for _, w := range []string{"Overall: not attested", "Segment 1: ✅ receipt verified", "not attested (insecure-dev)", "model tiny:latest", "worker "} {
		if !strings.Contains(v, w) {
			t.Errorf("/verify lacks %q:\n%s", w, v)
		}
	}

	// /balance and /usage show the ledger's numbers.
	api.say(alice.ID, alice, "/balance")
	bm := api.waitText(alice.ID, "Reserved for answers in progress", 10*time.Second).Visible
	b := balance()
	for _, w := range []string{"Balance: " + ledger.FormatTON(b.Available) + " TON", "in progress: " + ledger.FormatTON(b.Reserved) + " TON",
		fmt.Sprintf("tiny:latest · %d → %d tokens · %s TON", ch.PromptTokens, ch.CompletionTokens, ledger.FormatTON(ch.Amount))} {
		if !strings.Contains(bm, w) {
			t.Errorf("/balance lacks %q:\n%s", w, bm)
		}
	}
	if b.Available != 100*DefaultStarsNanoTON-ch.Amount {
		t.Errorf("balance %d after a charge of %d", b.Available, ch.Amount)
	}
	api.say(alice.ID, alice, "/usage")
	um := api.waitText(alice.ID, "Usage, last 30 days", 10*time.Second).Visible
	rows, err := s.Ledger.Usage(ctx, "tg:1001", 30)
	if err != nil || len(rows) != 1 {
		t.Fatalf("usage %+v, %v", rows, err)
	}
	r := rows[0]
	for _, w := range []string{
		fmt.Sprintf("%s · tiny:latest: answers: %d, %d → %d tokens, %s TON", r.Day, r.Jobs, r.PromptTokens, r.CompletionTokens, ledger.FormatTON(r.Cost)),
		fmt.Sprintf("Usage, last 30 days: answers: %d, %d → %d tokens, %s TON", r.Jobs, r.PromptTokens, r.CompletionTokens, ledger.FormatTON(r.Cost)),
	} {
		if !strings.Contains(um, w) {
			t.Errorf("/usage lacks %q:\n%s", w, um)
		}
	}

	// Nothing the user wrote and nothing the model answered is in Redis as
	// plaintext: not the bot's keys, not the broker's, not the ledger's.
	asker.mu.Lock()
	texts := append([]string(nil), asker.texts...)
	asker.mu.Unlock()
	if len(texts) != 1 || len(strings.TrimSpace(texts[0])) < 8 {
		t.Fatalf("answers seen: %q", texts)
	}
	assertNowhere(t, dumpRedis(t, rdb), marker, texts[0])

	// An admin refunds the payment through Telegram: alice spent part of
	// the credit, so the ledger refuses the debit and Telegram is not asked.
	api.say(admin, user{ID: admin, Lang: "en"}, "/refund 1001 "+charge)
	rf := api.waitText(admin, "Refund not done", 10*time.Second).Visible
	if !strings.Contains(rf, "no longer covers") {
		t.Errorf("refund of a spent credit: %q", rf)
	}
	if calls := api.callsTo("refundStarPayment", 0); len(calls) != 0 {
		t.Errorf("refundStarPayment called for a spent credit: %+v", calls)
	}
	// bob pays 100 Stars and is refunded in full: debited once, refunded once.
	const bobCharge = "stxE2E-charge-bob"
	api.paid(bob, "topup:"+strconv.FormatInt(bob.ID, 10)+":100", 100, bobCharge)
	api.waitText(bob.ID, "received", 10*time.Second)
	api.say(admin, user{ID: admin, Lang: "en"}, "/refund "+strconv.FormatInt(bob.ID, 10)+" "+bobCharge)
	rf = api.waitText(admin, "Refunded payment", 10*time.Second).Visible
	if !strings.Contains(rf, "ledger was debited") {
		t.Errorf("refund reply: %q", rf)
	}
	calls := api.callsTo("refundStarPayment", 0)
	if len(calls) != 1 || num(calls[0].Params, "user_id") != bob.ID || str(calls[0].Params, "telegram_payment_charge_id") != bobCharge {
		t.Errorf("refundStarPayment calls: %+v", calls)
	}
	if b, err := s.Client.Balance(ctx, "tg:"+strconv.FormatInt(bob.ID, 10)); err != nil || b.Available != 0 {
		t.Errorf("bob after refund: %+v %v", b, err)
	}
	api.say(bob.ID, bob, "/refund 1001 "+charge)
	api.waitText(bob.ID, "Unknown command", 10*time.Second)

	rep, err := s.Ledger.Check(ctx)
	if err != nil || !rep.OK() || rep.DepositsStars != 200*DefaultStarsNanoTON || rep.StarsRefunds != 100*DefaultStarsNanoTON {
		t.Errorf("ledger check: %v\n%s", err, rep)
	}
}
