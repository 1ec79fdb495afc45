package ton

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// HotWallet is the service's V5R1 wallet that pays workers. It signs offline;
// the Payer reads the seqno from the chain and sends the messages itself.
type HotWallet struct {
	w       *wallet.Wallet
	network Network
}

// ErrSeed reports a wallet seed that is not a valid TON mnemonic. The words
// never appear in any error.
var ErrSeed = errors.New("ton wallet seed is not a valid 24-word TON mnemonic")

// NewHotWallet derives the V5R1 wallet of seed for network n.
func NewHotWallet(seed Seed, n Network) (*HotWallet, error) {
	w, err := wallet.FromSeedWithOptions(nil, []string(seed), wallet.ConfigV5R1Final{NetworkGlobalID: n.GlobalID()})
	if err != nil {
		// tonutils-go may quote a seed word in its error: do not wrap it.
		return nil, ErrSeed
	}
	return &HotWallet{w: w, network: n}, nil
}

// Address is the wallet's address (non-bounceable; testnet-flagged on testnet).
func (h *HotWallet) Address() *address.Address {
	return h.w.WalletAddress().Testnet(h.network == Testnet)
}

// transfer builds one payout message. bounce is false for recipients that
// are not deployed yet, so the value stays with them instead of coming back.
func (h *HotWallet) transfer(to *address.Address, amount int64, bounce bool, comment string) (*wallet.Message, error) {
	return h.w.BuildTransfer(to, tlb.FromNanoTON(big.NewInt(amount)), bounce, comment)
}

// sign builds the external message carrying msgs with the given seqno,
// valid until validUntil; deploy attaches the wallet's StateInit. The body is
// the V5R1 "sign" request (op, wallet id, valid_until, seqno, actions,
// signature), assembled here rather than by tonutils-go so valid_until comes
// from the Payer's clock; tests run it through the real wallet code.
func (h *HotWallet) sign(seqno uint32, deploy bool, validUntil time.Time, msgs []*wallet.Message) (*tlb.ExternalMessage, error) {
	actions, err := wallet.PackV5OutActions(msgs)
	if err != nil {
		return nil, fmt.Errorf("payout actions: %w", err)
	}
	id := wallet.V5R1ID{NetworkGlobalID: h.network.GlobalID()}
	payload := cell.BeginCell().
		MustStoreUInt(0x7369676e, 32). // external "sign" request
		MustStoreUInt(uint64(id.Serialized()), 32).
		MustStoreUInt(uint64(validUntil.Unix()), 32).
		MustStoreUInt(uint64(seqno), 32).
		MustStoreBuilder(actions)
	sig := payload.EndCell().Sign(h.w.PrivateKey())
	ext := &tlb.ExternalMessage{
		DstAddr: h.w.WalletAddress(),
		Body:    cell.BeginCell().MustStoreBuilder(payload).MustStoreSlice(sig, 512).EndCell(),
	}
	if deploy {
		pub := h.w.PrivateKey().Public().(ed25519.PublicKey)
		if ext.StateInit, err = wallet.GetStateInit(pub, wallet.ConfigV5R1Final{NetworkGlobalID: h.network.GlobalID()}, 0); err != nil {
			return nil, fmt.Errorf("hot wallet state init: %w", err)
		}
	}
	return ext, nil
}

// walletSeqno reads a V5R1 wallet's seqno from its account state. A wallet
// that is not deployed yet has seqno 0 and needs its StateInit sent along.
func walletSeqno(acc *tlb.Account) (seqno uint32, deployed bool, err error) {
	if !acc.IsActive || acc.State == nil || acc.State.Status == tlb.AccountStatusUninit || acc.State.Status == tlb.AccountStatusNonExist {
		return 0, false, nil
	}
	if acc.State.Status != tlb.AccountStatusActive || acc.Data == nil {
		return 0, false, fmt.Errorf("hot wallet account is %s", acc.State.Status)
	}
	s, err := acc.Data.BeginParse()
	if err == nil {
		_, err = s.LoadBoolBit() // is_signature_allowed
	}
	var v uint64
	if err == nil {
		v, err = s.LoadUInt(32)
	}
	if err != nil {
		return 0, false, fmt.Errorf("hot wallet data is not V5R1: %w", err)
	}
	return uint32(v), true, nil
}
