package ledger

// The ledger's Redis key schema. Every key is built here and nowhere else.
//
// Keys carry a hash tag so that everything one script touches lives in one
// Redis Cluster slot:
//
//	per user   {u:<user>}
//	  cocoon:{u:<user>}:balance        string  available nanoTON
//	  cocoon:{u:<user>}:reserved       hash    job id -> reserved nanoTON
//	  cocoon:{u:<user>}:ops            hash    op key -> first result (idempotency):
//	                                           credit:<source>:<op id>, reserve:<job>,
//	                                           settle:<job>, release:<job>, refund:<id>
//	                                           (Unreserve deletes reserve:<job>)
//	  cocoon:{u:<user>}:outseq         string  last outbox sequence number
//	  cocoon:{u:<user>}:outbox         hash    seq -> "w|<worker>|<amount>|<job>" or "op|-|<amount>|<job>"
//	  cocoon:{u:<user>}:charges        list    recent charges, newest first (JSON)
//	  cocoon:{u:<user>}:usage:<day>    hash    <model>|prompt, |completion, |cost, |jobs (day = YYYYMMDD, UTC)
//	  cocoon:{u:<user>}:totals         hash    ton, stars, escrow, trial (credited), escrow_refund
//	per worker {w:<worker>}
//	  cocoon:{w:<worker>}:earnings     string  unpaid nanoTON
//	  cocoon:{w:<worker>}:applied      hash    user -> highest outbox seq applied (exactly-once guard)
//	  cocoon:{w:<worker>}:payouts      hash    payout id -> "reserved|confirmed|failed" + "|<amount>|<earnings after reserve>"
//	  cocoon:{w:<worker>}:totals       hash    in_flight, paid_out
//	operator   {op}
//	  cocoon:{op}:revenue              string  operator revenue nanoTON
//	  cocoon:{op}:applied              hash    user -> highest outbox seq applied
//	aggregator {agg}
//	  cocoon:{agg}:pending             set     users that may have outbox entries (a hint only)
//
// The invariant's global totals are per-slot counters (a user's and a
// worker's totals hashes) that Check sums, so no script ever touches two slots.

const (
	keyPrefix  = "cocoon:"
	userOpen   = keyPrefix + "{u:"
	workerOpen = keyPrefix + "{w:"
	tagClose   = "}:"

	// scan patterns used by Check and the aggregator's sweep.
	userKeysMatch   = userOpen + "*"
	workerKeysMatch = workerOpen + "*"
	outboxKeysMatch = userOpen + "*" + tagClose + "outbox"
)

// Fields of the per-user totals hash.
const (
	fieldEscrowRefund = "escrow_refund"
	fieldStarsRefund  = "stars_refund"
	fieldInFlight     = "in_flight"
	fieldPaidOut      = "paid_out"
)

func userKey(user, name string) string     { return userOpen + user + tagClose + name }
func workerKey(worker, name string) string { return workerOpen + worker + tagClose + name }

func keyBalance(user string) string         { return userKey(user, "balance") }
func keyReserved(user string) string        { return userKey(user, "reserved") }
func keyOps(user string) string             { return userKey(user, "ops") }
func keyOutSeq(user string) string          { return userKey(user, "outseq") }
func keyOutbox(user string) string          { return userKey(user, "outbox") }
func keyCharges(user string) string         { return userKey(user, "charges") }
func keyUsage(user, day string) string      { return userKey(user, "usage:"+day) }
func keyUserTotals(user string) string      { return userKey(user, "totals") }
func keyEarnings(worker string) string      { return workerKey(worker, "earnings") }
func keyWorkerApplied(worker string) string { return workerKey(worker, "applied") }
func keyPayouts(worker string) string       { return workerKey(worker, "payouts") }
func keyWorkerTotals(worker string) string  { return workerKey(worker, "totals") }
func keyRevenue() string                    { return keyPrefix + "{op}:revenue" }
func keyOpApplied() string                  { return keyPrefix + "{op}:applied" }
func keyPending() string                    { return keyPrefix + "{agg}:pending" }

// Op keys inside a user's ops hash.
func opCredit(src Source, opID string) string { return "credit:" + string(src) + ":" + opID }
func opReserve(job string) string             { return "reserve:" + job }
func opSettle(job string) string              { return "settle:" + job }
func opRelease(job string) string             { return "release:" + job }
func opRefund(id string) string               { return "refund:" + id }

// idFromKey returns the user or worker id inside key, given the tag opening
// (userOpen or workerOpen); ok is false for keys of another shape.
func idFromKey(key, open string) (id string, ok bool) {
	if len(key) <= len(open) || key[:len(open)] != open {
		return "", false
	}
	rest := key[len(open):]
	for i := 0; i+1 < len(rest); i++ {
		if rest[i] == '}' {
			if rest[i+1] != ':' || i == 0 {
				return "", false
			}
			return rest[:i], true
		}
	}
	return "", false
}
