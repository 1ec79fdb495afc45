package config

import (
	"math"
	"slices"
	"sort"
)

// Kind is the type of a setting's value.
type Kind int

const (
	KindString   Kind = iota // any text
	KindBool                 // true/false (also 1/0, yes/no, on/off in the environment)
	KindInt                  // an integer within [Min, Max]
	KindDuration             // a positive Go duration: 15s, 500ms, 30m
	KindURL                  // a URL; a bare host:port gets Scheme
	KindEnum                 // one of Values
)

func (k Kind) String() string {
	return [...]string{"string", "boolean", "integer", "duration", "URL", "choice"}[k]
}

// All in Setting.UsedBy means every subcommand.
const All = "all"

// Setting is one entry of the settings registry: the README's table, in Go.
// Every name the code reads (cmd/cocoon, through *Env or ton.SettingsFromEnv)
// is here; a test checks that against the code and the README.
type Setting struct {
	Name     string
	Kind     Kind
	Default  string   // as the code applies it; "" when unset means off, none or derived
	Min, Max int64    // KindInt bounds, inclusive
	Values   []string // KindEnum choices
	Scheme   string   // KindURL: the scheme a bare host:port gets
	UsedBy   []string // subcommands that read it (All: every one)
	Required []string // subcommands that refuse to start without it
	Secret   bool     // never printed, not even in an error
	Meaning  string
}

// Used reports whether subcommand cmd reads the setting.
func (s Setting) Used(cmd string) bool {
	return slices.Contains(s.UsedBy, All) || slices.Contains(s.UsedBy, cmd)
}

// RequiredBy reports whether subcommand cmd refuses to start without it.
func (s Setting) RequiredBy(cmd string) bool { return slices.Contains(s.Required, cmd) }

// Subcommands that read settings.
var (
	submitters = []string{"ask", "bot", "gateway"}
	trustUsers = []string{"broker", "ask", "bot", "gateway", "verify-receipt"}
	redisUsers = []string{"broker", "bot", "gateway", "ledger", "admin", "up"}
)

func with(a []string, b ...string) []string { return append(slices.Clone(a), b...) }

const maxInt64 = math.MaxInt64

// registry lists every setting. Keep it in the README's order; new rows go
// to the README too (TestREADMEMatchesRegistry).
var registry = []Setting{
	{Name: "REDIS_URL", Kind: KindURL, Scheme: "redis", Default: "redis://127.0.0.1:6379/0", UsedBy: redisUsers,
		Meaning: "Redis the broker keeps jobs in (the bot its state, the gateway its API keys)"},
	{Name: "REDIS_CLUSTER", Kind: KindBool, Default: "false", UsedBy: redisUsers,
		Meaning: "treat REDIS_URL as a cluster URL (redis://h1:p1?addr=h2:p2)"},
	{Name: "OLLAMA_HOST", Kind: KindURL, Scheme: "http", Default: "http://127.0.0.1:11434", UsedBy: []string{"worker", "up"},
		Meaning: "the worker's local Ollama"},
	{Name: "COCOON_BROKER_ADDR", Kind: KindString, Default: "127.0.0.1:7700", UsedBy: []string{"broker"},
		Meaning: "listen address of both broker APIs"},
	{Name: "COCOON_BROKER_URL", Kind: KindURL, Scheme: "http", Default: "http://127.0.0.1:7700",
		UsedBy: []string{"worker", "ask", "bot", "gateway", "admin"}, Meaning: "where the broker is"},
	{Name: "COCOON_BROKER_TOKEN", Kind: KindString, Secret: true,
		UsedBy: []string{"broker", "ask", "bot", "gateway", "admin", "up"}, Required: []string{"broker", "ask", "bot", "gateway", "admin"},
		Meaning: "service token of the client API"},
	{Name: "COCOON_ALLOW_INSECURE_WORKERS", Kind: KindBool, Default: "false", UsedBy: trustUsers,
		Meaning: "accept insecure-dev workers (no TDX); logged as a warning"},
	{Name: "COCOON_WORKER_INSECURE", Kind: KindBool, Default: "false", UsedBy: []string{"worker"},
		Meaning: "join with insecure-dev evidence (machines without TDX)"},
	{Name: "COCOON_WORKER_NAME", Kind: KindString, UsedBy: []string{"worker"},
		Meaning: "name shown in the pool (default: host name)"},
	{Name: "COCOON_WORKER_MAX_JOBS", Kind: KindInt, Default: "4", Min: 1, Max: 1024, UsedBy: []string{"worker"},
		Meaning: "jobs run at once"},
	{Name: "COCOON_DEFAULT_MODEL", Kind: KindString, UsedBy: []string{"ask", "bot", "up"},
		Meaning: "model when none is chosen (default: the first model the pool serves)"},
	{Name: "COCOON_MAX_PROMPT_BYTES", Kind: KindInt, Default: "16384", Min: 1, Max: 1 << 20, UsedBy: with(submitters, "broker"),
		Meaning: "longest prompt; longer ones are refused before a job exists"},
	{Name: "COCOON_MAX_TOKENS", Kind: KindInt, Default: "8192", Min: 1, Max: 1 << 20, UsedBy: []string{"broker", "gateway"},
		Meaning: "largest max_tokens of one job"},
	{Name: "COCOON_MAX_USER_JOBS", Kind: KindInt, Default: "8", Min: 0, Max: 1 << 20, UsedBy: []string{"broker"},
		Meaning: "running jobs per user and model (0: no cap)"},
	{Name: "COCOON_LEASE", Kind: KindDuration, Default: "15s", UsedBy: []string{"broker"},
		Meaning: "job lease; workers extend it every third of it"},
	{Name: "COCOON_MAX_ATTEMPTS", Kind: KindInt, Default: "5", Min: 1, Max: 100, UsedBy: []string{"broker"},
		Meaning: "attempts before a job is dead-lettered"},
	{Name: "COCOON_RETRY_BACKOFF", Kind: KindDuration, Default: "100ms", UsedBy: []string{"broker"},
		Meaning: "first retry delay, doubled per attempt (at most 10 s)"},
	{Name: "COCOON_MAX_QUEUE", Kind: KindInt, Default: "10000", Min: 0, Max: 1 << 30, UsedBy: []string{"broker"},
		Meaning: "queued jobs per model before submits get busy (0: no limit)"},
	{Name: "COCOON_REATTEST", Kind: KindDuration, Default: "30m", UsedBy: []string{"broker"},
		Meaning: "workers attest again this often"},
	{Name: "COCOON_TDX_ALLOW", Kind: KindString, UsedBy: trustUsers,
		Meaning: "allowed measurements: MRTD:RTMR0:RTMR1:RTMR2 in hex, comma-separated (unset: no quote accepted)"},
	{Name: "COCOON_TDX_COLLATERAL", Kind: KindEnum, Default: "offline", Values: []string{"offline", "online"}, UsedBy: trustUsers,
		Meaning: "online fetches TCB info, QE identity and CRLs from Intel; offline checks chain and signatures only"},
	{Name: "COCOON_SUBMITTER_SECRET", Kind: KindString, Secret: true, UsedBy: submitters,
		Meaning: "hex, >= 16 bytes; each job's chunk key derives from it and the job id (unset: random per process)"},
	{Name: "COCOON_PRICES", Kind: KindString, UsedBy: []string{"broker", "bot", "up"},
		Meaning: "per model name=promptPer1K/completionPer1K in nanoTON, comma-separated (unset: billing off)"},
	{Name: "COCOON_COMMISSION_BP", Kind: KindInt, Default: "1000", Min: 0, Max: 10_000, UsedBy: []string{"broker"},
		Meaning: "operator commission in basis points of each charge"},
	{Name: "COCOON_TRIAL_CREDIT_NANOTON", Kind: KindInt, Default: "0", Min: 0, Max: maxInt64, UsedBy: []string{"broker", "up"},
		Meaning: "credited once to each new user"},
	{Name: "COCOON_TON_CONFIG_URL", Kind: KindURL, Scheme: "https", UsedBy: []string{"broker"},
		Meaning: "liteserver global config URL; turns on the deposit watcher and worker payouts"},
	{Name: "COCOON_ESCROW_TREASURY", Kind: KindString, UsedBy: []string{"broker"},
		Meaning: "TON address receiving redeemed escrow charges; turns on API clients' escrows (needs COCOON_TON_CONFIG_URL)"},
	{Name: "COCOON_ESCROW_SERVICE_KEY_FILE", Kind: KindString, UsedBy: []string{"broker"},
		Meaning: "file holding the ed25519 seed (64 hex digits) that signs escrow vouchers"},
	{Name: "COCOON_TON_NETWORK", Kind: KindEnum, Default: "testnet", Values: []string{"mainnet", "testnet"}, UsedBy: []string{"broker", "bot"},
		Meaning: "mainnet or testnet"},
	{Name: "COCOON_TON_DEPOSIT_ADDRESS", Kind: KindString, UsedBy: []string{"broker", "bot"},
		Meaning: "where users send top-ups (default: the hot wallet's address)"},
	{Name: "COCOON_TON_WALLET_SEED", Kind: KindString, Secret: true, UsedBy: []string{"broker"},
		Meaning: "24-word hot-wallet mnemonic (unset: no payouts); never logged"},
	{Name: "COCOON_TON_WALLET_SEED_FILE", Kind: KindString, UsedBy: []string{"broker"},
		Meaning: "a file holding the hot-wallet mnemonic"},
	{Name: "COCOON_PAYOUT_THRESHOLD_NANOTON", Kind: KindInt, Default: "1000000000", Min: 1, Max: maxInt64, UsedBy: []string{"broker"},
		Meaning: "smallest worker payout"},
	{Name: "COCOON_TON_POLL_INTERVAL", Kind: KindDuration, Default: "5s", UsedBy: []string{"broker"},
		Meaning: "deposit watcher period"},
	{Name: "COCOON_WORKER_PAYOUT_ADDRESS", Kind: KindString, UsedBy: []string{"worker"},
		Meaning: "TON address the worker's earnings are paid to (unset: earnings accrue unpaid)"},
	{Name: "COCOON_WORKER_PRICE_COEF", Kind: KindInt, Default: "1000", Min: 1, Max: 100000, UsedBy: []string{"worker"},
		Meaning: "the worker's price coefficient, 1000 = 1.0x the model price; submitters skip workers above their maximum"},
	{Name: "COCOON_MAX_PRICE_COEF", Kind: KindInt, Default: "1000", Min: 1, Max: 100000, UsedBy: []string{"ask", "bot", "gateway"},
		Meaning: "the most worker price coefficient a submitter accepts; reservations cover it"},
	{Name: "COCOON_LOG_FORMAT", Kind: KindEnum, Default: "text", Values: []string{"text", "json"}, UsedBy: []string{All},
		Meaning: "json for production logs"},
	{Name: "COCOON_DEBUG", Kind: KindBool, Default: "false", UsedBy: []string{All},
		Meaning: "debug logging"},

	// Added with the operations work (config file, metrics).
	{Name: "COCOON_CONFIG", Kind: KindString, UsedBy: []string{All},
		Meaning: "a TOML file of settings keyed by these names; the environment overrides it, it overrides .cocoon/dev.env"},
	{Name: "COCOON_METRICS_ADDR", Kind: KindString, UsedBy: []string{"broker", "worker", "bot", "gateway"},
		Meaning: "listen address of /metrics, /healthz and /readyz (unset: not served)"},

	// The bot.
	{Name: "TELEGRAM_BOT_TOKEN", Kind: KindString, Secret: true, UsedBy: []string{"bot", "up"}, Required: []string{"bot"},
		Meaning: "the token @BotFather gave the bot; never logged"},
	{Name: "TELEGRAM_API_URL", Kind: KindURL, Scheme: "https", Default: "https://api.telegram.org", UsedBy: []string{"bot", "up"},
		Meaning: "Telegram Bot API server"},
	{Name: "COCOON_BOT_MAX_TOKENS", Kind: KindInt, Default: "1024", Min: 1, Max: 1 << 20, UsedBy: []string{"bot", "up"},
		Meaning: "most tokens of one answer"},
	{Name: "COCOON_BOT_CONTEXT_TOKENS", Kind: KindInt, Default: "8192", Min: 256, Max: 1 << 24, UsedBy: []string{"bot", "up"},
		Meaning: "the model's context the conversation history must fit"},
	{Name: "COCOON_BOT_HISTORY_TTL", Kind: KindDuration, Default: "720h", UsedBy: []string{"bot", "up"},
		Meaning: "how long an idle conversation is kept"},
	{Name: "COCOON_BOT_RATE_LIMIT", Kind: KindInt, Default: "20", Min: 0, Max: 100000, UsedBy: []string{"bot", "up"},
		Meaning: "prompts per user per minute (0: no limit)"},
	{Name: "COCOON_BOT_ADMINS", Kind: KindString, UsedBy: []string{"bot", "up"},
		Meaning: "Telegram user ids allowed the admin commands, comma-separated"},
	{Name: "COCOON_BOT_OPTIONS", Kind: KindString, UsedBy: []string{"bot", "up"},
		Meaning: `Ollama options of every job, a JSON object ({"temperature":0.7})`},
	{Name: "COCOON_BOT_WEBHOOK_LISTEN", Kind: KindString, UsedBy: []string{"bot", "up"},
		Meaning: "webhook mode: the bot's listen address (unset: long polling)"},
	{Name: "COCOON_BOT_WEBHOOK_URL", Kind: KindString, UsedBy: []string{"bot", "up"},
		Meaning: "webhook mode: the public https:// URL Telegram posts to"},
	{Name: "COCOON_BOT_WEBHOOK_SECRET", Kind: KindString, Secret: true, UsedBy: []string{"bot", "up"},
		Meaning: "webhook mode: secret token Telegram sends (>= 16 characters)"},
	{Name: "COCOON_BOT_DRAFTS", Kind: KindEnum, Default: "auto", Values: []string{"auto", "on", "off"}, UsedBy: []string{"bot", "up"},
		Meaning: "streaming in private chats: sendMessageDraft (auto: edits from the first refusal on; on: fall back per answer; off: edits)"},
	{Name: "COCOON_BOT_HISTORY_KEY", Kind: KindString, Secret: true, UsedBy: []string{"bot", "up"}, Required: []string{"bot"},
		Meaning: "64 hex digits (32 bytes) sealing stored prompts, answers, system prompts and receipts in Redis (up keeps one in .cocoon/bot-history.key); never logged"},
	{Name: "COCOON_STARS_NANOTON", Kind: KindInt, Default: "10000000", Min: 1, Max: 10_000_000_000_000, UsedBy: []string{"bot", "up"},
		Meaning: "nanoTON credited per Telegram Star (default 0.01 TON)"},

	// The gateway.
	{Name: "COCOON_GATEWAY_ADDR", Kind: KindString, Default: "127.0.0.1:7800", UsedBy: []string{"gateway", "up"},
		Meaning: "listen address of the OpenAI-compatible API"},
	{Name: "COCOON_GATEWAY_DEFAULT_MAX_TOKENS", Kind: KindInt, Default: "1024", Min: 1, Max: 1 << 20, UsedBy: []string{"gateway", "up"},
		Meaning: "max_tokens when a request sets none"},
	{Name: "COCOON_GATEWAY_MAX_BODY_BYTES", Kind: KindInt, Default: "1048576", Min: 1024, Max: 64 << 20, UsedBy: []string{"gateway", "up"},
		Meaning: "largest request body"},
	{Name: "COCOON_GATEWAY_KEY_CONCURRENCY", Kind: KindInt, Default: "16", Min: 1, Max: 1 << 16, UsedBy: []string{"gateway", "up"},
		Meaning: "requests one API key may have running"},

	// Development.
	{Name: "COCOON_OLLAMA_BIN", Kind: KindString, UsedBy: []string{"up"},
		Meaning: "the ollama binary `cocoon up` runs (default .tools/bin/ollama)"},
}

var byName = func() map[string]*Setting {
	m := make(map[string]*Setting, len(registry))
	for i := range registry {
		m[registry[i].Name] = &registry[i]
	}
	return m
}()

// Settings returns every known setting, sorted by name.
func Settings() []Setting {
	out := slices.Clone(registry)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Known returns the registry entry of a setting.
func Known(name string) (Setting, bool) {
	s, ok := byName[name]
	if !ok {
		return Setting{}, false
	}
	return *s, true
}

// secret reports whether a setting's value must never be printed.
func secret(name string) bool {
	s, ok := byName[name]
	return ok && s.Secret
}

// suggest returns the known name closest to an unknown one, or "".
func suggest(name string) string {
	best, bestD := "", 4 // at most 3 edits away
	for _, s := range registry {
		if d := editDistance(name, s.Name); d < bestD {
			best, bestD = s.Name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
