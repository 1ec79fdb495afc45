package ton

import (
	"bytes"
	"image/png"
	"net/url"
	"strings"
	"testing"
)

func TestTopupLink(t *testing.T) {
	memo := mustMemo("tg:42")
	for _, tt := range []struct {
		addr   string
		amount int64
		memo   string
		want   string
	}{
		{"EQC9bWZd29foipyPOGWlVNVCQzpGAjvi1rGWF7EbNcSVClpA", 5 * NanoPerTON, memo,
			"ton://transfer/EQC9bWZd29foipyPOGWlVNVCQzpGAjvi1rGWF7EbNcSVClpA?amount=5000000000&text=" + strings.ReplaceAll(memo, ":", "%3A")},
		{"EQC9bWZd29foipyPOGWlVNVCQzpGAjvi1rGWF7EbNcSVClpA", 0, memo,
			"ton://transfer/EQC9bWZd29foipyPOGWlVNVCQzpGAjvi1rGWF7EbNcSVClpA?text=" + strings.ReplaceAll(memo, ":", "%3A")},
		{"EQC9bWZd29foipyPOGWlVNVCQzpGAjvi1rGWF7EbNcSVClpA", -1, "a b&c",
			"ton://transfer/EQC9bWZd29foipyPOGWlVNVCQzpGAjvi1rGWF7EbNcSVClpA?text=a%20b%26c"},
	} {
		got := TopupLink(tt.addr, tt.amount, tt.memo)
		if got != tt.want {
			t.Errorf("TopupLink = %q\nwant %q", got, tt.want)
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "ton" || u.Host != "transfer" || u.Query().Get("text") != tt.memo {
			t.Errorf("%q does not parse back: %v %+v", got, err, u)
		}
	}
}

func TestNewTopup(t *testing.T) {
	dep, err := NewHotWallet(depositSeed, Testnet)
	if err != nil {
		t.Fatal(err)
	}
	top, err := NewTopup(Testnet, dep.Address(), "tg:42", 2*NanoPerTON)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Testnet.ParseAddress(top.Address)
	if err != nil || !a.IsBounceable() || !a.IsTestnetOnly() || !a.Equals(dep.Address()) {
		t.Fatalf("address %q: %v", top.Address, err)
	}
	if user, err := ParseMemo(top.Memo); err != nil || user != "tg:42" {
		t.Fatalf("memo %q: %q %v", top.Memo, user, err)
	}
	if !strings.HasPrefix(top.Link, "ton://transfer/"+top.Address+"?amount=2000000000&text=") {
		t.Fatalf("link %q", top.Link)
	}
	img, err := png.Decode(bytes.NewReader(top.QR))
	if err != nil || img.Bounds().Dx() != 512 {
		t.Fatalf("QR is not a 512px PNG: %v", err)
	}
	if _, err := NewTopup(Testnet, dep.Address(), "bad user", 0); err == nil {
		t.Fatal("a user id that cannot be in a memo was accepted")
	}
	main, _ := NewTopup(Mainnet, dep.Address(), "tg:42", 0)
	if ma, _ := Mainnet.ParseAddress(main.Address); ma == nil || ma.IsTestnetOnly() {
		t.Fatalf("mainnet address %q", main.Address)
	}
}
