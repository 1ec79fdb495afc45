package bot

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// store keeps the bot's state in Redis (keys in keys.go).
type store struct {
	rdb redis.UniversalClient
	ttl time.Duration // of conversation keys, refreshed on every write
}

// Settings are one scope's choices: a user's, or a group's (set by its
// admins). Empty fields fall through to the next scope, then the defaults.
type Settings struct {
	Model  string
	Lang   string
	System string
}

// Setting field names in the user and chat hashes.
const (
	fieldModel   = "model"
	fieldLang    = "lang"
	fieldSystem  = "system"
	fieldLastJob = "lastjob"
)

func readSettings(m map[string]string) Settings {
	return Settings{Model: m[fieldModel], Lang: m[fieldLang], System: m[fieldSystem]}
}

// userSettings returns a user's settings (zero if none).
func (s *store) userSettings(ctx context.Context, user int64) (Settings, error) {
	m, err := s.rdb.HGetAll(ctx, userKey(user)).Result()
	return readSettings(m), err
}

// chatSettings returns a group's settings (zero if none).
func (s *store) chatSettings(ctx context.Context, chat int64) (Settings, error) {
	m, err := s.rdb.HGetAll(ctx, chatKey(chat)).Result()
	return readSettings(m), err
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
	return s.rdb.HSet(ctx, key, field, value).Err()
}

// lastJob is the id of the user's last finished job (for /verify).
func (s *store) lastJob(ctx context.Context, user int64) (string, error) {
	v, err := s.rdb.HGet(ctx, userKey(user), fieldLastJob).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
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
// the caller can decide) or after max turns.
func (s *store) chain(ctx context.Context, chat int64, id string, budget, max int) ([]Turn, error) {
	var out []Turn
	used := 0
	for id != "" && len(out) < max && used <= budget {
		m, err := s.rdb.HGetAll(ctx, turnKey(chat, id)).Result()
		if err != nil {
			return out, err
		}
		if len(m) == 0 { // expired
			break
		}
		t := Turn{ID: id, Parent: m["parent"], User: m["user"], Answer: m["answer"], Model: m["model"]}
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
		p.HSet(ctx, tk, "parent", t.Parent, "user", t.User, "answer", t.Answer, "model", t.Model,
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

// setLastJob remembers a user's last finished job.
func (s *store) setLastJob(ctx context.Context, user int64, job string) error {
	return s.rdb.HSet(ctx, userKey(user), fieldLastJob, job).Err()
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
