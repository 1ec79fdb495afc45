package gateway

import (
	"context"
	"time"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/submit"
)

// BrokerPricer reports what the broker charged for a job (its settler bills
// every ended job and records the cost on it), waiting up to Wait for the
// bill. The charge is split into prompt and completion costs by Prices (the
// broker's COCOON_PRICES): the prompt part at the model's prompt price,
// the rest of the charge as completion. Without a price for the model the
// whole charge is shown as completion cost. Use it only when the broker
// bills: otherwise every answer would wait Wait for a bill that never comes.
type BrokerPricer struct {
	C      *client.Client
	Prices ledger.Prices
	Wait   time.Duration // default 2s
}

// Cost implements Pricer. A job not billed within Wait costs 0 here (the
// ledger still charges it).
func (p *BrokerPricer) Cost(ctx context.Context, _ string, res *submit.Result) (Cost, error) {
	wait := p.Wait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	total := p.C.Cost(ctx, res.JobID, wait)
	if total == nil {
		return Cost{}, nil
	}
	var prompt int64
	if price, err := p.Prices.Lookup(res.Model); err == nil {
		if c, err := price.Cost(int64(res.PromptTokens), 0, ledger.CoefOne); err == nil {
			prompt = min(c, *total)
		}
	}
	return Cost{Prompt: prompt, Completion: *total - prompt}, nil
}
