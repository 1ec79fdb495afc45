package escrowsvc

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-network/cocoon/contracts/escrow"
)

// Errors of the registry.
var (
	// ErrInvalid marks input that can never be registered (a bad user id,
	// address or close delay).
	ErrInvalid = errors.New("escrowsvc: invalid input")
	// ErrRegistered: the user already has an escrow with other parameters.
	ErrRegistered = errors.New("escrowsvc: user already has an escrow")
	// ErrNotRegistered: the user has no escrow.
	ErrNotRegistered = errors.New("escrowsvc: user has no escrow")
)

// Escrow is one API client's registered escrow.
type Escrow struct {
	User         string
	Params       escrow.Params
	Address      *address.Address // where the client deposits (escrow.Address(Params))
	RegisteredAt time.Time
}

// Status is what the service knows about a user's escrow, in nanoTON.
type Status struct {
	Escrow
	Credited  int64  // escrow deposits credited to the ledger
	Refunded  int64  // ledger escrow refunds recorded at withdrawals
	Redeemed  uint64 // paid to the treasury so far (the contract's redeemed)
	Shortfall int64  // charged to the user but neither redeemed nor refundable (operator's loss)
	// CloseRequestedAt is the contract's close request time, zero when not closing.
	CloseRequestedAt time.Time
	Pending          *PendingVoucher // a voucher sent (or about to be) and not yet confirmed
}

// Closing reports whether the escrow's client asked to close: the broker must
// not reserve for this user any more.
func (s Status) Closing() bool { return !s.CloseRequestedAt.IsZero() }

func validUser(user string) error {
	if user == "" || len(user) > 128 {
		return fmt.Errorf("%w: user id must be 1..128 bytes", ErrInvalid)
	}
	for i := 0; i < len(user); i++ {
		if c := user[i]; c <= ' ' || c > '~' || strings.IndexByte(`{}|*?[]\`, c) >= 0 {
			return fmt.Errorf("%w: user id %q has forbidden byte %q", ErrInvalid, user, c)
		}
	}
	return nil
}

// registerScript stores a new escrow unless the user has one.
//
//	KEYS[1] user hash  KEYS[2] address → user  KEYS[3] users set  KEYS[4] id counter
//	ARGV[1] user, then field/value pairs (the escrow id is filled in here: ARGV[2] must be "escrow_id")
//	returns {"exists"} | {"taken"} | {"ok"}
//
// The address depends on the escrow id, so the caller computes it for the
// id it read (ARGV[3]) and the script refuses when the counter moved.
var registerScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'taken'} end
local cur = tonumber(redis.call('GET', KEYS[4]) or '0')
if tostring(cur + 1) ~= ARGV[3] then return {'moved'} end
redis.call('SET', KEYS[4], ARGV[3])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return {'ok'}
`)

// Register gives user (a ledger user id, e.g. "tg:42") an escrow for client
// with closeDelay. The service picks a fresh escrow id, so two users naming
// the same client get different escrows. Registering again with the same
// client and delay returns the existing escrow; with others, ErrRegistered.
func (s *Service) Register(ctx context.Context, user string, client *address.Address, closeDelay time.Duration) (Escrow, error) {
	if err := validUser(user); err != nil {
		return Escrow{}, err
	}
	if client == nil || client.Type() != address.StdAddress || len(client.Data()) != 32 {
		return Escrow{}, fmt.Errorf("%w: client must be a standard address", ErrInvalid)
	}
	if closeDelay%time.Second != 0 || closeDelay < s.cfg.MinCloseDelay || closeDelay > s.cfg.MaxCloseDelay {
		return Escrow{}, fmt.Errorf("%w: close delay %v must be whole seconds in %v..%v", ErrInvalid, closeDelay, s.cfg.MinCloseDelay, s.cfg.MaxCloseDelay)
	}
	for attempt := 0; attempt < 20; attempt++ {
		if e, err := s.Lookup(ctx, user); err == nil {
			if !e.Params.Client.Equals(client) || e.Params.CloseDelay != closeDelay {
				return Escrow{}, fmt.Errorf("%w: %s (escrow %s)", ErrRegistered, user, e.Address.StringRaw())
			}
			return e, nil
		} else if !errors.Is(err, ErrNotRegistered) {
			return Escrow{}, err
		}
		last, err := s.rdb.Get(ctx, keySeq()).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return Escrow{}, fmt.Errorf("escrowsvc: register %s: %w", user, err)
		}
		id := uint32(last + 1)
		p := escrow.Params{Client: client, Treasury: s.cfg.Treasury, ServiceKey: s.pub, CloseDelay: closeDelay, EscrowID: id, Workchain: s.cfg.Workchain}
		addr, err := escrow.Address(p)
		if err != nil {
			return Escrow{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		now := s.cfg.Now()
		sinceDay, base, err := s.usageBaseline(ctx, user, now)
		if err != nil {
			return Escrow{}, err
		}
		r, err := registerScript.Run(ctx, s.rdb, []string{keyUser(user), keyAddr(addr), keyUsers(), keySeq()},
			user,
			fEscrowID, strconv.FormatUint(uint64(id), 10),
			fClient, client.StringRaw(),
			fTreasury, s.cfg.Treasury.StringRaw(),
			fServiceKey, hex.EncodeToString(s.pub),
			fCloseDelay, strconv.FormatInt(int64(closeDelay/time.Second), 10),
			fWorkchain, strconv.Itoa(int(s.cfg.Workchain)),
			fAddress, addr.StringRaw(),
			fRegistered, strconv.FormatInt(now.Unix(), 10),
			fLastRedeem, strconv.FormatInt(now.Unix(), 10),
			fSinceDay, sinceDay,
			fBase, strconv.FormatInt(base, 10),
			fCredited, "0", fRefunded, "0", fRedeemed, "0", fShortfall, "0", fCloseAt, "0",
		).StringSlice()
		if err != nil {
			return Escrow{}, fmt.Errorf("escrowsvc: register %s: %w", user, err)
		}
		switch r[0] {
		case "ok":
			s.log.Info("escrow registered", "user", user, "escrow", addr.StringRaw(), "client", client.StringRaw(), "close_delay", closeDelay)
			return Escrow{User: user, Params: p, Address: addr, RegisteredAt: time.Unix(now.Unix(), 0)}, nil
		case "taken":
			return Escrow{}, fmt.Errorf("escrowsvc: escrow address %s already belongs to another user", addr.StringRaw())
		}
		// "exists" (a concurrent registration) or "moved" (the id counter moved): look again.
	}
	return Escrow{}, fmt.Errorf("escrowsvc: register %s: too much contention", user)
}

// Lookup returns user's escrow, or ErrNotRegistered.
func (s *Service) Lookup(ctx context.Context, user string) (Escrow, error) {
	st, err := s.Status(ctx, user)
	return st.Escrow, err
}

// UserOf returns the user owning the escrow at addr, or ErrNotRegistered.
func (s *Service) UserOf(ctx context.Context, addr *address.Address) (string, error) {
	u, err := s.rdb.Get(ctx, keyAddr(addr)).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("%w: address %s", ErrNotRegistered, addr.StringRaw())
	}
	if err != nil {
		return "", fmt.Errorf("escrowsvc: user of %s: %w", addr.StringRaw(), err)
	}
	return u, nil
}

// Users lists the registered users.
func (s *Service) Users(ctx context.Context) ([]string, error) {
	u, err := s.rdb.SMembers(ctx, keyUsers()).Result()
	if err != nil {
		return nil, fmt.Errorf("escrowsvc: users: %w", err)
	}
	return u, nil
}

// Status returns what the service knows about user's escrow, or ErrNotRegistered.
func (s *Service) Status(ctx context.Context, user string) (Status, error) {
	h, err := s.rdb.HGetAll(ctx, keyUser(user)).Result()
	if err != nil {
		return Status{}, fmt.Errorf("escrowsvc: status of %s: %w", user, err)
	}
	if len(h) == 0 {
		return Status{}, fmt.Errorf("%w: %s", ErrNotRegistered, user)
	}
	return parseStatus(user, h)
}

func parseStatus(user string, h map[string]string) (Status, error) {
	var st Status
	var errs []error
	num := func(f string) int64 {
		n, err := strconv.ParseInt(h[f], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %s=%q", f, h[f]))
		}
		return n
	}
	addr := func(f string) *address.Address {
		a, err := address.ParseRawAddr(h[f])
		if err != nil {
			errs = append(errs, fmt.Errorf("field %s=%q", f, h[f]))
		}
		return a
	}
	key, err := hex.DecodeString(h[fServiceKey])
	if err != nil || len(key) != ed25519.PublicKeySize {
		errs = append(errs, fmt.Errorf("field %s", fServiceKey))
	}
	st.User = user
	st.Params = escrow.Params{
		Client: addr(fClient), Treasury: addr(fTreasury), ServiceKey: key,
		CloseDelay: time.Duration(num(fCloseDelay)) * time.Second,
		EscrowID:   uint32(num(fEscrowID)), Workchain: int8(num(fWorkchain)),
	}
	st.Address = addr(fAddress)
	st.RegisteredAt = time.Unix(num(fRegistered), 0)
	st.Credited, st.Refunded, st.Shortfall = num(fCredited), num(fRefunded), num(fShortfall)
	st.Redeemed = uint64(num(fRedeemed))
	if at := num(fCloseAt); at != 0 {
		st.CloseRequestedAt = time.Unix(at, 0)
	}
	if v := h[fVoucher]; v != "" {
		p, err := parsePending(v)
		if err != nil {
			errs = append(errs, err)
		}
		st.Pending = p
	}
	if len(errs) > 0 {
		return Status{}, fmt.Errorf("escrowsvc: corrupt record of %s: %w", user, errors.Join(errs...))
	}
	return st, nil
}

// Closing reports whether user's escrow client asked to close (as last seen
// on chain): the broker must refuse new reservations for user from then on.
// Users without an escrow are never closing. A Redis error counts as closing
// (refusing credit is the safe side) and is logged.
func (s *Service) Closing(ctx context.Context, user string) bool {
	v, err := s.rdb.HGet(ctx, keyUser(user), fCloseAt).Result()
	if errors.Is(err, redis.Nil) {
		return false
	}
	if err != nil {
		s.log.Error("escrow closing check failed; refusing credit", "user", user, "err", err)
		return true
	}
	return v != "0" && v != ""
}
