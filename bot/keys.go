package bot

import (
	"strconv"
	"time"
)

// The bot's Redis key schema. Every key starts with `cocoon:bot:`; the
// broker's job keys (`cocoon:{sN}:...`, `cocoon:{reg}:...`) are never
// touched. A conversation's keys carry the chat's hash tag `{c<chat id>}`
// so one MULTI can write a turn, its message map and the head together on
// Redis Cluster.
//
// | key | type | holds |
// |---|---|---|
// | cocoon:bot:user:<user id> | hash | model, lang, system, lastjob |
// | cocoon:bot:chat:<chat id> | hash | a group's model, lang, system (set by its admins) |
// | cocoon:bot:{c<chat>}:seq | string | last turn id of the chat |
// | cocoon:bot:{c<chat>}:turn:<id> | hash | parent, user, answer, model, at (ms) |
// | cocoon:bot:{c<chat>}:head:<thread> | string | newest turn of the chat or forum topic ("" after /reset) |
// | cocoon:bot:{c<chat>}:msg:<message id> | string | turn a bot message belongs to (reply → branch) |
// | cocoon:bot:banned | set | banned user ids |
// | cocoon:bot:stats | hash | counters: updates, prompts, answers, failures |
// | cocoon:bot:users | hyperloglog | user ids seen |
// | cocoon:bot:rate:<user>:<minute> | string | prompts of a user in a minute (expires) |
// | cocoon:bot:update:<update id> | string | update already handled (expires after a day) |
const prefix = "cocoon:bot:"

func userKey(user int64) string { return prefix + "user:" + strconv.FormatInt(user, 10) }
func chatKey(chat int64) string { return prefix + "chat:" + strconv.FormatInt(chat, 10) }
func convTag(chat int64) string { return prefix + "{c" + strconv.FormatInt(chat, 10) + "}:" }
func seqKey(chat int64) string  { return convTag(chat) + "seq" }
func turnKey(chat int64, id string) string {
	return convTag(chat) + "turn:" + id
}
func headKey(chat int64, thread int) string {
	return convTag(chat) + "head:" + strconv.Itoa(thread)
}
func msgKey(chat int64, msg int) string { return convTag(chat) + "msg:" + strconv.Itoa(msg) }

const (
	bannedKey = prefix + "banned"
	statsKey  = prefix + "stats"
	usersKey  = prefix + "users"
)

func rateKey(user int64, t time.Time) string {
	return prefix + "rate:" + strconv.FormatInt(user, 10) + ":" + strconv.FormatInt(t.Unix()/60, 10)
}
func updateKey(id int) string { return prefix + "update:" + strconv.Itoa(id) }
