package escrow

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
)

var update = flag.Bool("update", false, "rewrite contracts/testdata/parity-go.json from the Go bindings")

// The JSON fixtures are shared with contracts/_js/lib/parity.mjs (same schema).
type parityVoucher struct {
	Cumulative           string `json:"cumulative"`
	Seqno                string `json:"seqno"`
	Expiry               int64  `json:"expiry"`
	QueryID              string `json:"query_id"`
	CellHash             string `json:"cell_hash"`
	Signature            string `json:"signature"`
	RedeemBodyHash       string `json:"redeem_body_hash"`
	DepositBodyHash      string `json:"deposit_body_hash"`
	RequestCloseBodyHash string `json:"request_close_body_hash"`
	WithdrawBodyHash     string `json:"withdraw_body_hash"`
}

type parityCase struct {
	Name             string          `json:"name"`
	Client           string          `json:"client"`
	Treasury         string          `json:"treasury"`
	ServiceSeed      string          `json:"service_seed"`
	CloseDelay       uint32          `json:"close_delay"`
	EscrowID         uint32          `json:"escrow_id"`
	Workchain        int8            `json:"workchain"`
	ServicePublicKey string          `json:"service_public_key"`
	DataHash         string          `json:"data_hash"`
	Address          string          `json:"address"`
	AddressFriendly  string          `json:"address_friendly"`
	Vouchers         []parityVoucher `json:"vouchers"`
}

type parityFixture struct {
	Comment  string       `json:"comment"`
	CodeHash string       `json:"code_hash"`
	Cases    []parityCase `json:"cases"`
}

// goInputs are the inputs of the Go-written fixture; the JS tests recompute it.
var goInputs = []parityCase{
	{
		Name: "go: typical", Client: "0:" + rep("a1"), Treasury: "0:" + rep("b2"), ServiceSeed: rep("c3"),
		CloseDelay: 7 * 24 * 3600, EscrowID: 3, Workchain: 0,
		Vouchers: []parityVoucher{
			{Cumulative: "250000000", Seqno: "1", Expiry: 1900000000, QueryID: "1"},
			{Cumulative: "250000001", Seqno: "2", Expiry: 1900000001, QueryID: "9007199254740993"},
		},
	},
	{
		Name: "go: zero delay, masterchain", Client: "-1:" + rep("00"), Treasury: "-1:" + rep("ff"), ServiceSeed: rep("01"),
		CloseDelay: 0, EscrowID: 0, Workchain: -1,
		Vouchers: []parityVoucher{{Cumulative: "18446744073709551615", Seqno: "1", Expiry: 4294967295, QueryID: "0"}},
	},
}

func rep(b string) string { return string(bytes.Repeat([]byte(b), 32)) }

func mustU64(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("fixture number %q: %v", s, err)
	}
	return v
}

func hexHash(b []byte) string { return hex.EncodeToString(b) }

// computeCase fills in every output of in with the Go bindings.
func computeCase(t *testing.T, in parityCase) parityCase {
	t.Helper()
	seed, err := hex.DecodeString(in.ServiceSeed)
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("%s: bad seed", in.Name)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	client, err := address.ParseRawAddr(in.Client)
	if err != nil {
		t.Fatalf("%s: client: %v", in.Name, err)
	}
	treasury, err := address.ParseRawAddr(in.Treasury)
	if err != nil {
		t.Fatalf("%s: treasury: %v", in.Name, err)
	}
	p := Params{
		Client: client, Treasury: treasury, ServiceKey: pub,
		CloseDelay: time.Duration(in.CloseDelay) * time.Second, EscrowID: in.EscrowID, Workchain: in.Workchain,
	}
	data, err := Data(p)
	if err != nil {
		t.Fatalf("%s: data: %v", in.Name, err)
	}
	addr, err := Address(p)
	if err != nil {
		t.Fatalf("%s: address: %v", in.Name, err)
	}
	out := in
	out.ServicePublicKey = hex.EncodeToString(pub)
	out.DataHash = hexHash(data.Hash())
	out.Address = addr.StringRaw()
	out.AddressFriendly = addr.Bounce(true).Testnet(false).String()
	out.Vouchers = nil
	for _, vin := range in.Vouchers {
		q := mustU64(t, vin.QueryID)
		v := Voucher{Escrow: addr, Cumulative: mustU64(t, vin.Cumulative), Seqno: mustU64(t, vin.Seqno), Expiry: time.Unix(vin.Expiry, 0)}
		vc, err := v.Cell()
		if err != nil {
			t.Fatalf("%s: voucher: %v", in.Name, err)
		}
		sig, err := v.Sign(priv)
		if err != nil {
			t.Fatalf("%s: sign: %v", in.Name, err)
		}
		if !v.Verify(pub, sig) {
			t.Fatalf("%s: own signature does not verify", in.Name)
		}
		rb, err := RedeemBody(v, sig, q)
		if err != nil {
			t.Fatalf("%s: redeem body: %v", in.Name, err)
		}
		vout := vin
		vout.CellHash = hexHash(vc.Hash())
		vout.Signature = hex.EncodeToString(sig)
		vout.RedeemBodyHash = hexHash(rb.Hash())
		vout.DepositBodyHash = hexHash(DepositBody(q).Hash())
		vout.RequestCloseBodyHash = hexHash(RequestCloseBody(q).Hash())
		vout.WithdrawBodyHash = hexHash(WithdrawBody(q).Hash())
		out.Vouchers = append(out.Vouchers, vout)
	}
	return out
}

func computeFixture(t *testing.T, inputs []parityCase) parityFixture {
	f := parityFixture{
		Comment:  "escrow parity fixture: inputs and the outputs both bindings must compute",
		CodeHash: hexHash(CodeHash()),
	}
	for _, in := range inputs {
		f.Cases = append(f.Cases, computeCase(t, in))
	}
	return f
}

func readFixture(t *testing.T, name string) parityFixture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var f parityFixture
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	if len(f.Cases) == 0 {
		t.Fatalf("%s has no cases", name)
	}
	return f
}

func compareFixture(t *testing.T, name string, want, got parityFixture) {
	t.Helper()
	if want.CodeHash != got.CodeHash {
		t.Errorf("%s: code hash: fixture %s, Go %s", name, want.CodeHash, got.CodeHash)
	}
	if len(want.Cases) != len(got.Cases) {
		t.Fatalf("%s: %d cases, Go computed %d", name, len(want.Cases), len(got.Cases))
	}
	for i := range want.Cases {
		w, g := want.Cases[i], got.Cases[i]
		wj, _ := json.MarshalIndent(w, "", "  ")
		gj, _ := json.MarshalIndent(g, "", "  ")
		if !bytes.Equal(wj, gj) {
			t.Errorf("%s case %q differs:\nfixture: %s\nGo:      %s", name, w.Name, wj, gj)
		}
	}
}

// JS → Go: the fixture written by the JS bindings is what Go computes too.
func TestParityWithJSFixture(t *testing.T) {
	f := readFixture(t, "parity-js.json")
	var inputs []parityCase
	for _, c := range f.Cases {
		inputs = append(inputs, c)
	}
	compareFixture(t, "parity-js.json", f, computeFixture(t, inputs))
}

// Go → JS: the Go bindings' fixture is up to date (the JS tests recompute it).
func TestParityGoFixtureUpToDate(t *testing.T) {
	got := computeFixture(t, goInputs)
	path := filepath.Join("..", "testdata", "parity-go.json")
	if *update {
		raw, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
	compareFixture(t, "parity-go.json", readFixture(t, "parity-go.json"), got)
}
