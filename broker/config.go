package broker

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/attest"
)

// Config configures a Broker. The zero value of every field but Redis and
// Token means its default.
type Config struct {
	Redis          redis.UniversalClient
	Addr           string        // listen address; default 127.0.0.1:7700
	Token          string        // service token for the client API
	AllowInsecure  bool          // accept insecure-dev workers (COCOON_ALLOW_INSECURE_WORKERS)
	MaxPromptBytes int           // default 16384
	MaxPayload     int           // sealed payload limit; default 1 MiB
	MaxTokens      int           // per job; default 8192
	Heartbeat      time.Duration // worker heartbeat interval; default lease/3
	RecoverEvery   time.Duration // recoverer period; default 250ms
	Store          StoreConfig
	// Policy verifies join evidence (TDX quotes: roots, allowlist). Its
	// AllowInsecureDev is set from AllowInsecure. A zero policy accepts no
	// quote.
	Policy   attest.Policy
	Reattest time.Duration // workers attest again this often; default 30m (COCOON_REATTEST)
	Money    *Money        // billing; nil: jobs are free
	Escrows  Escrows       // API clients' escrows; nil: off
	// Payer maps a job's user to the account that pays (an API key's
	// "key:<id>" to its owner); nil: every user pays for itself.
	Payer  func(ctx context.Context, user string) (string, error)
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:7700"
	}
	if c.MaxPromptBytes <= 0 {
		c.MaxPromptBytes = 16384
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 1 << 20
	}
	if c.MaxTokens <= 0 {
		c.MaxTokens = 8192
	}
	c.Store.setDefaults()
	if c.Heartbeat <= 0 {
		c.Heartbeat = c.Store.Lease / 3
	}
	if c.RecoverEvery <= 0 {
		c.RecoverEvery = 250 * time.Millisecond
	}
	if c.Reattest <= 0 {
		c.Reattest = 30 * time.Minute
	}
	c.Policy.AllowInsecureDev = c.AllowInsecure
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}
