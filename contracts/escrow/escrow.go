package escrow

import (
	"crypto/ed25519"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// codeBOC is contracts/build/escrow.boc, copied here by the build script
// (go:embed cannot reach a parent folder); a test keeps the two identical.
//
//go:embed escrow.boc
var codeBOC []byte

// MinReserve is what every redeem leaves on the escrow, in nanoTON
// (MIN_RESERVE in escrow.tolk): it pays an external redeem's fees and storage.
const MinReserve uint64 = 10_000_000

// ErrInvalid marks input that can never make a valid escrow, voucher or body.
var ErrInvalid = errors.New("escrow: invalid input")

var code = sync.OnceValues(func() (*cell.Cell, error) {
	return cell.FromBOC(codeBOC)
})

// Code returns the escrow's compiled code cell.
func Code() *cell.Cell {
	c, err := code()
	if err != nil {
		panic("escrow: embedded code is not a BOC: " + err.Error())
	}
	return c
}

// CodeBOC returns a copy of the compiled code as a BOC.
func CodeBOC() []byte { return append([]byte(nil), codeBOC...) }

// CodeHash returns the code cell's hash (what explorers show as the code hash).
func CodeHash() []byte { return Code().Hash() }

// Params fix an escrow at deployment; with the code they make its address.
type Params struct {
	Client     *address.Address  // deposits, requests the close and withdraws the rest
	Treasury   *address.Address  // receives redeemed amounts
	ServiceKey ed25519.PublicKey // signs vouchers
	CloseDelay time.Duration     // whole seconds, at most 2^32-1 s
	EscrowID   uint32            // lets one client hold several escrows
	Workchain  int8              // 0 (basechain) unless set
}

func checkStdAddr(what string, a *address.Address) error {
	if a == nil || a.Type() != address.StdAddress || a.Anycast() != nil || len(a.Data()) != 32 {
		return fmt.Errorf("%w: %s must be a standard address", ErrInvalid, what)
	}
	return nil
}

func (p Params) closeDelaySeconds() (uint32, error) {
	if p.CloseDelay < 0 || p.CloseDelay%time.Second != 0 || p.CloseDelay/time.Second > math.MaxUint32 {
		return 0, fmt.Errorf("%w: close delay %v is not a whole number of seconds in 0..2^32-1", ErrInvalid, p.CloseDelay)
	}
	return uint32(p.CloseDelay / time.Second), nil
}

func (p Params) paramsCell() (*cell.Cell, error) {
	if err := checkStdAddr("client", p.Client); err != nil {
		return nil, err
	}
	if err := checkStdAddr("treasury", p.Treasury); err != nil {
		return nil, err
	}
	if len(p.ServiceKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: service key must be %d bytes", ErrInvalid, ed25519.PublicKeySize)
	}
	delay, err := p.closeDelaySeconds()
	if err != nil {
		return nil, err
	}
	return cell.BeginCell().
		MustStoreAddr(p.Client).
		MustStoreAddr(p.Treasury).
		MustStoreSlice(p.ServiceKey, 256).
		MustStoreUInt(uint64(delay), 32).
		MustStoreUInt(uint64(p.EscrowID), 32).
		EndCell(), nil
}

// Data returns the escrow's initial data cell: seqno 0, nothing redeemed, not closing.
func Data(p Params) (*cell.Cell, error) {
	pc, err := p.paramsCell()
	if err != nil {
		return nil, err
	}
	return cell.BeginCell().
		MustStoreUInt(0, 64). // seqno
		MustStoreCoins(0).    // redeemed
		MustStoreUInt(0, 32). // close requested at
		MustStoreRef(pc).
		EndCell(), nil
}

// StateInit returns the code and initial data that deploy the escrow for p.
func StateInit(p Params) (*tlb.StateInit, error) {
	data, err := Data(p)
	if err != nil {
		return nil, err
	}
	return &tlb.StateInit{Code: Code(), Data: data}, nil
}

// Address returns the escrow's address for p (bounceable flag set, mainnet flag).
func Address(p Params) (*address.Address, error) {
	si, err := StateInit(p)
	if err != nil {
		return nil, err
	}
	c, err := tlb.ToCell(si)
	if err != nil {
		return nil, fmt.Errorf("escrow: state init: %w", err)
	}
	return address.NewAddress(0, byte(p.Workchain), c.Hash()), nil
}

// State is the escrow's storage as read from the chain.
type State struct {
	Seqno            uint64 // seqno of the last redeemed voucher, 0 for none
	Redeemed         uint64 // nanoTON paid to the treasury so far
	CloseRequestedAt uint32 // unix time of the pending close request, 0 for none
	Params           Params // Workchain is left 0: storage does not hold it
}

// ParseData reads an escrow's data cell.
func ParseData(data *cell.Cell) (State, error) {
	var st State
	if data == nil {
		return st, fmt.Errorf("%w: nil data cell", ErrInvalid)
	}
	s, err := data.BeginParse()
	if err != nil {
		return st, fmt.Errorf("escrow data: %w", err)
	}
	if st.Seqno, err = s.LoadUInt(64); err != nil {
		return st, fmt.Errorf("escrow data: seqno: %w", err)
	}
	if st.Redeemed, err = s.LoadCoins(); err != nil {
		return st, fmt.Errorf("escrow data: redeemed: %w", err)
	}
	at, err := s.LoadUInt(32)
	if err != nil {
		return st, fmt.Errorf("escrow data: close requested at: %w", err)
	}
	st.CloseRequestedAt = uint32(at)
	ps, err := s.LoadRef()
	if err != nil {
		return st, fmt.Errorf("escrow data: params: %w", err)
	}
	if st.Params.Client, err = ps.LoadAddr(); err != nil {
		return st, fmt.Errorf("escrow data: client: %w", err)
	}
	if st.Params.Treasury, err = ps.LoadAddr(); err != nil {
		return st, fmt.Errorf("escrow data: treasury: %w", err)
	}
	key, err := ps.LoadSlice(256)
	if err != nil {
		return st, fmt.Errorf("escrow data: service key: %w", err)
	}
	st.Params.ServiceKey = ed25519.PublicKey(key)
	delay, err := ps.LoadUInt(32)
	if err != nil {
		return st, fmt.Errorf("escrow data: close delay: %w", err)
	}
	st.Params.CloseDelay = time.Duration(delay) * time.Second
	id, err := ps.LoadUInt(32)
	if err != nil {
		return st, fmt.Errorf("escrow data: escrow id: %w", err)
	}
	st.Params.EscrowID = uint32(id)
	return st, nil
}
