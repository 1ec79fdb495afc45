package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/seal"
)

// store keeps the bot's state in Redis (keys in keys.go). What users wrote,
// what models answered and system prompts are sealed at rest with box.
type store struct {
	rdb redis.UniversalClient
	ttl time.Duration // of conversation keys, refreshed on every write
	box *seal.AtRest  // the history key (COCOON_BOT_HISTORY_KEY)
	log *slog.Logger
}

// errUnreadable: a sealed record does not open under the bot's key (it was
// written under another COCOON_BOT_HISTORY_KEY, or it was tampered with).
var errUnreadable = errors.New("a stored record does not open under COCOON_BOT_HISTORY_KEY")

// recordAAD binds a sealed record to its key name and field.
func recordAAD(key, field string) []byte { return []byte(key + "\x00" + field) }

// seal encrypts a value stored at key (and field of a hash; "" for a
// string key). Empty stays empty.
func (s *store) seal(key, field, plain string) string {
	if plain == "" {
		return ""
	}
	return string(s.box.Encrypt([]byte(plain), recordAAD(key, field)))
}

// open decrypts what seal stored at key and field.
func (s *store) open(key, field, rec string) (string, error) {
	if rec == "" {
		return "", nil
	}
	pt, err := s.box.Decrypt([]byte(rec), recordAAD(key, field))
	if err != nil {
		return "", fmt.Errorf("%w (%s %s)", errUnreadable, key, field)
	}
	return string(pt), nil
}

// Settings are one scope's choices: a user's, or a group's (set by its
// admins). Empty fields fall through to the next scope, then the defaults.
type Settings struct {
	Model  string
	Lang   string
	System string
}

// Setting field names in the user and chat hashes. The system prompt is
// sealed.
const (
	fieldModel  = "model"
	fieldLang   = "lang"
	fieldSystem = "system"
)

// readSettings reads the settings hash at key. A system prompt that does
// not open is left out, with the error.
func (s *store) readSettings(ctx context.Context, key string) (Settings, error) {
	m, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return Settings{}, err
	}
	st := Settings{Model: m[fieldModel], Lang: m[fieldLang]}
	st.System, err = s.open(key, fieldSystem, m[fieldSystem])
	return st, err
}

// userSettings returns a user's settings (zero if none).
func (s *store) userSettings(ctx context.Context, user int64) (Settings, error) {
	return s.readSettings(ctx, userKey(user))
}

// chatSettings returns a group's settings (zero if none).
func (s *store) chatSettings(ctx context.Context, chat int64) (Settings, error) {
	return s.readSettings(ctx, chatKey(chat))
}

// setUser sets (or, with value "", clears) one field of a user's settings.
func (s *store) setUser(ctx context.Context, user int64, field, value string) error {
	return s.setField(ctx, userKey(user), field, value)
}

// setChat sets (or clears) one field of a group's settings.
func (s *store) setChat(ctx context.Context, chat int64, field, value string) error {
	return s.setField(ctx, chatKey(chat), field, value)
}

func (s *store) setField(ctx context.Context, key, field, value string) error {
	if value == "" {
		return s.rdb.HDel(ctx, key, field).Err()
	}
	if field == fieldSystem {
		value = s.seal(key, field, value)
	}
	return s.rdb.HSet(ctx, key, field, value).Err()
}

// Turn is one exchange of a conversation: what the user asked and what the
// model answered. Turns form a tree: Parent is the turn it continues.
type Turn struct {
	ID     string
	Parent string
	User   string
	Answer string
	Model  string
}

// parentFor returns the turn a new prompt continues: the turn of the bot
// message it replies to if that turn is stored (that branch), else the
// conversation's head.
func (s *store) parentFor(ctx context.Context, c conv, replyTo int) (string, error) {
	if replyTo != 0 {
		id, err := s.rdb.Get(ctx, msgKey(c.Chat, replyTo)).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return "", err
		}
		if id != "" {
			n, err := s.rdb.Exists(ctx, turnKey(c.Chat, id)).Result()
			if err != nil {
				return "", err
			}
			if n == 1 {
				return id, nil
			}
		}
	}
	id, err := s.rdb.Get(ctx, headKey(c.Chat, c.Thread)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return id, err
}

// chain returns the turns ending at id, newest first, stopping once their
// estimated tokens exceed budget (the turn that crosses it is included so
// the caller can decide) or after max turns. A turn that does not open
// ends the chain as if it had expired (logged).
func (s *store) chain(ctx context.Context, chat int64, id string, budget, max int) ([]Turn, error) {
	var out []Turn
	used := 0
	for id != "" && len(out) < max && used <= budget {
		tk := turnKey(chat, id)
		m, err := s.rdb.HGetAll(ctx, tk).Result()
		if err != nil {
			return out, err
		}
		if len(m) == 0 { // expired
			break
		}
		t := Turn{ID: id, Parent: m["parent"], Model: m["model"]}
		var errU, errA error
		t.User, errU = s.open(tk, "user", m["user"])
		t.Answer, errA = s.open(tk, "answer", m["answer"])
		if err := errors.Join(errU, errA); err != nil {
			s.log.Warn("history turn unreadable; the conversation continues without it and older turns", "chat", chat, "turn", id, "err", err)
			break
		}
		out = append(out, t)
		used += estimateTokens(t.User) + estimateTokens(t.Answer)
		if t.Parent == id {
			break
		}
		id = t.Parent
	}
	return out, nil
}

// newTurn allocates the id of the next turn of chat, so the answer's
// messages can point at it while they are being sent.
func (s *store) newTurn(ctx context.Context, chat int64) (string, error) {
	n, err := s.rdb.Incr(ctx, seqKey(chat)).Result()
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(n, 10), nil
}

// appendTurn stores a finished exchange under id as the new head of c.
func (s *store) appendTurn(ctx context.Context, c conv, id string, t Turn) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		tk := turnKey(c.Chat, id)
		p.HSet(ctx, tk, "parent", t.Parent, "user", s.seal(tk, "user", t.User), "answer", s.seal(tk, "answer", t.Answer), "model", t.Model,
			"at", strconv.FormatInt(time.Now().UnixMilli(), 10))
		p.Expire(ctx, tk, s.ttl)
		if t.Parent != "" {
			p.Expire(ctx, turnKey(c.Chat, t.Parent), s.ttl) // keep the branch alive while used
		}
		p.Set(ctx, headKey(c.Chat, c.Thread), id, s.ttl)
		p.Expire(ctx, seqKey(c.Chat), s.ttl)
		return nil
	})
	return err
}

// mapMessages maps bot messages to turn id (replies to them continue it).
func (s *store) mapMessages(ctx context.Context, chat int64, id string, msgs []int) error {
	if len(msgs) == 0 {
		return nil
	}
	p := s.rdb.Pipeline()
	for _, m := range msgs {
		p.Set(ctx, msgKey(chat, m), id, s.ttl)
	}
	_, err := p.Exec(ctx)
	return err
}

// reset starts a new conversation in c: the next prompt has no history.
func (s *store) reset(ctx context.Context, c conv) error {
	return s.rdb.Set(ctx, headKey(c.Chat, c.Thread), "", s.ttl).Err()
}

// setReceipts stores the checked receipts of the last answer in c (JSON),
// sealed, for /verify.
func (s *store) setReceipts(ctx context.Context, c conv, summary []byte) error {
	k := receiptsKey(c)
	return s.rdb.Set(ctx, k, s.seal(k, "", string(summary)), s.ttl).Err()
}

// receipts returns what setReceipts stored in c (nil if nothing).
func (s *store) receipts(ctx context.Context, c conv) ([]byte, error) {
	k := receiptsKey(c)
	v, err := s.rdb.Get(ctx, k).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pt, err := s.open(k, "", v)
	return []byte(pt), err
}

func (s *store) banned(ctx context.Context, user int64) (bool, error) {
	return s.rdb.SIsMember(ctx, bannedKey, strconv.FormatInt(user, 10)).Result()
}

func (s *store) ban(ctx context.Context, user int64, on bool) error {
	if on {
		return s.rdb.SAdd(ctx, bannedKey, strconv.FormatInt(user, 10)).Err()
	}
	return s.rdb.SRem(ctx, bannedKey, strconv.FormatInt(user, 10)).Err()
}

// allow counts one prompt of user in the current minute and reports
// whether it is within limit, and whether this is the first one over it
// (the only one that gets a reply).
func (s *store) allow(ctx context.Context, user int64, limit int, now time.Time) (ok, first bool, err error) {
	if limit < 0 {
		return true, false, nil
	}
	k := rateKey(user, now)
	var incr *redis.IntCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, k)
		p.Expire(ctx, k, 2*time.Minute)
		return nil
	})
	if err != nil {
		return true, false, err // fail open: Redis trouble must not silence the bot
	}
	n := incr.Val()
	return n <= int64(limit), n == int64(limit)+1, nil
}

// firstSeen reports whether update id is new (webhook retries and a
// restart before the poll offset was confirmed deliver an update again).
func (s *store) firstSeen(ctx context.Context, id int) (bool, error) {
	return s.rdb.SetNX(ctx, updateKey(id), 1, 24*time.Hour).Result()
}

// count adds to the bot's counters and remembers the user for /stats.
func (s *store) count(ctx context.Context, field string, user int64) {
	p := s.rdb.Pipeline()
	p.HIncrBy(ctx, statsKey, field, 1)
	if user != 0 {
		p.PFAdd(ctx, usersKey, strconv.FormatInt(user, 10))
	}
	p.Exec(ctx)
}

// stats returns the counters and the number of users seen.
func (s *store) stats(ctx context.Context) (map[string]string, int64, error) {
	m, err := s.rdb.HGetAll(ctx, statsKey).Result()
	if err != nil {
		return nil, 0, err
	}
	n, err := s.rdb.PFCount(ctx, usersKey).Result()
	return m, n, err
}
