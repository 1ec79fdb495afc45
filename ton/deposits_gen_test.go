package ton

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

var update = flag.Bool("update", false, "regenerate testdata/deposits.boc in the TVM emulator")

// Test-only mnemonics; these wallets hold nothing on any network.
var (
	depositSeed = Seed(strings.Fields("admit course filter century survey depend twist upset sunset sheriff shrimp truly mouse friend special field bamboo cart change tobacco token breeze issue light"))
	hotSeed     = Seed(strings.Fields("grape vital lazy wrap enjoy hawk chaos bonus purpose mother blade spoon vibrant december power release kitten winner april fancy bind claw setup then"))
	workerSeed  = Seed(strings.Fields("gaze slot high kind kind cancel envelope sister barrel bomb anxiety abstract mango kite bind rain reward valve property armor rescue echo early auction"))
	senderAddr  = address.MustParseAddr("EQC9bWZd29foipyPOGWlVNVCQzpGAjvi1rGWF7EbNcSVClpA")
	treasury    = address.MustParseAddr("EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N")
)

const depositsFile = "testdata/deposits.boc"

// depositCase is one transaction of testdata/deposits.boc, in order, and
// what the watcher must make of it.
type depositCase struct {
	name       string
	nano       uint64
	bounce     bool
	bounced    bool
	body       string // text comment; "" none; "op:" a binary body
	sweep      bool   // an outgoing transfer signed by the deposit wallet
	wantUser   string // credited to
	wantReason Reason // recorded for refund
}

func mustMemo(user string) string {
	m, err := Memo(user)
	if err != nil {
		panic(err)
	}
	return m
}

func mistype(memo string) string {
	b := []byte(memo)
	if b[len(b)-1] == 'z' {
		b[len(b)-1] = 'y'
	} else {
		b[len(b)-1] = 'z'
	}
	return string(b)
}

var depositCases = []depositCase{
	{name: "first deposit, to the undeployed address, non-bounceable", nano: 1_000_000_000, body: mustMemo("tg:42"), wantUser: "tg:42"},
	{name: "bounceable transfer to the undeployed address comes back", nano: 2_000_000_000, bounce: true, body: mustMemo("tg:7"), wantReason: ReasonReturned},
	{name: "deposit wallet deploys and sweeps to the treasury", sweep: true},
	{name: "deposit", nano: 5_000_000_000, bounce: true, body: mustMemo("tg:42"), wantUser: "tg:42"},
	{name: "memo typed with spaces and a capital C", nano: 1_500_000_000, bounce: true, body: "  C" + mustMemo("tg:7")[1:] + " \n", wantUser: "tg:7"},
	{name: "mistyped memo", nano: 2_000_000_000, bounce: true, body: mistype(mustMemo("tg:42")), wantReason: ReasonBadMemo},
	{name: "no comment", nano: 1_000_000_000, bounce: true, wantReason: ReasonNoMemo},
	{name: "a bounced message", nano: 3_000_000_000, bounced: true, body: mustMemo("tg:42"), wantReason: ReasonBounced},
	{name: "zero value", nano: 0, body: mustMemo("tg:42"), wantReason: ReasonZeroValue},
	{name: "binary body", nano: 700_000_000, bounce: true, body: "op:", wantReason: ReasonNoMemo},
	{name: "user id with a hyphen", nano: 250_000_000, bounce: true, body: mustMemo("api:acme-1"), wantUser: "api:acme-1"},
	{name: "valid memo of an unknown user", nano: 4_000_000_000, bounce: true, body: mustMemo("tg:999"), wantReason: ReasonUnknownUser},
	{name: "free text instead of a memo", nano: 1_000_000_000, bounce: true, body: "thanks for the service!", wantReason: ReasonBadMemo},
	{name: "a later deposit", nano: 2_500_000_000, bounce: true, body: mustMemo("tg:7"), wantUser: "tg:7"},
}

func knownUser(_ context.Context, user string) (bool, error) {
	return user == "tg:42" || user == "tg:7" || user == "api:acme-1", nil
}

// TestDepositsReproducible rebuilds testdata/deposits.boc (every case a
// real transaction of a V5R1 deposit wallet in the TVM) and checks it equals
// the committed file; -update rewrites the file.
func TestDepositsReproducible(t *testing.T) {
	got := generateDeposits(t)
	if *update {
		if err := os.WriteFile(depositsFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(depositsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from a fresh TVM run: regenerate with go test ./ton -run TestDepositsReproducible -update", depositsFile)
	}
}

func generateDeposits(t *testing.T) []byte {
	now := uint32(1_760_000_000)
	emu := newEmulator(t, func() uint32 { return now })
	dep, err := NewHotWallet(depositSeed, Testnet)
	if err != nil {
		t.Fatal(err)
	}
	addr := dep.Address()
	var shard *tlb.ShardAccount
	var roots []*cell.Cell
	for _, c := range depositCases {
		now += 10
		var msg *cell.Cell
		if c.sweep {
			m, err := dep.transfer(treasury, 100_000_000, true, "sweep")
			if err != nil {
				t.Fatal(err)
			}
			ext, err := dep.sign(0, true, time.Unix(int64(now)+60, 0), []*wallet.Message{m})
			if err != nil {
				t.Fatal(err)
			}
			if msg, err = tlb.ToCell(ext); err != nil {
				t.Fatal(err)
			}
		} else {
			msg = emu.internalMsg(senderAddr, addr, c.nano, c.bounce, c.bounced, depositBody(c.body))
		}
		res, err := emu.apply(shard, addr, msg)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		shard = res.NextAccount.ShardAccount()
		roots = append(roots, res.TransactionCell)
	}
	return cell.ToBOCWithFlags(roots)
}

func depositBody(text string) *cell.Cell {
	switch text {
	case "":
		return nil
	case "op:":
		return cell.BeginCell().MustStoreUInt(0x0f8a7ea5, 32).MustStoreUInt(1, 64).EndCell()
	}
	c, err := wallet.CreateCommentCell(text)
	if err != nil {
		panic(err)
	}
	return c
}

// loadDeposits returns the stored deposit transactions, oldest first, and
// the deposit address.
func loadDeposits(t testing.TB) ([]*cell.Cell, *address.Address) {
	t.Helper()
	b, err := os.ReadFile(depositsFile)
	if err != nil {
		t.Fatalf("%v (regenerate with go test ./ton -run TestGenerateDeposits -update)", err)
	}
	roots, err := cell.FromBOCMultiRoot(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != len(depositCases) {
		t.Fatalf("%s has %d transactions, want %d: regenerate with -update", depositsFile, len(roots), len(depositCases))
	}
	dep, err := NewHotWallet(depositSeed, Testnet)
	if err != nil {
		t.Fatal(err)
	}
	return roots, dep.Address()
}
