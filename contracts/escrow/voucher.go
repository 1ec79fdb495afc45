package escrow

import (
	"crypto/ed25519"
	"fmt"
	"math"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// VoucherTag opens every voucher cell, so a voucher signature cannot be
// mistaken for anything else the service key signs.
const VoucherTag uint32 = 0x223a09ca

// Voucher is the service's claim on an escrow: the client owes Cumulative
// nanoTON in total. A redeem pays Cumulative minus what was already redeemed
// to the treasury. Seqno and Cumulative must both grow from one redeemed
// voucher to the next; the voucher is void after Expiry and on any other escrow.
type Voucher struct {
	Escrow     *address.Address // the escrow's own address
	Cumulative uint64           // nanoTON owed in total since the escrow opened
	Seqno      uint64           // greater than the last redeemed voucher's
	Expiry     time.Time        // last second the voucher is valid (unix seconds, uint32)
}

func (v Voucher) expiryUnix() (uint32, error) {
	u := v.Expiry.Unix()
	if v.Expiry.IsZero() || u < 0 || u > math.MaxUint32 {
		return 0, fmt.Errorf("%w: voucher expiry %v is not a uint32 unix time", ErrInvalid, v.Expiry)
	}
	return uint32(u), nil
}

// Cell returns the voucher cell the contract checks the signature against:
// tag:uint32 escrow:MsgAddressInt cumulative:Coins seqno:uint64 expiry:uint32.
func (v Voucher) Cell() (*cell.Cell, error) {
	if err := checkStdAddr("voucher escrow", v.Escrow); err != nil {
		return nil, err
	}
	exp, err := v.expiryUnix()
	if err != nil {
		return nil, err
	}
	return cell.BeginCell().
		MustStoreUInt(uint64(VoucherTag), 32).
		MustStoreAddr(v.Escrow).
		MustStoreCoins(v.Cumulative).
		MustStoreUInt(v.Seqno, 64).
		MustStoreUInt(uint64(exp), 32).
		EndCell(), nil
}

// Hash returns the voucher cell's hash, the message that is signed.
func (v Voucher) Hash() ([]byte, error) {
	c, err := v.Cell()
	if err != nil {
		return nil, err
	}
	return c.Hash(), nil
}

// Sign returns the 64-byte Ed25519 signature of the voucher cell's hash.
func (v Voucher) Sign(priv ed25519.PrivateKey) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key must be %d bytes", ErrInvalid, ed25519.PrivateKeySize)
	}
	h, err := v.Hash()
	if err != nil {
		return nil, err
	}
	return ed25519.Sign(priv, h), nil
}

// Verify reports whether sig is pub's signature of this voucher, as the contract checks it.
func (v Voucher) Verify(pub ed25519.PublicKey, sig []byte) bool {
	h, err := v.Hash()
	if err != nil || len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, h, sig)
}
