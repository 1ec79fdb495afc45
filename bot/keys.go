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
// Values marked (sealed) are seal.AtRest records under the bot's history
// key (COCOON_BOT_HISTORY_KEY), bound to "<key name>\x00<field>" (field ""
// for a string key): what users wrote, what models answered, system
// prompts and receipts never sit in Redis as plaintext, and a record moved
// to another key or field does not open.
//
// | key | type | holds |
// |---|---|---|
// | cocoon:bot:user:<user id> | hash | model, lang, system (sealed) |
// | cocoon:bot:chat:<chat id> | hash | a group's model, lang, system (sealed) (set by its admins) |
// | cocoon:bot:{c<chat>}:seq | string | last turn id of the chat |
// | cocoon:bot:{c<chat>}:turn:<id> | hash | parent, user (sealed), answer (sealed), model, at (ms) |
// | cocoon:bot:{c<chat>}:head:<thread> | string | newest turn of the chat or forum topic ("" after /reset) |
// | cocoon:bot:{c<chat>}:msg:<message id> | string | turn a bot message belongs to (reply → branch) |
// | cocoon:bot:{c<chat>}:receipts:<thread> | string | (sealed) JSON of the last answer's checked receipts, for /verify |
// | cocoon:bot:{stars}:pending | hash | Telegram charge id → JSON of a Stars payment not yet credited (retried) |
// | cocoon:bot:{stars}:paid | hash | Telegram charge id → JSON of a credited Stars payment (user, chat, stars, nanoTON) |
// | cocoon:bot:{stars}:failed | hash | Telegram charge id → JSON of a payment the broker refused to credit (for an operator) |
// | cocoon:bot:{stars}:refunded | hash | Telegram charge id → JSON of an admin refund (user, admin, time) |
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
func receiptsKey(c conv) string {
	return convTag(c.Chat) + "receipts:" + strconv.Itoa(c.Thread)
}

const (
	bannedKey       = prefix + "banned"
	statsKey        = prefix + "stats"
	usersKey        = prefix + "users"
	starsPendingKey = prefix + "{stars}:pending" // the Stars keys share a slot: pendCredit reads two at once
	starsPaidKey    = prefix + "{stars}:paid"
	starsFailedKey  = prefix + "{stars}:failed"
	starsRefundKey  = prefix + "{stars}:refunded"
)

func rateKey(user int64, t time.Time) string {
	return prefix + "rate:" + strconv.FormatInt(user, 10) + ":" + strconv.FormatInt(t.Unix()/60, 10)
}
func updateKey(id int) string { return prefix + "update:" + strconv.Itoa(id) }
