package ton

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/xssnick/tonutils-go/tlb"
)

// Ledger is the part of the ledger the deposit watcher credits. Credit must be
// idempotent by opID: the watcher may credit a transaction again after a
// crash, and the second call must change nothing.
type Ledger interface {
	Credit(ctx context.Context, user, opID, source string, amount int64) error
}

// CreditSource is the ledger source of TON deposits.
const CreditSource = "ton"

// maxMemoRecord caps the comment stored with an unmatched transfer.
const maxMemoRecord = 256

// deposit is what one transaction of the deposit account means for the
// ledger: skip it, credit user, or record it for manual refund.
type deposit struct {
	skip   bool // not an incoming transfer (e.g. an outgoing transfer)
	user   string
	amount int64
	rec    Unmatched // filled for every incoming transfer; Reason set when refused
}

// classify reads one transaction of the deposit account. It never fails: a
// transfer that cannot be credited gets a Reason.
func classify(tx *tlb.Transaction) deposit {
	if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
		return deposit{skip: true}
	}
	in := tx.IO.In.AsInternal()
	d := deposit{rec: Unmatched{
		TxHash: hex.EncodeToString(tx.Hash),
		LT:     tx.LT,
		Time:   tx.Now,
		From:   in.SrcAddr.String(),
		Amount: in.Amount.Nano().String(),
		Memo:   truncate(in.Comment(), maxMemoRecord),
	}}
	refuse := func(r Reason, detail string) deposit {
		d.rec.Reason, d.rec.Detail = r, detail
		return d
	}
	if in.Bounced {
		return refuse(ReasonBounced, "a bounced message is not a deposit")
	}
	if returnedToSender(tx) {
		return refuse(ReasonReturned, "the deposit account bounced the transfer back to the sender")
	}
	value := in.Amount.Nano()
	if value.Sign() <= 0 {
		return refuse(ReasonZeroValue, "no TON attached")
	}
	if !value.IsInt64() {
		return refuse(ReasonTooLarge, "amount does not fit the ledger")
	}
	if d.rec.Memo == "" {
		if op, ok := bodyOp(in); ok {
			return refuse(ReasonNoMemo, fmt.Sprintf("body is not a text comment (op 0x%08x)", op))
		}
		return refuse(ReasonNoMemo, "no comment")
	}
	user, err := ParseMemo(in.Comment())
	if err != nil {
		return refuse(ReasonBadMemo, err.Error())
	}
	d.user, d.amount = user, value.Int64()
	return d
}

// returnedToSender reports whether the transaction bounced the incoming value
// back (a bounceable transfer to an account that could not take it).
func returnedToSender(tx *tlb.Transaction) bool {
	desc, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
	if !ok || desc.BouncePhase == nil {
		return false
	}
	_, ok = desc.BouncePhase.Phase.(tlb.BouncePhaseOk)
	return ok
}

func bodyOp(in *tlb.InternalMessage) (uint32, bool) {
	if in.Body == nil {
		return 0, false
	}
	s, err := in.Body.BeginParse()
	if err != nil {
		return 0, false
	}
	op, err := s.LoadUInt(32)
	if err != nil || op == 0 {
		return 0, false
	}
	return uint32(op), true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
