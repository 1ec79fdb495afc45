package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/xssnick/tonutils-go/address"
	tele "gopkg.in/telebot.v3"

	"github.com/cocoon-network/cocoon/apikey"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/ton"
	"github.com/cocoon-network/cocoon/wire"
)

// Config configures a Bot. The zero value of every field but Token, Redis,
// HistoryKey, Asker and Broker means the default written beside it.
type Config struct {
	Token  string // TELEGRAM_BOT_TOKEN; never logged
	APIURL string // TELEGRAM_API_URL; default the official Bot API

	Redis redis.UniversalClient // the bot's own state (cocoon:bot:*)
	// HistoryKey (COCOON_BOT_HISTORY_KEY, 32 bytes) seals what users wrote,
	// the answers, system prompts and receipts in Redis; required. Another
	// key later makes the old history unreadable (it is skipped, not shown).
	HistoryKey []byte
	Asker      Asker    // runs one job (SubmitAsker in production)
	Broker     Broker   // models the pool serves, cancel
	Pool       PoolFunc // live workers for /pool; nil: not available

	// Accounts is the broker's billing API (*client.Client): /balance,
	// /usage, the footer's cost, the low-balance message and Stars credits.
	// nil: the bot says billing is off.
	Accounts Accounts
	// Keys is the API key store (*apikey.Store) behind /apikey; nil: /apikey
	// says it is not available.
	Keys Keys
	// Prices (COCOON_PRICES, as the broker has them) label the models in
	// /model and /price and estimate what an answer needs in the low-balance
	// message; nil: no labels.
	Prices ledger.Prices
	// TON offers TON top-ups in /topup (COCOON_TON_DEPOSIT_ADDRESS); nil:
	// Stars only.
	TON *TONTopup
	// StarsNanoTON is what one Telegram Star credits, in nanoTON
	// (COCOON_STARS_NANOTON); 10_000_000 (0.01 TON).
	StarsNanoTON int64
	// StarAmounts are the Star amounts /topup offers (and the only ones a
	// pre-checkout accepts); 50, 100, 250, 500, 1000.
	StarAmounts []int
	// CostWait is how long the footer waits for a finished job's charge; 2s.
	CostWait time.Duration
	// CreditRetry is how often Stars payments the broker could not credit
	// yet are retried; 30s.
	CreditRetry time.Duration

	Admins         []int64        // Telegram user ids allowed /pool /stats /ban /price /refund
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

	// Drafts (COCOON_BOT_DRAFTS) is how answers stream in private chats:
	// DraftsAuto (the default) with sendMessageDraft, switching the process
	// to edits the first time the Bot API server refuses the method;
	// DraftsOn the same, falling back for that answer only; DraftsOff edits
	// everywhere. Groups always stream by edits.
	Drafts string

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

// Accounts is the part of the broker's client API behind the money
// commands (*client.Client implements it).
type Accounts interface {
	Balance(ctx context.Context, user string) (*wire.Balance, error)
	Account(ctx context.Context, user string) (*wire.Account, error)
	Credit(ctx context.Context, user string, req wire.CreditRequest) (*wire.CreditResponse, error)
	// Refund debits a refunded payment (idempotent by OpID).
	Refund(ctx context.Context, user string, req wire.CreditRequest) (*wire.CreditResponse, error)
	// Cost waits up to wait for a finished job's charge (nil: none).
	Cost(ctx context.Context, id string, wait time.Duration) *int64
}

// Keys is the API key store behind /apikey (*apikey.Store implements it).
type Keys interface {
	Create(ctx context.Context, owner string) (id, key string, err error)
	Revoke(ctx context.Context, owner, id string) error
	List(ctx context.Context, owner string) ([]apikey.Key, error)
}

// TONTopup is where /topup tells users to send TON (ton.SettingsFromEnv).
type TONTopup struct {
	Network ton.Network
	Deposit *address.Address
}

// DefaultAPIURL is the official Bot API.
const DefaultAPIURL = tele.DefaultApiURL

// Stars defaults.
const (
	DefaultStarsNanoTON = 10_000_000 // 0.01 TON per Star
	maxStars            = 100_000    // most Stars one top-up button may ask
)

// DefaultStarAmounts are the top-up buttons of /topup.
var DefaultStarAmounts = []int{50, 100, 250, 500, 1000}

func (c *Config) setDefaults() error {
	if c.Token == "" {
		return errors.New("bot: no token (TELEGRAM_BOT_TOKEN)")
	}
	if c.Redis == nil || c.Asker == nil || c.Broker == nil {
		return errors.New("bot: Config needs Redis, Asker and Broker")
	}
	if len(c.HistoryKey) != 32 {
		return errors.New("bot: HistoryKey (COCOON_BOT_HISTORY_KEY) must be 32 bytes")
	}
	if c.StarsNanoTON == 0 {
		c.StarsNanoTON = DefaultStarsNanoTON
	}
	if c.StarsNanoTON < 0 || c.StarsNanoTON > ledger.MaxAmount/maxStars {
		return fmt.Errorf("bot: StarsNanoTON (COCOON_STARS_NANOTON) %d out of range 1..%d", c.StarsNanoTON, ledger.MaxAmount/maxStars)
	}
	if len(c.StarAmounts) == 0 {
		c.StarAmounts = DefaultStarAmounts
	}
	for _, n := range c.StarAmounts {
		if n < 1 || n > maxStars {
			return fmt.Errorf("bot: Star amount %d out of range 1..%d", n, maxStars)
		}
	}
	if c.TON != nil && c.TON.Deposit == nil {
		return errors.New("bot: TON top-ups need a deposit address")
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
	switch c.Drafts {
	case "":
		c.Drafts = DraftsAuto
	case DraftsAuto, DraftsOn, DraftsOff:
	default:
		return fmt.Errorf("bot: Drafts (COCOON_BOT_DRAFTS) %q: want auto, on or off", c.Drafts)
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
	def(&c.CostWait, 2*time.Second)
	def(&c.CreditRetry, 30*time.Second)
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
	return nil
}
