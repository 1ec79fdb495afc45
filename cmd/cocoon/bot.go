package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/apikey"
	"github.com/cocoon-network/cocoon/bot"
	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/internal/obs"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/ton"
)

// runBot runs the Telegram bot until SIGINT/SIGTERM.
func runBot(ctx context.Context, env *config.Env, args []string) error {
	if len(args) > 0 {
		return &exitError{2, "usage: cocoon bot  (settings come from the environment; see the README)"}
	}
	log := newLogger(env)
	metricsAddr := env.String("COCOON_METRICS_ADDR", "")
	b, closeFn, err := newBot(env, botOverrides{}, log)
	if err != nil {
		return err
	}
	defer closeFn()
	c := client.New(env.URL("COCOON_BROKER_URL", defaultBrokerURL, "http"), env.Get("COCOON_BROKER_TOKEN"))
	brokerUp := func(ctx context.Context) error { _, err := c.Models(ctx); return err }
	if _, err := obs.Start(context.WithoutCancel(ctx), metricsAddr, obs.Draining(ctx, brokerUp)); err != nil {
		return err
	}
	return b.Run(ctx)
}

// botOverrides are settings `cocoon up` knows better than the environment.
type botOverrides struct {
	BrokerURL, BrokerToken, RedisURL string
	AllowInsecure                    bool   // the local stack's workers are insecure-dev
	Secret                           []byte // the submitter secret up wrote to dev.env
	// HistoryKeyFile: when COCOON_BOT_HISTORY_KEY is unset, a key made once
	// and kept in this file (0600), so the local Redis's history stays
	// readable from one `make up` to the next. "": the setting is required.
	HistoryKeyFile string
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
	maxCoef := maxPriceCoef(env)
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
		HistoryKey:     historyKey(env, o.HistoryKeyFile),
		StarsNanoTON:   starsNanoTON(env),
		Drafts:         env.String("COCOON_BOT_DRAFTS", "auto"),
		Prices:         botPrices(env),
		TON:            botTON(env),
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
		return &submit.Submitter{C: c, MaxPromptBytes: limit, Policy: policy, Secret: secret, MaxCoef: maxCoef}
	}}
	cfg.Pool = bot.PoolFromRaw(c.Pool)
	cfg.Accounts = c
	cfg.Keys = apikey.New(rdb) // the store the gateway resolves keys in (same Redis)
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

// historyKey reads COCOON_BOT_HISTORY_KEY: 64 hex digits (32 bytes) that
// seal the bot's history, system prompts and receipts in Redis. Under
// `cocoon up` (file set) an unset key is made once and kept in file. The
// value never appears in an error.
func historyKey(env *config.Env, file string) []byte {
	v, ok := env.Lookup("COCOON_BOT_HISTORY_KEY")
	if !ok && file != "" {
		k, err := devHistoryKey(file)
		if err != nil {
			env.Invalid("COCOON_BOT_HISTORY_KEY", "unset, and no key could be kept in "+file+": "+err.Error())
		}
		return k
	}
	if !ok {
		env.Required("COCOON_BOT_HISTORY_KEY", "64 hex digits sealing the bot's history in Redis (make one: openssl rand -hex 32)")
		return nil
	}
	k, err := hex.DecodeString(strings.TrimSpace(v))
	if err != nil || len(k) != 32 {
		env.Invalid("COCOON_BOT_HISTORY_KEY", "want 64 hex digits (32 bytes); value not shown")
		return nil
	}
	return k
}

// devHistoryKey returns the key kept in path, making it first if there is
// none (for `cocoon up`).
func devHistoryKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k := make([]byte, 32)
		rand.Read(k)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return devHistoryKey(path) // made meanwhile by another start
		}
		if err != nil {
			return nil, err
		}
		_, err = f.WriteString(hex.EncodeToString(k) + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("%s does not hold 64 hex digits", path)
	}
	return k, nil
}

// starsNanoTON reads COCOON_STARS_NANOTON: what one Telegram Star credits.
func starsNanoTON(env *config.Env) int64 {
	n := env.Int64("COCOON_STARS_NANOTON", bot.DefaultStarsNanoTON)
	if n < 1 || n > ledger.MaxAmount/100_000 {
		env.Invalid("COCOON_STARS_NANOTON", fmt.Sprintf("want nanoTON per Star in 1..%d", ledger.MaxAmount/100_000))
		return bot.DefaultStarsNanoTON
	}
	return n
}

// botPrices reads COCOON_PRICES when the bot's environment has it (as
// under `cocoon up`): price labels in /model and /price, and the estimate
// in the low-balance message. The broker's copy is the one that charges.
func botPrices(env *config.Env) ledger.Prices {
	v, ok := env.Lookup("COCOON_PRICES")
	if !ok {
		return nil
	}
	p, err := ledger.ParsePrices(v)
	if err != nil {
		env.Invalid("COCOON_PRICES", err.Error())
		return nil
	}
	return p
}

// botTON reads where /topup tells users to send TON
// (COCOON_TON_NETWORK, COCOON_TON_DEPOSIT_ADDRESS); nil when no deposit
// address is set. The bot never reads the hot wallet's seed.
func botTON(env *config.Env) *bot.TONTopup {
	st, err := ton.SettingsFromEnv(func(name string) string {
		if name == ton.EnvWalletSeed || name == ton.EnvWalletSeedFile {
			return ""
		}
		return env.Get(name)
	})
	if err != nil {
		env.Invalid(ton.EnvDepositAddress, err.Error())
		return nil
	}
	if st.DepositAddress == nil {
		return nil
	}
	return &bot.TONTopup{Network: st.Network, Deposit: st.DepositAddress}
}
