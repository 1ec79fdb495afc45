// Package bot is Cocoon's Telegram frontend: it turns chat messages into
// jobs on the broker (through submit and broker/client, like `cocoon ask`),
// streams the answers back into the chat by sending one message early and
// editing it as chunks arrive, and keeps its own state (per-user settings,
// per-topic conversation history, bans, counters) in Redis under the
// `cocoon:bot:` key prefix, never touching the broker's job keys.
//
//	c := client.New(brokerURL, serviceToken)
//	b, err := bot.New(bot.Config{
//		Token:      token,      // TELEGRAM_BOT_TOKEN
//		Redis:      rdb,        // the bot's own state
//		HistoryKey: historyKey, // COCOON_BOT_HISTORY_KEY: seals history at rest
//		Asker: bot.SubmitAsker{New: func() *submit.Submitter { // runs jobs
//			return &submit.Submitter{C: c, Policy: policy, Secret: secret}
//		}},
//		Broker:   c,               // models, cancel
//		Accounts: c,               // /balance /usage /topup, Stars credits, the footer's cost
//		Keys:     apikey.New(rdb), // /apikey
//	})
//	if err != nil { ... }
//	err = b.Run(ctx) // long polling (or a webhook) until ctx ends
//
// What users write, the answers, system prompts and the receipts /verify
// shows are sealed at rest (seal.AtRest) under the history key, each bound
// to its Redis key and field (keys.go). Money: /balance and /usage read the
// broker's ledger; /topup shows the TON deposit with the user's memo, link
// and QR code, and Telegram Stars invoices (payments.go), credited once per
// Telegram charge id and retried until the broker takes them (credits.go).
//
// Telegram's limits are kept by one limiter shared by every send and edit
// (limiter.go); the model's Markdown becomes Telegram HTML (markdown.go)
// and a message Telegram refuses is re-sent as plain text; answers longer
// than a message continue in further messages split at paragraph and code
// block boundaries (split.go). Every user-facing string comes from the
// catalogue in i18n.go.
package bot
