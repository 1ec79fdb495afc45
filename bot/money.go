package bot

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	tele "gopkg.in/telebot.v3"

	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/ton"
	"github.com/cocoon-network/cocoon/wire"
)

// The money commands: /balance, /usage and /topup read the broker's ledger
// through Config.Accounts; the footer's cost and the low-balance message
// too. Amounts are nanoTON, shown in TON.

// tonText shows nanoTON as TON.
func tonText(n int64) string { return ledger.FormatTON(n) + " TON" }

// privateOnly answers money and key commands sent in a group: balances,
// usage and keys are nobody else's business. It reports whether in may go on.
func (b *Bot) privateOnly(ctx context.Context, in incoming, lang string) bool {
	if in.Private {
		return true
	}
	b.say(ctx, in, T(lang, "private_only", "@"+b.me.Username))
	return false
}

// billing reads the user's balance; ok is false when there is nothing to
// show (billing off, or the broker failed: the reply was sent).
func (b *Bot) billing(ctx context.Context, in incoming, lang string) (*wire.Balance, bool) {
	if b.cfg.Accounts == nil {
		b.say(ctx, in, T(lang, "billing_off"))
		return nil, false
	}
	bal, err := b.cfg.Accounts.Balance(ctx, userID(in.User))
	if err != nil {
		b.say(ctx, in, b.describe(err, lang, "", 0))
		return nil, false
	}
	if !bal.Billing {
		b.say(ctx, in, T(lang, "billing_off"))
		return nil, false
	}
	return bal, true
}

// account fetches the user's account for /balance and /usage (private
// chats only), answering itself when it cannot.
func (b *Bot) account(ctx context.Context, in incoming, lang string) (*wire.Account, bool) {
	if !b.privateOnly(ctx, in, lang) {
		return nil, false
	}
	if b.cfg.Accounts == nil {
		b.say(ctx, in, T(lang, "billing_off"))
		return nil, false
	}
	acc, err := b.cfg.Accounts.Account(ctx, userID(in.User))
	if err != nil {
		b.say(ctx, in, b.describe(err, lang, "", 0))
		return nil, false
	}
	if !acc.Balance.Billing {
		b.say(ctx, in, T(lang, "billing_off"))
		return nil, false
	}
	return acc, true
}

// cmdBalance answers /balance: available, reserved, the last charges.
func (b *Bot) cmdBalance(ctx context.Context, in incoming, lang string) {
	acc, ok := b.account(ctx, in, lang)
	if !ok {
		return
	}
	var sb strings.Builder
	sb.WriteString(T(lang, "balance", tonText(acc.Balance.Available), tonText(acc.Balance.Reserved)))
	if len(acc.Charges) > 0 {
		sb.WriteString("\n\n" + T(lang, "balance_charges"))
		for _, c := range acc.Charges {
			fmt.Fprintf(&sb, "\n%s · %s · %s · %s", time.Unix(c.AtUnix, 0).UTC().Format("2006-01-02 15:04"),
				c.Model, T(lang, "footer.tokens", c.PromptTokens, c.CompletionTokens), tonText(c.Amount))
		}
	}
	sb.WriteString("\n\n" + T(lang, "balance_hint"))
	b.say(ctx, in, truncate16(sb.String(), MaxMessage-10))
}

// cmdUsage answers /usage: tokens and cost per day and model over the
// broker's usage window (30 days), with the total.
func (b *Bot) cmdUsage(ctx context.Context, in incoming, lang string) {
	acc, ok := b.account(ctx, in, lang)
	if !ok {
		return
	}
	if len(acc.Usage) == 0 {
		b.say(ctx, in, T(lang, "usage_none"))
		return
	}
	rows := append([]wire.UsageRow(nil), acc.Usage...)
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Day != rows[j].Day {
			return rows[i].Day > rows[j].Day
		}
		return rows[i].Model < rows[j].Model
	})
	var total wire.UsageRow
	var sb strings.Builder
	sb.WriteString(T(lang, "usage_title"))
	for _, r := range rows {
		fmt.Fprintf(&sb, "\n%s · %s: %s", r.Day, r.Model, T(lang, "usage_row", r.Jobs,
			T(lang, "footer.tokens", r.PromptTokens, r.CompletionTokens), tonText(r.Cost)))
		total.Jobs += r.Jobs
		total.PromptTokens += r.PromptTokens
		total.CompletionTokens += r.CompletionTokens
		total.Cost += r.Cost
	}
	// The total goes first if the list must be cut.
	head := T(lang, "usage_total", T(lang, "usage_row", total.Jobs,
		T(lang, "footer.tokens", total.PromptTokens, total.CompletionTokens), tonText(total.Cost)))
	b.say(ctx, in, truncate16(head+"\n\n"+sb.String(), MaxMessage-10))
}

// cmdTopup answers /topup: the TON deposit (address, the user's memo, a
// ton:// link and its QR code) when a deposit address is set, and buttons
// for Telegram Stars invoices.
func (b *Bot) cmdTopup(ctx context.Context, in incoming, lang string) {
	if !b.privateOnly(ctx, in, lang) {
		return
	}
	if _, ok := b.billing(ctx, in, lang); !ok {
		return
	}
	if t := b.cfg.TON; t != nil {
		tp, err := ton.NewTopup(t.Network, t.Deposit, userID(in.User), 0)
		if err != nil {
			b.say(ctx, in, b.internal(lang, "ton topup", err))
			return
		}
		caption := T(lang, "topup_ton", tp.Address, tp.Memo, tp.Link)
		if err := b.tg.sendPhoto(ctx, in.Place, tp.QR, caption); err != nil && ctx.Err() == nil {
			b.log.Warn("send the TON top-up QR", "chat", in.Place.Chat, "err", b.tg.redact(err))
			b.say(ctx, in, caption) // the text alone still works
		}
	}
	var rows [][]tele.InlineButton
	var row []tele.InlineButton
	for _, n := range b.cfg.StarAmounts {
		row = append(row, tele.InlineButton{Text: T(lang, "btn.stars", n, tonText(int64(n)*b.cfg.StarsNanoTON)),
			Data: "s:" + strconv.Itoa(n)})
		if len(row) == 2 {
			rows, row = append(rows, row), nil
		}
	}
	if len(row) > 0 {
		rows = append(rows, row)
	}
	b.sayMarkup(ctx, in, T(lang, "topup_stars", tonText(b.cfg.StarsNanoTON)), &tele.ReplyMarkup{InlineKeyboard: rows})
}

// insufficient is the low-balance message: the broker refused the job
// before queuing it (402). It says the balance, what the answer may need
// when the price is known, and how to top up.
func (b *Bot) insufficient(ctx context.Context, lang string, user int64, req *submit.Request) string {
	if b.cfg.Accounts == nil {
		return T(lang, "insufficient")
	}
	bal, err := b.cfg.Accounts.Balance(ctx, userID(user))
	if err != nil {
		b.log.Warn("balance for the low-balance message", "user", user, "err", err)
		return T(lang, "insufficient")
	}
	if req != nil {
		if p, ok := b.cfg.Prices[req.Model]; ok {
			need, err := p.ReserveAmount(int64(submit.PromptBytes(req.Messages)), int64(req.MaxTokens), ledger.CoefOne)
			if err == nil {
				return T(lang, "insufficient_need", tonText(bal.Available), tonText(need))
			}
		}
	}
	return T(lang, "insufficient_balance", tonText(bal.Available))
}

// costLine is the footer's cost of a finished job ("" when billing is off
// or the charge did not arrive within CostWait).
func (b *Bot) costLine(ctx context.Context, user int64, res *submit.Result) string {
	if b.cfg.Accounts == nil || res == nil || res.JobID == "" || !b.billingOn(ctx, user) {
		return ""
	}
	if c := b.cfg.Accounts.Cost(ctx, res.JobID, b.cfg.CostWait); c != nil {
		return tonText(*c)
	}
	return ""
}

// billingOn reports whether the broker bills (asked at most once a minute),
// so a free broker does not make every footer wait CostWait for a charge
// that never comes.
func (b *Bot) billingOn(ctx context.Context, user int64) bool {
	b.cacheMu.Lock()
	if !b.billingAt.IsZero() && time.Since(b.billingAt) < time.Minute {
		on := b.billingOnV
		b.cacheMu.Unlock()
		return on
	}
	b.cacheMu.Unlock()
	bal, err := b.cfg.Accounts.Balance(ctx, userID(user))
	if err != nil {
		return true // the cost wait still ends after CostWait
	}
	b.cacheMu.Lock()
	b.billingOnV, b.billingAt = bal.Billing, time.Now()
	b.cacheMu.Unlock()
	return bal.Billing
}

// priceLabel is the price beside a model in /model ("" if unknown).
func (b *Bot) priceLabel(model string) string {
	p, ok := b.cfg.Prices[model]
	if !ok {
		return ""
	}
	return ledger.FormatTON(p.PromptPer1K) + "/" + ledger.FormatTON(p.CompletionPer1K) + " TON"
}

// cmdPrice answers the admin's /price: the price table the bot was given
// (the broker's COCOON_PRICES). Prices change with that setting and a
// restart, not from the chat.
func (b *Bot) cmdPrice(ctx context.Context, in incoming, lang string) {
	if len(b.cfg.Prices) == 0 {
		b.say(ctx, in, T(lang, "price_none"))
		return
	}
	names := make([]string, 0, len(b.cfg.Prices))
	for m := range b.cfg.Prices {
		names = append(names, m)
	}
	sort.Strings(names)
	var sb strings.Builder
	sb.WriteString(T(lang, "price_title"))
	for _, m := range names {
		p := b.cfg.Prices[m]
		fmt.Fprintf(&sb, "\n%s: %s", m, T(lang, "price_row", ledger.FormatTON(p.PromptPer1K), ledger.FormatTON(p.CompletionPer1K)))
	}
	b.say(ctx, in, truncate16(sb.String(), MaxMessage-10))
}

// isInsufficient reports the broker's 402 insufficient_balance.
func isInsufficient(err error) bool {
	var we *wire.Error
	return errors.As(err, &we) && we.Code == wire.CodeInsufficient
}
