package ton

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	liteapi "github.com/xssnick/tonutils-go/ton"
)

// Chain is the narrow view of the TON blockchain this package needs. A
// tonutils-go liteserver client (ton.APIClientWrapped) satisfies it; tests use
// a fake that serves real transactions produced by the TVM emulator.
type Chain interface {
	CurrentMasterchainInfo(ctx context.Context) (*liteapi.BlockIDExt, error)
	// GetAccount returns the account state at block; IsActive is false when
	// the account does not exist.
	GetAccount(ctx context.Context, block *liteapi.BlockIDExt, addr *address.Address) (*tlb.Account, error)
	// ListTransactions returns up to num transactions of addr ending with
	// (lt, txHash), oldest first; ton.ErrNoTransactionsWereFound when none.
	ListTransactions(ctx context.Context, addr *address.Address, num uint32, lt uint64, txHash []byte) ([]*tlb.Transaction, error)
	SendExternalMessage(ctx context.Context, msg *tlb.ExternalMessage) error
	// GetTime is the liteserver's unix time; payouts check expiry against it
	// as well as against the local clock.
	GetTime(ctx context.Context) (uint32, error)
}

var _ Chain = liteapi.APIClientWrapped(nil)

// Network selects mainnet or testnet (setting COCOON_TON_NETWORK).
type Network string

const (
	Mainnet Network = "mainnet"
	Testnet Network = "testnet"
)

// ErrNetwork reports an unknown network name or an address of the wrong network.
var ErrNetwork = errors.New("ton network")

// ParseNetwork accepts "mainnet" or "testnet" (case-insensitive).
func ParseNetwork(s string) (Network, error) {
	switch n := Network(strings.ToLower(strings.TrimSpace(s))); n {
	case Mainnet, Testnet:
		return n, nil
	}
	return "", fmt.Errorf("%w: %q is neither %q nor %q", ErrNetwork, s, Mainnet, Testnet)
}

// GlobalID is the network's global id, which V5R1 wallets sign over.
func (n Network) GlobalID() int32 {
	if n == Testnet {
		return -3
	}
	return -239
}

// Format renders addr user-friendly for n: testnet addresses carry the
// testnet flag; the bounce flag is kept.
func (n Network) Format(addr *address.Address) string {
	return addr.Testnet(n == Testnet).String()
}

// ParseAddress accepts a user-friendly or raw ("0:…") address and refuses a
// testnet-only address on mainnet.
func (n Network) ParseAddress(s string) (*address.Address, error) {
	s = strings.TrimSpace(s)
	a, err := address.ParseAddr(s)
	if err != nil {
		if raw, rerr := address.ParseRawAddr(s); rerr == nil {
			return raw, nil
		}
		return nil, fmt.Errorf("ton address %.70q: %w", s, err)
	}
	if a.IsTestnetOnly() && n != Testnet {
		return nil, fmt.Errorf("%w: %s is a testnet address but the network is %s", ErrNetwork, s, n)
	}
	return a, nil
}
