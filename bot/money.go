package bot

import (
	"context"
	"errors"

	"github.com/cocoon-network/cocoon/submit"
)

// Money is what the bot asks of the money and trust layers (built
// elsewhere): the answers of /balance, /topup, /usage, /verify, /apikey and
// the admin's /price, a cost line for the footer of a finished answer, and
// a price label per model for /model. Until it is wired, NoMoney answers
// "coming soon".
type Money interface {
	// Command answers one of the commands above. The text is sent as plain
	// text; ErrComingSoon makes the bot say "coming soon" in the user's
	// language.
	Command(ctx context.Context, req MoneyRequest) (string, error)
	// Cost is the footer's cost line of a finished job ("" for none).
	Cost(ctx context.Context, user string, res *submit.Result) string
	// Price is the label shown beside a model in /model ("" for none).
	Price(ctx context.Context, model string) string
}

// MoneyRequest is one money or receipt command.
type MoneyRequest struct {
	Command string // balance, topup, usage, verify, apikey, price
	User    string // tg:<user id>, as on jobs
	Lang    string // en, ru
	Args    string // the rest of the command line, untrusted
	LastJob string // the user's last finished job (for verify)
	Admin   bool   // the sender is a bot admin (price)
}

// ErrComingSoon is returned by a Money that does not offer a command yet.
var ErrComingSoon = errors.New("coming soon")

// NoMoney is the Money of a bot without the money layer.
type NoMoney struct{}

// Command implements Money.
func (NoMoney) Command(context.Context, MoneyRequest) (string, error) { return "", ErrComingSoon }

// Cost implements Money.
func (NoMoney) Cost(context.Context, string, *submit.Result) string { return "" }

// Price implements Money.
func (NoMoney) Price(context.Context, string) string { return "" }
