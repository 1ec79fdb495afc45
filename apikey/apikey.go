package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Errors. Resolve and Payer answer ErrMalformed, ErrUnknown or ErrRevoked
// for keys that can never authenticate; anything else (wrapped Redis
// errors) is worth retrying.
var (
	ErrMalformed   = errors.New("apikey: not a Cocoon API key (want ck-<id>.<secret>)")
	ErrUnknown     = errors.New("apikey: unknown key")
	ErrRevoked     = errors.New("apikey: key revoked")
	ErrTooManyKeys = errors.New("apikey: too many active keys; revoke one first")
	ErrBadOwner    = errors.New("apikey: bad owner (want a user id like tg:42)")
)

const (
	// Prefix starts every key string.
	Prefix = "ck-"
	// UserPrefix starts the job user of a key: "key:<id>".
	UserPrefix = "key:"

	idBytes     = 10 // 16 characters
	secretBytes = 32 // 52 characters, 256 bits
)

var (
	encoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)
	idLen    = encoding.EncodedLen(idBytes)
	secLen   = encoding.EncodedLen(secretBytes)
	// ownerRe is the broker's user id syntax.
	ownerRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$`)
)

// Key describes one key of an owner. The secret is never stored, so never
// listed.
type Key struct {
	ID      string
	Created time.Time
	Revoked time.Time // zero while active
}

// Active reports whether k still authenticates.
func (k Key) Active() bool { return k.Revoked.IsZero() }

// Store keeps API keys in Redis.
type Store struct {
	rdb       redis.UniversalClient
	now       func() time.Time
	maxKeys   int
	retention time.Duration
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithMaxKeys sets how many active keys one owner may have (default 10).
func WithMaxKeys(n int) Option { return func(s *Store) { s.maxKeys = n } }

// WithRevokedRetention sets how long a revoked key's record stays, so Payer
// can still bill jobs it submitted before the revocation (default 30 days;
// jobs expire after 24 hours).
func WithRevokedRetention(d time.Duration) Option { return func(s *Store) { s.retention = d } }

// New returns a Store on rdb (a *redis.Client or *redis.ClusterClient).
func New(rdb redis.UniversalClient, opts ...Option) *Store {
	s := &Store{rdb: rdb, now: time.Now, maxKeys: 10, retention: 30 * 24 * time.Hour}
	for _, o := range opts {
		o(s)
	}
	return s
}

// User is the job user of key id: "key:<id>".
func User(id string) string { return UserPrefix + id }

func checkOwner(owner string) error {
	if !ownerRe.MatchString(owner) || strings.HasPrefix(owner, UserPrefix) {
		return fmt.Errorf("%w: %q", ErrBadOwner, owner)
	}
	return nil
}

func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return encoding.EncodeToString(b)
}

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// parse splits a key string into id and secret.
func parse(key string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(key, Prefix)
	if !ok || len(rest) != idLen+1+secLen || rest[idLen] != '.' {
		return "", "", ErrMalformed
	}
	id, secret = rest[:idLen], rest[idLen+1:]
	if !validChars(id) || !validChars(secret) {
		return "", "", ErrMalformed
	}
	return id, secret, nil
}

func validChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') || c == 'i' || c == 'l' || c == 'o' || c == 'u' {
			return false
		}
	}
	return true
}

// createScript stores a new key unless the id exists or the owner has too
// many active keys.
// KEYS[1] key hash  KEYS[2] owner zset  KEYS[3] live set
// ARGV id owner hash created_ms max_keys
// returns 1 stored | 0 id taken | -1 too many keys
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[5]) then return -1 end
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'hash', ARGV[3], 'created', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
`)

// Create makes a new key for owner (a user id like tg:42). It returns the
// key's id and the whole key string ck-<id>.<secret>, which is shown to the
// owner once: only its hash is stored.
func (s *Store) Create(ctx context.Context, owner string) (id, secret string, err error) {
	if err := checkOwner(owner); err != nil {
		return "", "", err
	}
	for range 3 {
		id, sec := random(idBytes), random(secretBytes)
		n, err := createScript.Run(ctx, s.rdb, []string{keyKey(id), ownerKey(owner), liveKey(owner)},
			id, owner, hashSecret(sec), s.now().UnixMilli(), s.maxKeys).Int()
		switch {
		case err != nil:
			return "", "", fmt.Errorf("apikey create: %w", err)
		case n == -1:
			return "", "", ErrTooManyKeys
		case n == 1:
			return id, Prefix + id + "." + sec, nil
		}
	}
	return "", "", errors.New("apikey create: no free id after 3 tries")
}

// revokeScript marks an owner's key revoked and lets its record expire.
// KEYS[1] key hash  KEYS[2] live set
// ARGV owner id now_ms retention_ms
// returns 1 revoked | 2 already revoked | 0 no such key of this owner
var revokeScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'owner', 'revoked')
if f[1] ~= ARGV[1] then return 0 end
if f[2] then return 2 end
redis.call('HSET', KEYS[1], 'revoked', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
`)

// Revoke revokes owner's key id at once: the next Resolve of it fails with
// ErrRevoked. Revoking a revoked key is a no-op; a key of another owner (or
// none) is ErrUnknown.
func (s *Store) Revoke(ctx context.Context, owner, id string) error {
	if err := checkOwner(owner); err != nil {
		return err
	}
	if len(id) != idLen || !validChars(id) {
		return ErrUnknown
	}
	n, err := revokeScript.Run(ctx, s.rdb, []string{keyKey(id), liveKey(owner)},
		owner, id, s.now().UnixMilli(), s.retention.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("apikey revoke: %w", err)
	}
	if n == 0 {
		return ErrUnknown
	}
	return nil
}

// List returns owner's keys, newest first: active ones and those revoked
// within the retention.
func (s *Store) List(ctx context.Context, owner string) ([]Key, error) {
	if err := checkOwner(owner); err != nil {
		return nil, err
	}
	ids, err := s.rdb.ZRevRange(ctx, ownerKey(owner), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("apikey list: %w", err)
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, keyKey(id), "owner", "created", "revoked")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("apikey list: %w", err)
	}
	out := make([]Key, 0, len(ids))
	var gone []any
	for i, id := range ids {
		f := cmds[i].Val()
		if o, _ := f[0].(string); o != owner {
			gone = append(gone, id) // a revoked key's record expired
			continue
		}
		k := Key{ID: id, Created: msTime(f[1])}
		if f[2] != nil {
			k.Revoked = msTime(f[2])
		}
		out = append(out, k)
	}
	if len(gone) > 0 {
		s.rdb.ZRem(ctx, ownerKey(owner), gone...)
	}
	return out, nil
}

func msTime(v any) time.Time {
	s, _ := v.(string)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

// Resolve authenticates a key string and returns its id and owner. The
// secret's hash is compared in constant time. It fails with ErrMalformed,
// ErrUnknown (no such key, or a wrong secret) or ErrRevoked.
func (s *Store) Resolve(ctx context.Context, key string) (id, owner string, err error) {
	id, secret, err := parse(key)
	if err != nil {
		return "", "", err
	}
	f, err := s.rdb.HMGet(ctx, keyKey(id), "owner", "hash", "revoked").Result()
	if err != nil {
		return "", "", fmt.Errorf("apikey resolve: %w", err)
	}
	owner, _ = f[0].(string)
	stored, _ := f[1].(string)
	got := hashSecret(secret)
	if owner == "" || subtle.ConstantTimeCompare([]byte(got), []byte(stored)) != 1 {
		return "", "", ErrUnknown
	}
	if f[2] != nil {
		return "", "", ErrRevoked
	}
	return id, owner, nil
}

// Payer returns who pays for a job of user: the owner of the key when user
// is "key:<id>" (also after the key was revoked, while its record is kept),
// else user itself. A key whose record is gone is ErrUnknown.
func (s *Store) Payer(ctx context.Context, user string) (string, error) {
	id, ok := strings.CutPrefix(user, UserPrefix)
	if !ok {
		return user, nil
	}
	if len(id) != idLen || !validChars(id) {
		return "", ErrUnknown
	}
	owner, err := s.rdb.HGet(ctx, keyKey(id), "owner").Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrUnknown
	}
	if err != nil {
		return "", fmt.Errorf("apikey payer: %w", err)
	}
	return owner, nil
}
