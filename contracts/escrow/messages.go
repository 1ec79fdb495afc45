package escrow

import (
	"crypto/ed25519"
	"fmt"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Opcodes: the first 32 bits of each message body.
const (
	OpDeposit      uint32 = 0xbc7381ca // deposit query_id:uint64
	OpRedeem       uint32 = 0x06fe75b5 // redeem query_id:uint64 signature:bits512 voucher:^Voucher
	OpRequestClose uint32 = 0xc7436050 // request_close query_id:uint64
	OpWithdraw     uint32 = 0x91435424 // withdraw query_id:uint64
	OpRedeemed     uint32 = 0xaa51f1ec // escrow → treasury: query_id:uint64 seqno:uint64 cumulative:Coins
	OpWithdrawn    uint32 = 0x449a0457 // escrow → client: query_id:uint64
)

// ExitCode is a compute-phase exit code thrown by the escrow.
type ExitCode int

// Exit codes of escrow.tolk (contracts/README.md explains each).
const (
	ExitNotClient               ExitCode = 130
	ExitBadSignature            ExitCode = 131
	ExitWrongEscrow             ExitCode = 132
	ExitVoucherExpired          ExitCode = 133
	ExitSeqnoNotIncreasing      ExitCode = 134
	ExitCumulativeNotIncreasing ExitCode = 135
	ExitOverBalance             ExitCode = 136
	ExitClosed                  ExitCode = 137
	ExitCloseNotRequested       ExitCode = 138
	ExitCloseDelayNotPassed     ExitCode = 139
	ExitAlreadyClosing          ExitCode = 140
	ExitBadVoucher              ExitCode = 141
	ExitUnknownOp               ExitCode = 0xFFFF
)

var exitText = map[ExitCode]string{
	ExitNotClient:               "sender is not the escrow's client",
	ExitBadSignature:            "voucher not signed by the service key",
	ExitWrongEscrow:             "voucher is for another escrow",
	ExitVoucherExpired:          "voucher expired",
	ExitSeqnoNotIncreasing:      "voucher seqno not above the last redeemed (replay)",
	ExitCumulativeNotIncreasing: "voucher amount not above what was redeemed (replay)",
	ExitOverBalance:             "amount due exceeds the escrow's free balance",
	ExitClosed:                  "escrow closed: only withdraw is allowed",
	ExitCloseNotRequested:       "withdraw without a close request",
	ExitCloseDelayNotPassed:     "close delay has not passed",
	ExitAlreadyClosing:          "close already requested",
	ExitBadVoucher:              "signed cell is not a voucher",
	ExitUnknownOp:               "unknown opcode",
}

func (c ExitCode) String() string {
	if s, ok := exitText[c]; ok {
		return fmt.Sprintf("%d (%s)", int(c), s)
	}
	return fmt.Sprintf("%d", int(c))
}

func opBody(op uint32, queryID uint64) *cell.Cell {
	return cell.BeginCell().MustStoreUInt(uint64(op), 32).MustStoreUInt(queryID, 64).EndCell()
}

// DepositBody is a deposit with a query id. Plain transfers and text comments deposit too.
func DepositBody(queryID uint64) *cell.Cell { return opBody(OpDeposit, queryID) }

// RequestCloseBody starts the close delay; only the client may send it.
func RequestCloseBody(queryID uint64) *cell.Cell { return opBody(OpRequestClose, queryID) }

// WithdrawBody sends the whole balance to the client once the close delay has
// passed; only the client may send it.
func WithdrawBody(queryID uint64) *cell.Cell { return opBody(OpWithdraw, queryID) }

// RedeemBody is the body of a redeem, for an external or an internal message.
func RedeemBody(v Voucher, sig []byte, queryID uint64) (*cell.Cell, error) {
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature must be %d bytes", ErrInvalid, ed25519.SignatureSize)
	}
	vc, err := v.Cell()
	if err != nil {
		return nil, err
	}
	return cell.BeginCell().
		MustStoreUInt(uint64(OpRedeem), 32).
		MustStoreUInt(queryID, 64).
		MustStoreSlice(sig, 512).
		MustStoreRef(vc).
		EndCell(), nil
}

// ExternalRedeem is the external message that redeems v at v.Escrow. The
// escrow pays its own gas and forwarding; the treasury receives exactly the
// amount due. Replays and forgeries are refused before the contract accepts
// the message, so they cost nothing.
func ExternalRedeem(v Voucher, sig []byte, queryID uint64) (*tlb.ExternalMessage, error) {
	body, err := RedeemBody(v, sig, queryID)
	if err != nil {
		return nil, err
	}
	return &tlb.ExternalMessage{DstAddr: v.Escrow, Body: body}, nil
}

// Redeemed is the body of a payment from an escrow to the treasury.
type Redeemed struct {
	QueryID    uint64
	Seqno      uint64 // the redeemed voucher's seqno
	Cumulative uint64 // the redeemed voucher's cumulative amount
}

// ParseRedeemed reads the body of a payment from an escrow to the treasury.
func ParseRedeemed(body *cell.Cell) (Redeemed, error) {
	var r Redeemed
	if body == nil {
		return r, fmt.Errorf("%w: empty body", ErrInvalid)
	}
	s, err := body.BeginParse()
	if err != nil {
		return r, fmt.Errorf("redeemed body: %w", err)
	}
	op, err := s.LoadUInt(32)
	if err != nil || uint32(op) != OpRedeemed {
		return r, fmt.Errorf("%w: not a redeemed body", ErrInvalid)
	}
	if r.QueryID, err = s.LoadUInt(64); err != nil {
		return r, fmt.Errorf("redeemed body: query id: %w", err)
	}
	if r.Seqno, err = s.LoadUInt(64); err != nil {
		return r, fmt.Errorf("redeemed body: seqno: %w", err)
	}
	if r.Cumulative, err = s.LoadCoins(); err != nil {
		return r, fmt.Errorf("redeemed body: cumulative: %w", err)
	}
	return r, nil
}
