package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/bot"
	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/submit"
)

// runBot runs the Telegram bot until SIGINT/SIGTERM.
func runBot(ctx context.Context, env *config.Env, args []string) error {
	if len(args) > 0 {
		return &exitError{2, "usage: cocoon bot  (settings come from the environment; see the README)"}
	}
	log := newLogger(env)
	b, closeFn, err := newBot(env, botOverrides{}, log)
	if err != nil {
		return err
	}
	defer closeFn()
	return b.Run(ctx)
}

// botOverrides are settings `cocoon up` knows better than the environment.
type botOverrides struct {
	BrokerURL, BrokerToken, RedisURL string
	AllowInsecure                    bool   // the local stack's workers are insecure-dev
	Secret                           []byte // the submitter secret up wrote to dev.env
}

// startBot starts the bot in the background when TELEGRAM_BOT_TOKEN is set
// (`cocoon up`); it stops when ctx ends. Bad settings are returned at once.
func startBot(ctx context.Context, env *config.Env, o botOverrides, log *slog.Logger) error {
	if _, ok := env.Lookup("TELEGRAM_BOT_TOKEN"); !ok {
		return nil
	}
	log = log.With("component", "bot")
	b, closeFn, err := newBot(env, o, log)
	if err != nil {
		return err
	}
	go func() {
		defer closeFn()
		if err := b.Run(ctx); err != nil {
			log.Error("telegram bot stopped", "err", err)
		}
	}()
	return nil
}

// newBot reads the bot's settings (README table) and wires it to the
// broker's client API and Redis.
func newBot(env *config.Env, o botOverrides, log *slog.Logger) (*bot.Bot, func(), error) {
	token := env.Required("TELEGRAM_BOT_TOKEN", "the token @BotFather gave the bot")
	apiURL := env.URL("TELEGRAM_API_URL", bot.DefaultAPIURL, "https")
	brokerURL := orDefault(o.BrokerURL, env.URL("COCOON_BROKER_URL", defaultBrokerURL, "http"))
	brokerToken := o.BrokerToken
	if brokerToken == "" {
		brokerToken = env.Required("COCOON_BROKER_TOKEN", "the broker's service token")
	}
	limit := env.Int("COCOON_MAX_PROMPT_BYTES", 16384, 1, 1<<20)
	policy := attestPolicy(env)
	if o.AllowInsecure {
		policy.AllowInsecureDev = true
	}
	secret := o.Secret
	if secret == nil {
		secret = submitterSecret(env)
	}
	cfg := bot.Config{
		Token:          token,
		APIURL:         apiURL,
		DefaultModel:   env.String("COCOON_DEFAULT_MODEL", ""),
		MaxPromptBytes: limit,
		MaxTokens:      env.Int("COCOON_BOT_MAX_TOKENS", 1024, 1, 1<<20),
		ContextTokens:  env.Int("COCOON_BOT_CONTEXT_TOKENS", 8192, 256, 1<<24),
		HistoryTTL:     env.Duration("COCOON_BOT_HISTORY_TTL", 30*24*time.Hour),
		RatePerMinute:  env.Int("COCOON_BOT_RATE_LIMIT", 20, 0, 100000),
		Admins:         botAdmins(env),
		Options:        botOptions(env),
		Webhook: bot.Webhook{
			Listen:    env.String("COCOON_BOT_WEBHOOK_LISTEN", ""),
			PublicURL: env.String("COCOON_BOT_WEBHOOK_URL", ""),
			Secret:    env.String("COCOON_BOT_WEBHOOK_SECRET", ""),
		},
		Logger: log,
	}
	if cfg.RatePerMinute == 0 {
		cfg.RatePerMinute = -1 // 0 in the setting: no limit
	}
	if w := cfg.Webhook; w.Listen != "" && (!strings.HasPrefix(w.PublicURL, "https://") || len(w.Secret) < 16) {
		env.Invalid("COCOON_BOT_WEBHOOK_URL", "webhook mode needs an https:// COCOON_BOT_WEBHOOK_URL and a COCOON_BOT_WEBHOOK_SECRET of at least 16 characters")
	}
	var rdb redis.UniversalClient
	var err error
	if o.RedisURL != "" {
		opt, perr := redis.ParseURL(o.RedisURL)
		if perr != nil {
			return nil, nil, fmt.Errorf("REDIS_URL: %w", perr)
		}
		rdb = redis.NewClient(opt)
	} else if rdb, err = redisClient(env); err != nil {
		return nil, nil, err
	}
	if err := env.Err(); err != nil {
		rdb.Close()
		return nil, nil, err
	}
	c := client.New(brokerURL, brokerToken)
	cfg.Redis, cfg.Broker = rdb, c
	cfg.Asker = bot.SubmitAsker{New: func() *submit.Submitter {
		return &submit.Submitter{C: c, MaxPromptBytes: limit, Policy: policy, Secret: secret}
	}}
	cfg.Pool = bot.PoolFromRaw(c.Pool)
	cfg.Money = brokerMoney{c: c}
	b, err := bot.New(cfg)
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return b, func() { rdb.Close() }, nil
}

func orDefault(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// botAdmins reads COCOON_BOT_ADMINS: Telegram user ids, comma-separated.
func botAdmins(env *config.Env) []int64 {
	v, ok := env.Lookup("COCOON_BOT_ADMINS")
	if !ok {
		return nil
	}
	var ids []int64
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id <= 0 {
			env.Invalid("COCOON_BOT_ADMINS", "want Telegram user ids, comma-separated")
			return nil
		}
		ids = append(ids, id)
	}
	return ids
}

// botOptions reads COCOON_BOT_OPTIONS: the Ollama options of every job, as
// a JSON object ({"temperature":0.7}).
func botOptions(env *config.Env) map[string]any {
	v, ok := env.Lookup("COCOON_BOT_OPTIONS")
	if !ok {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		env.Invalid("COCOON_BOT_OPTIONS", "want a JSON object of Ollama options")
		return nil
	}
	return m
}

// brokerMoney answers the bot's money questions from the broker: /balance
// and the cost line of the footer. The other commands are not built yet.
type brokerMoney struct{ c *client.Client }

func (m brokerMoney) Command(ctx context.Context, r bot.MoneyRequest) (string, error) {
	if r.Command != "balance" {
		return "", bot.ErrComingSoon
	}
	bal, err := m.c.Balance(ctx, r.User)
	if err != nil {
		return "", err
	}
	if !bal.Billing {
		return "", bot.ErrComingSoon
	}
	return ledger.FormatTON(bal.Available) + " TON", nil
}

func (m brokerMoney) Cost(ctx context.Context, _ string, res *submit.Result) string {
	if res == nil || res.JobID == "" {
		return ""
	}
	if cost := m.c.Cost(ctx, res.JobID, 2*time.Second); cost != nil {
		return ledger.FormatTON(*cost) + " TON"
	}
	return ""
}

func (brokerMoney) Price(context.Context, string) string { return "" }
