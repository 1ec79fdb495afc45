// Package ton moves money between Cocoon and the TON blockchain: deposit
// memos and top-up links, a deposit watcher that credits incoming transfers
// exactly once, and batched worker payouts from a V5R1 hot wallet.
//
// The chain is reached through the narrow Chain interface, which a
// tonutils-go liteserver client satisfies. Balances live in package ledger;
// this package only calls its idempotent Credit and payout methods, through
// the small Ledger and PayoutLedger interfaces (LedgerAdapter wraps the real
// one). Settings are read once, in main, with SettingsFromEnv(os.Getenv).
//
// Top-up instructions for a user:
//
//	t, err := ton.NewTopup(settings.Network, depositAddr, "tg:42", 5*ton.NanoPerTON)
//	// t.Address, t.Memo ("c1-tg:42-…"), t.Link ("ton://transfer/…?amount=…&text=…"), t.QR (PNG)
//
// The deposit watcher, run until ctx is done:
//
//	w, err := ton.NewWatcher(ton.WatcherConfig{
//		Chain:     api, // ton.NewAPIClient(pool).WithRetry()
//		Address:   depositAddr,
//		Cursors:   ton.NewRedisCursors(rdb),
//		Unmatched: ton.NewRedisUnmatched(rdb),
//		Ledger:    ton.LedgerAdapter{L: books}, // books := ledger.New(rdb); Credit is idempotent by opID
//	})
//	go w.Run(ctx)
//
// Worker payouts:
//
//	hot, err := ton.NewHotWallet(settings.WalletSeed, settings.Network)
//	p, err := ton.NewPayer(ton.PayerConfig{Chain: api, Wallet: hot, Ledger: ton.LedgerAdapter{L: books},
//		Store: ton.NewRedisPayouts(rdb), Threshold: settings.PayoutThreshold})
//	go p.Run(ctx, ton.LedgerDue{L: books, PayoutAddress: workerAddress})
package ton
