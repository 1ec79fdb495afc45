package ton

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/xssnick/tonutils-go/address"
)

// Cursor is the last transaction of an account the deposit watcher has fully
// handled. The zero Cursor means "from the account's first transaction".
type Cursor struct {
	LT   uint64
	Hash []byte
}

// CursorStore persists the deposit watcher's cursor per account.
type CursorStore interface {
	// LoadCursor returns the zero Cursor when none was saved.
	LoadCursor(ctx context.Context, addr *address.Address) (Cursor, error)
	// SaveCursor never moves a cursor back to a lower LT.
	SaveCursor(ctx context.Context, addr *address.Address, c Cursor) error
}

// RedisCursors is a CursorStore on Redis (key cocoon:{ton}:cursor:<raw addr>).
type RedisCursors struct {
	rdb redis.UniversalClient
}

// NewRedisCursors returns a CursorStore on rdb.
func NewRedisCursors(rdb redis.UniversalClient) *RedisCursors {
	return &RedisCursors{rdb: rdb}
}

// LoadCursor implements CursorStore.
func (s *RedisCursors) LoadCursor(ctx context.Context, addr *address.Address) (Cursor, error) {
	v, err := s.rdb.Get(ctx, cursorKey(addr)).Result()
	if errors.Is(err, redis.Nil) {
		return Cursor{}, nil
	}
	if err != nil {
		return Cursor{}, fmt.Errorf("load ton cursor: %w", err)
	}
	c, err := parseCursor(v)
	if err != nil {
		return Cursor{}, fmt.Errorf("load ton cursor %s: %w", cursorKey(addr), err)
	}
	return c, nil
}

// saveCursorScript advances a cursor; LTs are 20-digit zero-padded, so string
// order is numeric order without Lua's float precision limits.
//
// KEYS[1] cursor key
// ARGV[1] "<lt, 20 digits>:<hash hex>"
// returns 1 when saved, 0 when the stored cursor is already at or past ARGV[1]
var saveCursorScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, 20) >= string.sub(ARGV[1], 1, 20) then
	return 0
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`)

// SaveCursor implements CursorStore.
func (s *RedisCursors) SaveCursor(ctx context.Context, addr *address.Address, c Cursor) error {
	if err := saveCursorScript.Run(ctx, s.rdb, []string{cursorKey(addr)}, formatCursor(c)).Err(); err != nil {
		return fmt.Errorf("save ton cursor: %w", err)
	}
	return nil
}

func formatCursor(c Cursor) string {
	return fmt.Sprintf("%020d:%s", c.LT, hex.EncodeToString(c.Hash))
}

func parseCursor(v string) (Cursor, error) {
	lt, h, ok := strings.Cut(v, ":")
	n, err := strconv.ParseUint(lt, 10, 64)
	hash, herr := hex.DecodeString(h)
	if !ok || err != nil || herr != nil || len(hash) != 32 {
		return Cursor{}, fmt.Errorf("malformed cursor %q", v)
	}
	return Cursor{LT: n, Hash: hash}, nil
}
