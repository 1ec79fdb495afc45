package escrowsvc

import "github.com/xssnick/tonutils-go/address"

// The Redis key schema of package escrowsvc. Every key is built here and
// carries the {escrow} hash tag, so the multi-key scripts (registration,
// deposit and withdraw records) run on one Redis Cluster node.
//
//	cocoon:{escrow}:seq                string  last escrow id handed out
//	cocoon:{escrow}:users              set     registered users
//	cocoon:{escrow}:u:<user>           hash    one user's escrow (fields f* below)
//	cocoon:{escrow}:a:<raw address>    string  escrow address → user
//	cocoon:{escrow}:cursor:<raw addr>  string  "<lt, 20 digits>:<hash hex>": last handled transaction
//	cocoon:{escrow}:ops:<user>         hash    d:<tx hash> → nanoTON credited (or "refused");
//	                                           w:<tx hash> → JSON withdrawal decision

const keyPrefix = "cocoon:{escrow}:"

func keySeq() string                         { return keyPrefix + "seq" }
func keyUsers() string                       { return keyPrefix + "users" }
func keyUser(user string) string             { return keyPrefix + "u:" + user }
func keyAddr(addr *address.Address) string   { return keyPrefix + "a:" + addr.StringRaw() }
func keyCursor(addr *address.Address) string { return keyPrefix + "cursor:" + addr.StringRaw() }
func keyOps(user string) string              { return keyPrefix + "ops:" + user }
func opDeposit(txHash string) string         { return "d:" + txHash }
func opWithdraw(txHash string) string        { return "w:" + txHash }

// Fields of a user's hash.
const (
	fClient     = "client"      // raw address
	fTreasury   = "treasury"    // raw address
	fServiceKey = "service_key" // hex ed25519 public key
	fCloseDelay = "close_delay" // seconds
	fEscrowID   = "escrow_id"   // uint32
	fWorkchain  = "workchain"   // int8
	fAddress    = "address"     // raw escrow address
	fRegistered = "registered"  // unix seconds
	fSinceDay   = "since_day"   // YYYY-MM-DD: usage days from here on are summed
	fBase       = "base"        // nanoTON charged from registration up to since_day (negative at first: today's cost before registering)
	fCredited   = "credited"    // nanoTON of escrow deposits credited to the ledger
	fRefunded   = "refunded"    // nanoTON recorded as ledger escrow refunds
	fRedeemed   = "redeemed"    // nanoTON the treasury received (highest cumulative seen paid)
	fShortfall  = "shortfall"   // nanoTON charged but neither redeemed nor refundable at a withdrawal
	fCloseAt    = "close_at"    // contract's close_requested_at (unix s), 0 when not closing
	fLastRedeem = "last_redeem" // unix seconds of the last confirmed redeem (or registration)
	fVoucher    = "voucher"     // JSON pending voucher, persisted before it is sent
)
