// Package ledger is Cocoon's authoritative money ledger on Redis: user
// balances, per-job reservations and settlements, worker earnings and payouts,
// and operator revenue, in nanoTON, on a single node or Redis Cluster.
//
// Every operation is one Lua script on one hash slot and is idempotent by an
// operation id (a tx hash, a telegram_payment_charge_id, a job id, a payout
// id): a repeat returns the first result and changes nothing. Unreserve is
// the exception: it undoes a reservation whose job was never queued and
// forgets it, so the same job id can be reserved again (a repeat finds no
// reservation). A settlement
// writes what it owes workers and the operator into an outbox in the user's
// slot; ApplyOutbox (run by an Aggregator) moves it to their slots exactly
// once. Check proves the invariant
//
//	user balances + reservations + outbox in transit + worker earnings
//	  + payouts in flight + operator revenue
//	= deposits (TON + Stars + escrow + trial) − payouts − escrow refunds
//
// The key schema is in keys.go.
//
// Usage in the broker:
//
//	l := ledger.New(rdb) // *redis.Client or *redis.ClusterClient
//	if err := l.RewriteAOF(ctx); err != nil { // once on start: see RewriteAOF
//		return err
//	}
//	agg := l.NewAggregator(ledger.AggregatorConfig{})
//	agg.Start(ctx)
//	defer agg.Shutdown()
//
//	prices, err := ledger.ParsePrices(os.Getenv(ledger.PricesSetting))
//	price, err := prices.Lookup(model)
//	amount, err := price.ReserveAmount(int64(len(prompt)), maxTokens, userMaxCoef)
//	if _, err := l.Reserve(ctx, user, jobID, amount); errors.Is(err, ledger.ErrInsufficientBalance) {
//		// tell the user to /topup before queuing the job
//	}
//	// the queue refused the job: l.Unreserve(ctx, user, jobID) (a retry
//	// with the same id reserves again)
//	// ... the job runs; a worker dies, another finishes ...
//	s, err := ledger.NewSettlement(user, jobID, model, price, commissionBP, []ledger.SegmentUsage{
//		{WorkerID: "w1", CompletionTokens: 40, Coef: 1000, Signed: false}, // died: share to operator
//		{WorkerID: "w2", PromptTokens: 12, CompletionTokens: 60, Coef: 1100, Signed: true},
//	})
//	rc, err := l.Settle(ctx, s) // or l.Release(ctx, user, jobID) when nothing was delivered
package ledger
