// Package escrowsvc runs the service side of the Cocoon escrow
// (contracts/escrow): it registers API clients' escrows, credits their
// deposits to the ledger exactly once, redeems what they owe into the
// treasury with signed cumulative vouchers, stops credit when a client asks
// to close, and records what the client withdraws as ledger escrow refunds.
//
// # Money and the ledger invariant
//
// The invariant is
//
//	user balances + … = deposits (TON + Stars + escrow + trial) − payouts − escrow refunds
//
// and the escrow touches it as follows.
//
//   - A deposit is credited (ledger.SourceEscrow, op id = tx hash hex) for
//     what it left in the escrow: the attached value minus the transaction's
//     fees. Bounced, failed and zero-net transactions are not credited.
//   - Charges debit the user's ledger balance as for any user; the service
//     claims them from the escrow: owed = min(charged since registration,
//     credited − refunded), escrow funds counting as spent first (charges.go).
//   - A redeem changes nothing in the ledger: the charges were already taken
//     from the user's balance and handed to workers and the operator; the
//     redeem only moves the coins backing "deposits escrow" from the client's
//     contract into the treasury. Until then they are a receivable,
//     credited − refunded − redeemed, held on chain in the client's escrow.
//   - At a withdrawal the escrow's remaining credit leaves the service and is
//     recorded as ledger escrow refunds (withdraw.go), so that afterwards the
//     ledger's escrow deposits minus escrow refunds equal what the treasury
//     received.
//
// # Usage
//
// In the broker's main:
//
//	svc, err := escrowsvc.New(escrowsvc.Config{
//		Chain: api, Redis: rdb, Ledger: books, // books := ledger.New(rdb)
//		Treasury: treasury, ServiceKey: key,
//	})
//	go svc.Run(ctx)
//	e, err := svc.Register(ctx, "tg:42", clientAddr, 24*time.Hour)
//	// the client's first deposit carries escrow.StateInit(e.Params) to e.Address
//	if svc.Closing(ctx, user) { /* refuse new reservations */ }
//
// Run exactly one Service per deployment: the redeem and withdrawal records
// assume a single writer per escrow.
package escrowsvc
