package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	tele "gopkg.in/telebot.v3"

	"github.com/cocoon-network/cocoon/wire"
)

// Telegram Stars top-ups. /topup offers a button per amount (StarAmounts);
// a press sends an invoice in XTR with an empty provider token and the
// payload "topup:<user id>:<stars>". The pre-checkout query is accepted only
// for a payload that parses, names the paying user and an offered amount,
// in XTR for exactly that many Stars. The successful payment is credited to
// the payer once, by telegram_payment_charge_id, at StarsNanoTON per Star:
// it is recorded as pending first (credits.go retries it until the broker
// takes it), and a replayed payment credits nothing. /refund (admins)
// refunds a payment with refundStarPayment.

// starsCurrency is Telegram Stars.
const starsCurrency = "XTR"

// starsPayload is the invoice payload of a top-up of stars by user.
func starsPayload(user int64, stars int) string {
	return "topup:" + strconv.FormatInt(user, 10) + ":" + strconv.Itoa(stars)
}

var errBadPayload = errors.New("not a Cocoon top-up payload")

// parseStarsPayload reads what starsPayload wrote. Anything else (another
// shape, signs, spaces, leading zeros, overflow) is errBadPayload.
func parseStarsPayload(s string) (user int64, stars int, err error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] != "topup" || !canonicalInt(parts[1]) || !canonicalInt(parts[2]) {
		return 0, 0, errBadPayload
	}
	user, err1 := strconv.ParseInt(parts[1], 10, 64)
	n, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || user <= 0 || n <= 0 || n > maxStars {
		return 0, 0, errBadPayload
	}
	return user, n, nil
}

// canonicalInt: decimal digits, no sign, no leading zero, at most 19.
func canonicalInt(s string) bool {
	if s == "" || len(s) > 19 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// offered reports whether stars is one of the amounts /topup offers.
func (b *Bot) offered(stars int) bool {
	for _, n := range b.cfg.StarAmounts {
		if n == stars {
			return true
		}
	}
	return false
}

// validChargeID reports an id the ledger takes as an op id: 1..128
// printable ASCII bytes without space or { } | * ? [ ] \.
func validChargeID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c > '~' || strings.IndexByte(`{}|*?[]\`, c) >= 0 {
			return false
		}
	}
	return true
}

// onStarsButton sends the invoice for a /topup button ("s:<stars>").
func (b *Bot) onStarsButton(ctx context.Context, in incoming, lang, arg string) string {
	stars, err := strconv.Atoi(arg)
	if err != nil || !canonicalInt(arg) || !b.offered(stars) || !in.Private {
		return T(lang, "button_stale")
	}
	if b.cfg.Accounts == nil {
		return T(lang, "billing_off")
	}
	amount := int64(stars) * b.cfg.StarsNanoTON
	params := map[string]any{
		"chat_id":        in.Place.Chat,
		"title":          T(lang, "invoice_title"),
		"description":    T(lang, "invoice_desc", stars, tonText(amount)),
		"payload":        starsPayload(in.User, stars),
		"provider_token": "",
		"currency":       starsCurrency,
		"prices":         []map[string]any{{"label": T(lang, "invoice_label", stars), "amount": stars}},
	}
	if in.Place.Thread != 0 {
		params["message_thread_id"] = in.Place.Thread
	}
	if err := b.tg.call(ctx, in.Place, "sendInvoice", params); err != nil {
		return b.internal(lang, "sendInvoice", err)
	}
	b.log.Info("stars invoice sent", "user", in.User, "stars", stars)
	return ""
}

// onPreCheckout answers a pre-checkout query: ok only for our payload, the
// payer it names, an offered amount, XTR for exactly that amount, and a
// broker that bills. Telegram wants the answer within 10 seconds.
func (b *Bot) onPreCheckout(ctx context.Context, q *tele.PreCheckoutQuery) {
	lang := languages[0]
	why := ""
	switch user, stars, err := parseStarsPayload(q.Payload); {
	case q.Sender == nil:
		why = "no sender"
	case err != nil:
		why = "payload"
	case user != q.Sender.ID:
		why = "another user's invoice"
	case !b.offered(stars):
		why = "amount not offered"
	case q.Currency != starsCurrency || q.Total != stars:
		why = "currency or total differs from the payload"
	case b.cfg.Accounts == nil:
		why = "billing off"
	}
	if q.Sender != nil {
		lang = b.resolve(ctx, incoming{User: q.Sender.ID, UserLang: q.Sender.LanguageCode, Private: true}).Lang
		if why == "" && b.cfg.Accounts != nil {
			// A broker that does not bill would take Stars it cannot credit.
			if bal, err := b.cfg.Accounts.Balance(ctx, userID(q.Sender.ID)); err == nil && !bal.Billing {
				why = "billing off"
			}
		}
	}
	params := map[string]any{"pre_checkout_query_id": q.ID, "ok": why == ""}
	if why != "" {
		params["error_message"] = T(lang, "precheckout_refused")
	}
	var sender int64
	if q.Sender != nil {
		sender = q.Sender.ID
	}
	b.log.Info("stars pre-checkout", "query", q.ID, "user", sender, "stars", q.Total, "ok", why == "", "why", why)
	if err := b.tg.call(ctx, place{}, "answerPreCheckoutQuery", params); err != nil && ctx.Err() == nil {
		b.log.Warn("answerPreCheckoutQuery", "query", q.ID, "err", b.tg.redact(err))
	}
}

// onPayment credits a successful Stars payment to the payer, once per
// charge id. redelivered is an update already seen: it is credited (if it
// was not yet) but not answered twice.
func (b *Bot) onPayment(ctx context.Context, m *tele.Message, redelivered bool) {
	p := m.Payment
	if m.Sender == nil || m.Chat == nil {
		b.log.Error("a payment without a sender", "charge", p.TelegramChargeID)
		return
	}
	private := m.Chat.Type == tele.ChatPrivate
	in := incoming{User: m.Sender.ID, UserLang: m.Sender.LanguageCode, Private: private, MsgID: m.ID,
		Place: place{Chat: m.Chat.ID, Group: !private}, Conv: conv{Chat: m.Chat.ID}}
	lang := b.resolve(ctx, in).Lang
	if p.Currency != starsCurrency || !validChargeID(p.TelegramChargeID) || p.Total <= 0 || p.Total > maxStars {
		ref := newRef()
		b.log.Error("a payment the bot cannot credit", "ref", ref, "user", in.User, "currency", p.Currency,
			"total", p.Total, "charge", p.TelegramChargeID)
		b.say(ctx, in, T(lang, "payment_failed", ref))
		return
	}
	if user, stars, err := parseStarsPayload(p.Payload); err != nil || user != in.User || stars != p.Total {
		// Pre-checkout refuses these; the Stars are paid all the same, so
		// the payer gets them.
		b.log.Warn("a payment whose payload does not match; crediting the payer", "user", in.User, "charge", p.TelegramChargeID)
	}
	c := starsCredit{Charge: p.TelegramChargeID, User: in.User, Chat: in.Place.Chat, Stars: p.Total,
		Amount: int64(p.Total) * b.cfg.StarsNanoTON, AtMs: time.Now().UnixMilli()}
	c, err := b.st.pendCredit(ctx, c)
	if err != nil {
		// Not recorded: try the credit anyway (it is idempotent).
		b.log.Error("record a pending Stars credit", "charge", c.Charge, "err", err)
	}
	resp, outcome, err := b.creditStars(ctx, c)
	switch outcome {
	case creditDone:
		if resp.Duplicate {
			if !redelivered {
				b.say(ctx, in, T(lang, "payment_duplicate", c.Charge))
			}
			return
		}
		b.say(ctx, in, T(lang, "payment_credited", c.Stars, tonText(c.Amount), tonText(resp.Balance)))
	case creditRefused:
		ref := newRef()
		b.log.Error("the broker refused a Stars credit", "ref", ref, "user", in.User, "charge", c.Charge, "err", err)
		b.say(ctx, in, T(lang, "payment_failed", ref))
	default:
		if !redelivered {
			b.say(ctx, in, T(lang, "payment_delayed", c.Stars))
		}
	}
}

// cmdRefund is the admin's /refund USER_ID CHARGE_ID: the ledger is debited
// what the payment credited (once, op "refund:<charge>"; refused when the
// credit was spent), then refundStarPayment is called; if Telegram refuses,
// the debit is undone with a credit of the same amount.
func (b *Bot) cmdRefund(ctx context.Context, in incoming, lang string) {
	f := strings.Fields(in.Args)
	if len(f) != 2 {
		b.say(ctx, in, T(lang, "refund_usage"))
		return
	}
	user, err := strconv.ParseInt(strings.TrimPrefix(f[0], "tg:"), 10, 64)
	if err != nil || user <= 0 || !validChargeID(f[1]) {
		b.say(ctx, in, T(lang, "refund_usage"))
		return
	}
	charge := f[1]
	paid, found, perr := b.st.paidCredit(ctx, charge)
	if perr != nil {
		b.log.Warn("read a paid Stars credit", "charge", charge, "err", perr)
	}
	owner := fmt.Sprintf("tg:%d", user)
	if found && b.cfg.Accounts != nil {
		if _, err := b.cfg.Accounts.Refund(ctx, owner, wire.CreditRequest{Source: "stars", OpID: "refund:" + charge, Amount: paid.Amount}); err != nil {
			b.log.Warn("debit a Stars refund", "admin", in.User, "user", user, "charge", charge, "err", err)
			b.say(ctx, in, T(lang, "refund_failed", err.Error()))
			return
		}
	}
	err = b.tg.call(ctx, place{}, "refundStarPayment", map[string]any{"user_id": user, "telegram_payment_charge_id": charge})
	if err != nil {
		b.log.Warn("refundStarPayment", "admin", in.User, "user", user, "charge", charge, "err", b.tg.redact(err))
		if found && b.cfg.Accounts != nil {
			if _, cerr := b.cfg.Accounts.Credit(ctx, owner, wire.CreditRequest{Source: "stars", OpID: "refund-undo:" + charge, Amount: paid.Amount}); cerr != nil {
				b.log.Error("undo a Stars refund debit", "charge", charge, "err", cerr)
			}
		}
		b.say(ctx, in, T(lang, "refund_failed", b.tg.redact(err)))
		return
	}
	if err := b.st.recordRefund(ctx, charge, starsRefund{User: user, Admin: in.User, AtMs: time.Now().UnixMilli()}); err != nil {
		b.log.Error("record a Stars refund", "charge", charge, "err", err)
	}
	b.log.Info("stars refunded", "admin", in.User, "user", user, "charge", charge, "credited", paid.Amount)
	credited := T(lang, "refund_unknown_credit")
	if found {
		credited = T(lang, "refund_credit", paid.Stars, tonText(paid.Amount), paid.User)
	}
	b.say(ctx, in, T(lang, "refund_done", charge, user, credited))
}

// starsCredit is a Stars payment to credit (pending) or credited (paid).
type starsCredit struct {
	Charge string `json:"charge"`
	User   int64  `json:"user"`
	Chat   int64  `json:"chat"`
	Stars  int    `json:"stars"`
	Amount int64  `json:"amount"` // nanoTON, fixed when the payment arrived
	AtMs   int64  `json:"at"`
	Error  string `json:"error,omitempty"` // why the broker refused it (failed)
}

// starsRefund records an admin refund.
type starsRefund struct {
	User  int64 `json:"user"`
	Admin int64 `json:"admin"`
	AtMs  int64 `json:"at"`
}

// creditOutcome is how one credit attempt ended.
type creditOutcome int

const (
	creditRetry   creditOutcome = iota // the broker could not be asked: keep it pending
	creditDone                         // credited now or before (Duplicate)
	creditRefused                      // the broker refused it for good: moved to failed
)

// creditStars asks the broker to credit c and moves it out of pending when
// that is settled either way.
func (b *Bot) creditStars(ctx context.Context, c starsCredit) (*wire.CreditResponse, creditOutcome, error) {
	if b.cfg.Accounts == nil {
		return nil, creditRetry, errors.New("billing is off")
	}
	resp, err := b.cfg.Accounts.Credit(ctx, userID(c.User), wire.CreditRequest{Source: "stars", OpID: c.Charge, Amount: c.Amount})
	if err == nil {
		if serr := b.st.settleCredit(context.WithoutCancel(ctx), c); serr != nil {
			b.log.Error("record a credited Stars payment", "charge", c.Charge, "err", serr)
		}
		b.log.Info("stars credited", "user", c.User, "charge", c.Charge, "stars", c.Stars, "amount", c.Amount, "duplicate", resp.Duplicate)
		return resp, creditDone, nil
	}
	var we *wire.Error
	if errors.As(err, &we) && we.Status >= 400 && we.Status < 500 && we.Status != 429 {
		c.Error = we.Error()
		if ferr := b.st.failCredit(context.WithoutCancel(ctx), c); ferr != nil {
			b.log.Error("record a refused Stars credit", "charge", c.Charge, "err", ferr)
		}
		return nil, creditRefused, err
	}
	b.log.Warn("Stars credit delayed; will retry", "user", c.User, "charge", c.Charge, "err", err)
	return nil, creditRetry, err
}
