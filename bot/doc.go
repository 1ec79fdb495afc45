// Package bot is Cocoon's Telegram frontend: it turns chat messages into
// jobs on the broker (through submit and broker/client, like `cocoon ask`),
// streams the answers back into the chat by sending one message early and
// editing it as chunks arrive, and keeps its own state (per-user settings,
// per-topic conversation history, bans, counters) in Redis under the
// `cocoon:bot:` key prefix, never touching the broker's job keys.
//
//	c := client.New(brokerURL, serviceToken)
//	b, err := bot.New(bot.Config{
//		Token: token, // TELEGRAM_BOT_TOKEN
//		Redis: rdb,   // the bot's own state
//		Asker: bot.SubmitAsker{New: func() *submit.Submitter { // runs jobs
//			return &submit.Submitter{C: c, Policy: policy, Secret: secret}
//		}},
//		Broker: c, // models, cancel
//	})
//	if err != nil { ... }
//	err = b.Run(ctx) // long polling (or a webhook) until ctx ends
//
// Telegram's limits are kept by one limiter shared by every send and edit
// (limiter.go); the model's Markdown becomes Telegram HTML (markdown.go)
// and a message Telegram refuses is re-sent as plain text; answers longer
// than a message continue in further messages split at paragraph and code
// block boundaries (split.go). Every user-facing string comes from the
// catalogue in i18n.go.
package bot
