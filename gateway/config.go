package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/submit"
)

// Keys authenticates API keys; *apikey.Store is one. Resolve fails with
// apikey.ErrMalformed, ErrUnknown or ErrRevoked for keys that can never
// work (401); any other error is a 503.
type Keys interface {
	Resolve(ctx context.Context, key string) (id, owner string, err error)
}

// Cost is what a finished job cost, in nanoTON.
type Cost struct {
	Prompt, Completion int64
}

// Pricer prices a finished job for the usage fields of the answer. user is
// the job's user (key:<id>). A nil Pricer makes every cost 0 (billing off);
// BrokerPricer reads what the broker charged.
type Pricer interface {
	Cost(ctx context.Context, user string, res *submit.Result) (Cost, error)
}

// Config configures a Gateway. The zero value of every field but Broker and
// Keys means its default.
type Config struct {
	Addr   string         // listen address; default 127.0.0.1:7800 (COCOON_GATEWAY_ADDR)
	Broker *client.Client // the broker's client API, with the service token
	Keys   Keys           // API keys (apikey.Store)
	Pricer Pricer         // nil: costs are 0

	// Policy checks the evidence of the workers a job is sealed to
	// (AllowInsecureDev only for development: COCOON_ALLOW_INSECURE_WORKERS).
	Policy attest.Policy
	// Secret derives each job's chunk key (COCOON_SUBMITTER_SECRET); random
	// per request when unset.
	Secret []byte
	// MaxCoef is the most worker price coefficient requests accept
	// (COCOON_MAX_PRICE_COEF; 1000 = 1.0×).
	MaxCoef int

	MaxPromptBytes   int   // newest user message; default 16384 (COCOON_MAX_PROMPT_BYTES)
	MaxTokens        int   // largest max_tokens; default 8192 (COCOON_MAX_TOKENS)
	DefaultMaxTokens int   // max_tokens when a request sets none; default 1024 (COCOON_GATEWAY_DEFAULT_MAX_TOKENS)
	MaxBodyBytes     int64 // whole request body; default 1 MiB (COCOON_GATEWAY_MAX_BODY_BYTES)
	KeyConcurrency   int   // requests one key may have running; default 16 (COCOON_GATEWAY_KEY_CONCURRENCY)

	// DefaultOptions are Ollama options every job gets unless the request
	// sets them (e.g. num_thread); the worker drops options it does not
	// allow. Options neither sets fall back to the model's own defaults.
	DefaultOptions map[string]any

	BodyTimeout  time.Duration // reading one request body; default 30s
	DrainTimeout time.Duration // running requests may finish after shutdown starts; default 30s
	Logger       *slog.Logger
	Now          func() time.Time
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:7800"
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.KeyConcurrency <= 0 {
		c.KeyConcurrency = 16
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = 30 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) limits() Limits {
	return Limits{MaxPromptBytes: c.MaxPromptBytes, MaxTokens: c.MaxTokens, DefaultMaxTokens: c.DefaultMaxTokens}.withDefaults()
}
