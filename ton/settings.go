package ton

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
)

// Settings are the TON settings of a Cocoon deployment. Read them once, in
// main, with SettingsFromEnv(os.Getenv).
type Settings struct {
	Network         Network          // COCOON_TON_NETWORK: mainnet | testnet (default testnet)
	DepositAddress  *address.Address // COCOON_TON_DEPOSIT_ADDRESS; nil: the hot wallet's address
	WalletSeed      Seed             // COCOON_TON_WALLET_SEED or COCOON_TON_WALLET_SEED_FILE; empty: no payouts
	PayoutThreshold int64            // COCOON_PAYOUT_THRESHOLD_NANOTON (default 1 TON)
	PollInterval    time.Duration    // COCOON_TON_POLL_INTERVAL (default 5s)
}

// DefaultPayoutThreshold is 1 TON.
const DefaultPayoutThreshold = NanoPerTON

// Setting names.
const (
	EnvNetwork         = "COCOON_TON_NETWORK"
	EnvDepositAddress  = "COCOON_TON_DEPOSIT_ADDRESS"
	EnvWalletSeed      = "COCOON_TON_WALLET_SEED"
	EnvWalletSeedFile  = "COCOON_TON_WALLET_SEED_FILE"
	EnvPayoutThreshold = "COCOON_PAYOUT_THRESHOLD_NANOTON"
	EnvPollInterval    = "COCOON_TON_POLL_INTERVAL"
)

// Seed is a wallet mnemonic. It prints, formats and logs as "[redacted]".
type Seed []string

func (Seed) String() string                 { return "[redacted]" }
func (Seed) GoString() string               { return "ton.Seed{[redacted]}" }
func (Seed) LogValue() slog.Value           { return slog.StringValue("[redacted]") }
func (s Seed) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// ErrSettings reports an invalid TON setting.
var ErrSettings = errors.New("ton settings")

// SettingsFromEnv reads the settings through getenv (os.Getenv in main).
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{Network: Testnet, PayoutThreshold: DefaultPayoutThreshold, PollInterval: 5 * time.Second}
	var err error
	if v := getenv(EnvNetwork); v != "" {
		if s.Network, err = ParseNetwork(v); err != nil {
			return s, fmt.Errorf("%w: %s: %w", ErrSettings, EnvNetwork, err)
		}
	}
	if v := getenv(EnvDepositAddress); v != "" {
		if s.DepositAddress, err = s.Network.ParseAddress(v); err != nil {
			return s, fmt.Errorf("%w: %s: %w", ErrSettings, EnvDepositAddress, err)
		}
	}
	if s.WalletSeed, err = readSeed(getenv(EnvWalletSeed), getenv(EnvWalletSeedFile)); err != nil {
		return s, err
	}
	if v := getenv(EnvPayoutThreshold); v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n <= 0 {
			return s, fmt.Errorf("%w: %s=%q: want a positive integer of nanoTON", ErrSettings, EnvPayoutThreshold, v)
		}
		s.PayoutThreshold = n
	}
	if v := getenv(EnvPollInterval); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("%w: %s=%q: want a positive duration like 5s", ErrSettings, EnvPollInterval, v)
		}
		s.PollInterval = d
	}
	return s, nil
}

// readSeed takes the mnemonic from the variable or the file, never both. The
// words never appear in an error.
func readSeed(inline, file string) (Seed, error) {
	if inline != "" && file != "" {
		return nil, fmt.Errorf("%w: set %s or %s, not both", ErrSettings, EnvWalletSeed, EnvWalletSeedFile)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrSettings, EnvWalletSeedFile, err)
		}
		inline = string(b)
	}
	if inline == "" {
		return nil, nil
	}
	words := strings.Fields(inline)
	if len(words) != 24 {
		return nil, fmt.Errorf("%w: the wallet seed has %d words, want 24", ErrSettings, len(words))
	}
	return Seed(words), nil
}
