package bot

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
	tele "gopkg.in/telebot.v3"

	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// Config configures a Bot. The zero value of every field but Token, Redis,
// Asker and Broker means the default written beside it.
type Config struct {
	Token  string // TELEGRAM_BOT_TOKEN; never logged
	APIURL string // TELEGRAM_API_URL; default the official Bot API

	Redis  redis.UniversalClient // the bot's own state (cocoon:bot:*)
	Asker  Asker                 // runs one job (SubmitAsker in production)
	Broker Broker                // models the pool serves, cancel
	Pool   PoolFunc              // live workers for /pool; nil: not available
	Money  Money                 // balances, top-ups, receipts; nil: "coming soon"

	Admins         []int64        // Telegram user ids allowed /pool /stats /ban /price
	DefaultModel   string         // COCOON_DEFAULT_MODEL; "": the first model the pool serves
	MaxPromptBytes int            // COCOON_MAX_PROMPT_BYTES; 16384
	MaxTokens      int            // most tokens of one answer; 1024
	Options        map[string]any // Ollama options of every job (temperature, seed, ...); nil: the model's
	ContextTokens  int            // the model's context; 8192
	HistoryShare   float64        // share of ContextTokens history may fill; 0.75
	HistoryTTL     time.Duration  // how long an idle conversation is kept; 30 days
	RatePerMinute  int            // prompts per user per minute; 20; negative: no limit
	MaxSystemBytes int            // longest system prompt; 2048

	Webhook Webhook // Listen set: webhook mode instead of long polling

	PollTimeout       time.Duration // long-poll timeout; 30s
	ChatInterval      time.Duration // least time between two sends/edits in one private chat; 1.1s
	GroupInterval     time.Duration // the same in a group (20 a minute); 3.1s
	GlobalPerSecond   int           // sends+edits per second over all chats; 30 (kept with a 10% margin)
	TypingEvery       time.Duration // typing action while waiting for the first chunk; 4s
	DrainTimeout      time.Duration // how long Run lets running answers finish at shutdown; 20s
	MaxConcurrent     int           // updates handled at once; 512
	HTTPClient        *http.Client  // for the Bot API; default: a 90s timeout
	Logger            *slog.Logger  // default: discard
	ModelCacheTimeout time.Duration // how long the model list is cached; 15s
}

// Webhook configures webhook mode (deployments behind HTTPS).
type Webhook struct {
	Listen    string // address the bot's HTTP server listens on, e.g. :8443
	PublicURL string // the HTTPS URL Telegram posts to (registered with setWebhook)
	Secret    string // X-Telegram-Bot-Api-Secret-Token; checked on every request
	Path      string // path served; default the path of PublicURL, else "/telegram"
}

// Asker runs one job and streams its answer: queued is called once the
// broker stored the job (with the jobs ahead of it), delta with each new
// piece of text. It is what submit.Submitter.Run does.
type Asker interface {
	Ask(ctx context.Context, req *submit.Request, queued func(jobID string, position int), delta func(string)) (*submit.Result, error)
}

// Broker is the part of the broker's client API the bot uses
// (*client.Client implements it).
type Broker interface {
	Models(ctx context.Context) ([]wire.ModelInfo, error)
	Cancel(ctx context.Context, id string) error
}

// PoolWorker is one live worker as GET /v1/pool describes it.
type PoolWorker struct {
	ID       string             `json:"id"`
	Name     string             `json:"name,omitempty"`
	Evidence string             `json:"evidence"`
	Attested bool               `json:"attested"`
	Models   []wire.ModelDigest `json:"models"`
	MaxJobs  int                `json:"max_jobs"`
	Running  int                `json:"running"`
	Draining bool               `json:"draining,omitempty"`
	SeenMs   int64              `json:"seen_ms"`
}

// PoolFunc lists the live workers.
type PoolFunc func(ctx context.Context) ([]PoolWorker, error)

// DefaultAPIURL is the official Bot API.
const DefaultAPIURL = tele.DefaultApiURL

func (c *Config) setDefaults() error {
	if c.Token == "" {
		return errors.New("bot: no token (TELEGRAM_BOT_TOKEN)")
	}
	if c.Redis == nil || c.Asker == nil || c.Broker == nil {
		return errors.New("bot: Config needs Redis, Asker and Broker")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d == 0 {
			*d = v
		}
	}
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	defInt(&c.MaxPromptBytes, 16384)
	defInt(&c.MaxTokens, 1024)
	defInt(&c.ContextTokens, 8192)
	defInt(&c.RatePerMinute, 20)
	defInt(&c.MaxSystemBytes, 2048)
	defInt(&c.GlobalPerSecond, 30)
	defInt(&c.MaxConcurrent, 512)
	if c.HistoryShare <= 0 || c.HistoryShare > 1 {
		c.HistoryShare = 0.75
	}
	def(&c.HistoryTTL, 30*24*time.Hour)
	def(&c.PollTimeout, 30*time.Second)
	def(&c.ChatInterval, 1100*time.Millisecond)
	def(&c.GroupInterval, 3100*time.Millisecond)
	def(&c.TypingEvery, 4*time.Second)
	def(&c.DrainTimeout, 20*time.Second)
	def(&c.ModelCacheTimeout, 15*time.Second)
	if c.Webhook.Path == "" {
		c.Webhook.Path = "/telegram"
		if u, err := url.Parse(c.Webhook.PublicURL); err == nil && u.Path != "" && u.Path != "/" {
			c.Webhook.Path = u.Path
		}
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.PollTimeout + time.Minute}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Money == nil {
		c.Money = NoMoney{}
	}
	return nil
}
