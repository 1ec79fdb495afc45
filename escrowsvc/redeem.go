package escrowsvc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-network/cocoon/contracts/escrow"
)

// PendingVoucher is a signed voucher persisted before it is sent. Until it is
// confirmed (the contract's seqno reaches it) or expires, every poll re-sends
// exactly this message; the contract refuses a replay before accepting it, so
// a retry never pays twice.
type PendingVoucher struct {
	Escrow     string `json:"escrow"` // raw address
	Cumulative uint64 `json:"cumulative"`
	Seqno      uint64 `json:"seqno"`
	Expiry     int64  `json:"expiry"` // unix seconds
	QueryID    uint64 `json:"query_id"`
	Signature  string `json:"sig"` // hex
}

func parsePending(v string) (*PendingVoucher, error) {
	var p PendingVoucher
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return nil, fmt.Errorf("pending voucher %q: %w", v, err)
	}
	return &p, nil
}

func (p *PendingVoucher) message() (*tlb.ExternalMessage, error) {
	addr, err := address.ParseRawAddr(p.Escrow)
	if err != nil {
		return nil, err
	}
	sig, err := hex.DecodeString(p.Signature)
	if err != nil {
		return nil, err
	}
	v := escrow.Voucher{Escrow: addr, Cumulative: p.Cumulative, Seqno: p.Seqno, Expiry: time.Unix(p.Expiry, 0)}
	return escrow.ExternalRedeem(v, sig, p.QueryID)
}

// noteRedeemedScript records a payment to the treasury: redeemed only grows,
// and a pending voucher at or below the paid seqno is done.
//
//	KEYS[1] user hash
//	ARGV[1] cumulative  ARGV[2] seqno  ARGV[3] unix time of the payment
//	returns 1
var noteRedeemedScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'redeemed') or '0'
if #ARGV[1] > #cur or (#ARGV[1] == #cur and ARGV[1] > cur) then
  redis.call('HSET', KEYS[1], 'redeemed', ARGV[1])
  redis.call('HSET', KEYS[1], 'last_redeem', ARGV[3])
end
local p = redis.call('HGET', KEYS[1], 'voucher')
if p then
  local ok, v = pcall(cjson.decode, p)
  if ok and tonumber(v['seqno']) <= tonumber(ARGV[2]) then redis.call('HDEL', KEYS[1], 'voucher') end
end
return 1
`)

func (s *Service) noteRedeemed(ctx context.Context, user string, r escrow.Redeemed, at uint32) error {
	err := noteRedeemedScript.Run(ctx, s.rdb, []string{keyUser(user)},
		strconv.FormatUint(r.Cumulative, 10), strconv.FormatUint(r.Seqno, 10), strconv.FormatUint(uint64(at), 10)).Err()
	if err != nil {
		return fmt.Errorf("note redeem of %s: %w", user, err)
	}
	return nil
}

// savePendingScript persists a voucher unless one is pending.
//
//	KEYS[1] user hash
//	ARGV[1] voucher JSON
//	returns 1 when saved, 0 when another voucher is pending
var savePendingScript = redis.NewScript(`
return redis.call('HSETNX', KEYS[1], 'voucher', ARGV[1])
`)

// dropPendingScript removes the pending voucher if it is still ARGV[1].
//
//	KEYS[1] user hash
//	ARGV[1] voucher JSON
//	returns 1 when removed
var dropPendingScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'voucher') ~= ARGV[1] then return 0 end
return redis.call('HDEL', KEYS[1], 'voucher')
`)

// reconcile reads the escrow's storage (close state, seqno, redeemed) and
// redeems what is owed when a redeem is due.
func (s *Service) reconcile(ctx context.Context, user string, acc *tlb.Account) error {
	data, err := escrow.ParseData(acc.Data)
	if err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, keyUser(user), fCloseAt, strconv.FormatUint(uint64(data.CloseRequestedAt), 10)).Err(); err != nil {
		return fmt.Errorf("store close state: %w", err)
	}
	st, err := s.Status(ctx, user) // after scan: credits, refunds and payments are current
	if err != nil {
		return err
	}
	chainNow, err := s.cfg.Chain.GetTime(ctx)
	if err != nil {
		return fmt.Errorf("chain time: %w", err)
	}
	if p := st.Pending; p != nil {
		raw, _ := json.Marshal(p)
		switch {
		case data.Seqno >= p.Seqno:
			// Landed (its payment is handled when the scan reaches it).
			if err := s.noteRedeemed(ctx, user, escrow.Redeemed{QueryID: p.QueryID, Seqno: data.Seqno, Cumulative: data.Redeemed}, chainNow); err != nil {
				return err
			}
			return nil
		case int64(chainNow) > p.Expiry:
			// Never landed and can no longer land: make a new one below.
			s.log.Warn("escrow voucher expired unredeemed", "user", user, "seqno", p.Seqno, "cumulative", p.Cumulative)
			if err := dropPendingScript.Run(ctx, s.rdb, []string{keyUser(user)}, string(raw)).Err(); err != nil {
				return fmt.Errorf("drop expired voucher: %w", err)
			}
		default:
			return s.send(ctx, user, p)
		}
	}
	return s.maybeRedeem(ctx, st, data, acc.State.Balance.Nano().Uint64(), chainNow)
}

// Owed returns what user owes from escrow funds in total (cumulative, what a
// voucher claims; see the package comment) and how much of it the treasury
// has received.
func (s *Service) Owed(ctx context.Context, user string) (owed int64, redeemed uint64, err error) {
	st, err := s.Status(ctx, user)
	if err != nil {
		return 0, 0, err
	}
	x, err := s.chargedSince(ctx, user)
	if err != nil {
		return 0, 0, err
	}
	return min(x, st.Credited-st.Refunded), st.Redeemed, nil
}

func (s *Service) maybeRedeem(ctx context.Context, st Status, data escrow.State, balance uint64, chainNow uint32) error {
	user := st.User
	closing := data.CloseRequestedAt != 0
	var deadline int64
	if closing {
		deadline = int64(data.CloseRequestedAt) + int64(st.Params.CloseDelay/time.Second)
		if int64(chainNow) >= deadline {
			return nil // closed: only the client's withdraw is left
		}
	}
	owed, _, err := s.Owed(ctx, user)
	if err != nil {
		return err
	}
	if owed <= 0 || uint64(owed) <= data.Redeemed {
		return nil
	}
	// What the escrow can pay: it keeps MinReserve and pays the redeem's fees.
	var free uint64
	if keep := escrow.MinReserve + s.cfg.FeeMargin; balance > keep {
		free = balance - keep
	}
	cumulative := min(uint64(owed), data.Redeemed+free)
	due := cumulative - data.Redeemed
	if due == 0 {
		s.log.Warn("escrow owes more than it can pay", "user", user, "owed", owed, "redeemed", data.Redeemed, "balance", balance)
		return nil
	}
	h, err := s.rdb.HGet(ctx, keyUser(user), fLastRedeem).Int64()
	if err != nil {
		return fmt.Errorf("last redeem: %w", err)
	}
	if !closing && due < uint64(s.cfg.MinRedeem) && int64(chainNow)-h < int64(s.cfg.RedeemEvery/time.Second) {
		return nil
	}
	expiry := int64(chainNow) + int64(s.cfg.VoucherTTL/time.Second)
	if closing && expiry >= deadline {
		expiry = deadline - 1
	}
	v := escrow.Voucher{Escrow: st.Address, Cumulative: cumulative, Seqno: data.Seqno + 1, Expiry: time.Unix(expiry, 0)}
	sig, err := v.Sign(s.cfg.ServiceKey)
	if err != nil {
		return err
	}
	p := &PendingVoucher{Escrow: st.Address.StringRaw(), Cumulative: v.Cumulative, Seqno: v.Seqno, Expiry: expiry,
		QueryID: v.Seqno, Signature: hex.EncodeToString(sig)}
	raw, _ := json.Marshal(p)
	saved, err := savePendingScript.Run(ctx, s.rdb, []string{keyUser(user)}, string(raw)).Int()
	if err != nil {
		return fmt.Errorf("persist voucher: %w", err)
	}
	if saved == 0 {
		return nil // another run persisted one first; it is sent at the next poll
	}
	s.log.Info("escrow redeem", "user", user, "seqno", v.Seqno, "cumulative", v.Cumulative, "due", due, "closing", closing)
	return s.send(ctx, user, p)
}

func (s *Service) send(ctx context.Context, user string, p *PendingVoucher) error {
	m, err := p.message()
	if err != nil {
		return fmt.Errorf("pending voucher: %w", err)
	}
	if err := s.cfg.Chain.SendExternalMessage(ctx, m); err != nil {
		// Refused (a replay, or it landed meanwhile) or not delivered: the
		// next poll sees the seqno or sends the same voucher again.
		s.log.Warn("escrow redeem not sent", "user", user, "seqno", p.Seqno, "err", err)
	}
	return nil
}
