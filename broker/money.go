package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/wire"
)

// Money turns on billing: each job reserves (prompt bytes + max tokens) ×
// price before it is queued, and is settled from the worker's token counts
// (or released) when it ends. Nil Config.Money means jobs are free.
type Money struct {
	Ledger       *ledger.Ledger
	Prices       ledger.Prices // COCOON_PRICES
	CommissionBP int64         // operator commission in basis points (COCOON_COMMISSION_BP)
	Trial        int64         // nanoTON credited once to each new user (COCOON_TRIAL_CREDIT_NANOTON)
}

// reservation is what reserve did for one job.
type reservation struct {
	amount int64  // nanoTON reserved (0: billing is off)
	payer  string // the account that pays
	intent string // the submit's intent value (intents.go)
	dup    bool   // the job id held this account's reservation already
}

// reserve grants the trial credit on a user's first job and reserves the
// job's maximum cost, after writing the submit's intent.
func (b *Broker) reserve(ctx context.Context, req *wire.SubmitRequest) (reservation, *wire.Error) {
	m := b.cfg.Money
	if m == nil {
		return reservation{}, nil
	}
	price, err := m.Prices.Lookup(req.Model)
	if err != nil {
		return reservation{}, &wire.Error{Code: wire.CodeUnknownModel, Field: "model", Status: http.StatusNotFound,
			Message: fmt.Sprintf("model %q has no price (COCOON_PRICES)", req.Model)}
	}
	amount, err := price.ReserveAmount(int64(req.PromptBytes), int64(req.MaxTokens), int64(maxCoef(req)))
	if err != nil {
		return reservation{}, &wire.Error{Code: wire.CodeBadRequest, Status: http.StatusBadRequest, Message: err.Error()}
	}
	payer, err := b.payer(ctx, req.User)
	if err != nil {
		return reservation{}, b.moneyErr("payer", err)
	}
	if b.cfg.Escrows != nil && b.cfg.Escrows.Closing(ctx, payer) {
		return reservation{}, &wire.Error{Code: wire.CodeInsufficient, Status: http.StatusPaymentRequired,
			Message: "your escrow is closing: no new credit until it is withdrawn"}
	}
	if m.Trial > 0 {
		if _, err := m.Ledger.GrantTrial(ctx, payer, m.Trial); err != nil {
			return reservation{}, b.moneyErr("trial credit", err)
		}
	}
	// The intent first: a reservation whose job is never stored (a crash,
	// a lost reply) is then found and given back (intents.go).
	shard := wire.ShardOf(req.Model)
	intent, err := b.store.intend(ctx, shard, req.ID, payer)
	if err != nil {
		return reservation{}, b.internalErr("submit intent", err)
	}
	rc, err := m.Ledger.Reserve(ctx, payer, req.ID, amount)
	if err != nil {
		var ie *ledger.InsufficientBalanceError
		if errors.As(err, &ie) {
			// Nothing reserved; an intent left behind is dropped by the
			// reconciler, finding no reservation.
			_ = b.store.dropIntent(ctx, shard, req.ID, intent)
			return reservation{}, &wire.Error{Code: wire.CodeInsufficient, Status: http.StatusPaymentRequired,
				Message: fmt.Sprintf("balance %s TON does not cover this request (up to %s TON); top up first",
					ledger.FormatTON(ie.Balance), ledger.FormatTON(ie.Needed))}
		}
		// The reservation may have been made (a lost reply): the intent
		// stays, and the reconciler undoes it unless the job gets queued
		// (a retry with this id).
		return reservation{}, b.moneyErr("reserve", err)
	}
	return reservation{amount: amount, payer: payer, intent: intent, dup: rc.Duplicate}, nil
}

func (b *Broker) moneyErr(op string, err error) *wire.Error {
	ref := randHex(4)
	b.log.Error("ledger "+op, "ref", ref, "err", err)
	return &wire.Error{Code: wire.CodeUnavailable, Status: http.StatusServiceUnavailable, RetryAfterMs: 1000,
		Message: "billing temporarily unavailable (ref " + ref + ")"}
}

// payer is the ledger account that pays for user's jobs.
func (b *Broker) payer(ctx context.Context, user string) (string, error) {
	if b.cfg.Payer == nil {
		return user, nil
	}
	return b.cfg.Payer(ctx, user)
}

// handleBalance answers a user's balance (GET /v1/users/{user}/balance).
func (b *Broker) handleBalance(w http.ResponseWriter, r *http.Request) {
	if b.cfg.Money == nil {
		writeJSON(w, http.StatusOK, wire.Balance{})
		return
	}
	user := r.PathValue("user")
	if !userRe.MatchString(user) {
		badRequest(w, "user", "want a user id like tg:42")
		return
	}
	user, err := b.payer(r.Context(), user)
	if err != nil {
		b.internal(w, "balance", err)
		return
	}
	bal, err := b.cfg.Money.Ledger.Balance(r.Context(), user)
	if err != nil {
		b.internal(w, "balance", err)
		return
	}
	writeJSON(w, http.StatusOK, wire.Balance{Available: bal.Available, Reserved: bal.Reserved, Billing: true})
}

// handleCredit credits a confirmed payment (the bot's Stars payments; the
// deposit watcher runs in-process and calls the ledger itself).
func (b *Broker) handleCredit(w http.ResponseWriter, r *http.Request) {
	b.paymentOp(w, r, "credited", []ledger.Source{ledger.SourceStars, ledger.SourceTON, ledger.SourceEscrow},
		func(ctx context.Context, user string, req *wire.CreditRequest) (ledger.Receipt, error) {
			return b.cfg.Money.Ledger.Credit(ctx, user, req.OpID, ledger.Source(req.Source), req.Amount)
		})
}

// handleRefund debits a refunded payment (POST /v1/users/{user}/refunds):
// Stars payments refunded with refundStarPayment. Idempotent by OpID; it
// refuses more than the user's balance (the credit was spent) or than its
// Stars deposits.
func (b *Broker) handleRefund(w http.ResponseWriter, r *http.Request) {
	b.paymentOp(w, r, "refund debited", []ledger.Source{ledger.SourceStars},
		func(ctx context.Context, user string, req *wire.CreditRequest) (ledger.Receipt, error) {
			return b.cfg.Money.Ledger.StarsRefund(ctx, user, req.OpID, req.Amount)
		})
}

// paymentOp decodes and validates a CreditRequest for one of sources, runs
// op on the ledger and answers with the balance (idempotent by op id).
func (b *Broker) paymentOp(w http.ResponseWriter, r *http.Request, what string, sources []ledger.Source,
	op func(ctx context.Context, user string, req *wire.CreditRequest) (ledger.Receipt, error)) {
	if b.cfg.Money == nil {
		writeErr(w, http.StatusNotFound, &wire.Error{Code: wire.CodeNotFound, Message: "billing is off on this broker"})
		return
	}
	user := r.PathValue("user")
	var req wire.CreditRequest
	if !decodeBody(w, r, 4<<10, &req) {
		return
	}
	if !userRe.MatchString(user) {
		badRequest(w, "user", "want a user id like tg:42")
		return
	}
	if !slices.Contains(sources, ledger.Source(req.Source)) {
		badRequest(w, "source", "want one of %v", sources)
		return
	}
	rc, err := op(r.Context(), user, &req)
	var ie *ledger.InsufficientBalanceError
	switch {
	case errors.As(err, &ie):
		writeErr(w, http.StatusPaymentRequired, &wire.Error{Code: wire.CodeInsufficient,
			Message: fmt.Sprintf("the user's balance %s TON no longer covers %s TON", ledger.FormatTON(ie.Balance), ledger.FormatTON(req.Amount))})
	case errors.Is(err, ledger.ErrInvalidAmount), errors.Is(err, ledger.ErrInvalidID), errors.Is(err, ledger.ErrOverflow):
		badRequest(w, "", "%v", err)
	case errors.Is(err, ledger.ErrConflict):
		writeErr(w, http.StatusConflict, &wire.Error{Code: wire.CodeConflict, Field: "op_id", Message: err.Error()})
	case err != nil:
		b.internal(w, what, err)
	default:
		b.log.Info(what, "user", user, "source", req.Source, "amount", req.Amount, "duplicate", rc.Duplicate)
		writeJSON(w, http.StatusOK, wire.CreditResponse{Balance: rc.Balance, Duplicate: rc.Duplicate})
	}
}

// handleAccount answers a user's balance, last charges and 30-day usage.
func (b *Broker) handleAccount(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	if !userRe.MatchString(user) {
		badRequest(w, "user", "want a user id like tg:42")
		return
	}
	out := wire.Account{Charges: []wire.Charge{}, Usage: []wire.UsageRow{}}
	if b.cfg.Money == nil {
		writeJSON(w, http.StatusOK, out)
		return
	}
	user, err := b.payer(r.Context(), user)
	if err != nil {
		b.internal(w, "account", err)
		return
	}
	l := b.cfg.Money.Ledger
	bal, err := l.Balance(r.Context(), user)
	if err != nil {
		b.internal(w, "account", err)
		return
	}
	out.Balance = wire.Balance{Available: bal.Available, Reserved: bal.Reserved, Billing: true}
	charges, err := l.RecentCharges(r.Context(), user, 10)
	if err != nil {
		b.internal(w, "account", err)
		return
	}
	for _, c := range charges {
		out.Charges = append(out.Charges, wire.Charge{JobID: c.JobID, Model: c.Model, PromptTokens: c.PromptTokens,
			CompletionTokens: c.CompletionTokens, Amount: c.Amount, AtUnix: c.At.Unix()})
	}
	usage, err := l.Usage(r.Context(), user, 30)
	if err != nil {
		b.internal(w, "account", err)
		return
	}
	for _, u := range usage {
		out.Usage = append(out.Usage, wire.UsageRow{Day: u.Day, Model: u.Model, PromptTokens: u.PromptTokens,
			CompletionTokens: u.CompletionTokens, Cost: u.Cost, Jobs: u.Jobs})
	}
	writeJSON(w, http.StatusOK, out)
}
