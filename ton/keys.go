package ton

import "github.com/xssnick/tonutils-go/address"

// The Redis key schema of package ton. Every key shares the {ton} hash tag, so
// scripts touching several of them run on one Redis Cluster node.

// cursorKey holds the deposit watcher's cursor for addr: "<lt, 20 digits>:<hash hex>".
func cursorKey(addr *address.Address) string {
	return "cocoon:{ton}:cursor:" + addr.StringRaw()
}

// unmatchedKey is a hash: transaction hash (hex) → JSON Unmatched record.
func unmatchedKey() string {
	return "cocoon:{ton}:unmatched"
}

// payoutBatchKey is a hash {v: version, json: Batch} for one payout batch.
func payoutBatchKey(id string) string {
	return "cocoon:{ton}:payout:batch:" + id
}

// payoutOpenKey is the set of batch ids not yet confirmed or failed.
func payoutOpenKey() string {
	return "cocoon:{ton}:payout:open"
}
