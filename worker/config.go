package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cocoon-network/cocoon/attest"
)

// Config configures a Worker. Zero values mean the defaults.
type Config struct {
	BrokerURL    string        // COCOON_BROKER_URL
	OllamaHost   string        // OLLAMA_HOST, e.g. http://127.0.0.1:11434
	Name         string        // shown in the pool; default host name
	MaxJobs      int           // concurrent jobs; default 4
	Insecure     bool          // join with insecure-dev evidence (no TDX)
	Quoter       attest.Quoter // quote provider; nil: configfs-tsm TDX, or the dev quoter when Insecure
	PayoutAddr   string        // TON address earnings are paid to (COCOON_WORKER_PAYOUT_ADDRESS)
	PriceCoef    int           // price coefficient, 1000 = 1.0× the model price (COCOON_WORKER_PRICE_COEF)
	DrainTimeout time.Duration // how long shutdown waits for running jobs; default 30s
	HTTPClient   *http.Client
	Logger       *slog.Logger
}

func (c *Config) validate() error {
	if c.BrokerURL == "" {
		return errors.New("worker: COCOON_BROKER_URL is required")
	}
	if c.OllamaHost == "" {
		return errors.New("worker: OLLAMA_HOST is required")
	}
	if c.Quoter == nil {
		if c.Insecure {
			c.Quoter = attest.DevQuoter{}
		} else {
			q, err := attest.NewTDXQuoter()
			if err != nil {
				return fmt.Errorf("worker: no TDX quote provider (%v); on a machine without TDX run in insecure dev mode (COCOON_WORKER_INSECURE=true), which brokers refuse unless allowed", err)
			}
			c.Quoter = q
		}
	}
	if c.MaxJobs <= 0 {
		c.MaxJobs = 4
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second}}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
