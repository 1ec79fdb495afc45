package ton

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestSettingsDefaults(t *testing.T) {
	s, err := SettingsFromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.Network != Testnet || s.PayoutThreshold != NanoPerTON || s.PollInterval != 5*time.Second || s.WalletSeed != nil || s.DepositAddress != nil {
		t.Fatalf("defaults %+v", s)
	}
}

func TestSettingsFromEnv(t *testing.T) {
	seedFile := filepath.Join(t.TempDir(), "seed")
	if err := os.WriteFile(seedFile, []byte(strings.Join(hotSeed, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := SettingsFromEnv(env(map[string]string{
		EnvNetwork: "MAINNET", EnvDepositAddress: treasury.String(), EnvWalletSeedFile: seedFile,
		EnvPayoutThreshold: "2500000000", EnvPollInterval: "2s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Network != Mainnet || !s.DepositAddress.Equals(treasury) || len(s.WalletSeed) != 24 || s.PayoutThreshold != 2_500_000_000 || s.PollInterval != 2*time.Second {
		t.Fatalf("settings %+v", s)
	}
	w, err := NewHotWallet(s.WalletSeed, s.Network)
	if err != nil {
		t.Fatal(err)
	}
	if w.Address().IsTestnetOnly() {
		t.Fatal("mainnet wallet address has the testnet flag")
	}
}

func TestSettingsRefusesBadValues(t *testing.T) {
	testnetAddr := treasury.Testnet(true).String()
	for _, m := range []map[string]string{
		{EnvNetwork: "devnet"},
		{EnvNetwork: "mainnet", EnvDepositAddress: testnetAddr},
		{EnvDepositAddress: "not-an-address"},
		{EnvWalletSeed: strings.Join(hotSeed, " "), EnvWalletSeedFile: "/x"},
		{EnvWalletSeedFile: "/nonexistent/seed"},
		{EnvWalletSeed: "one two three"},
		{EnvPayoutThreshold: "0"},
		{EnvPayoutThreshold: "-5"},
		{EnvPayoutThreshold: "1.5"},
		{EnvPayoutThreshold: "99999999999999999999"},
		{EnvPollInterval: "soon"},
		{EnvPollInterval: "-1s"},
	} {
		if _, err := SettingsFromEnv(env(m)); !errors.Is(err, ErrSettings) {
			t.Errorf("%v: want ErrSettings, got %v", m, err)
		}
	}
}

// TestSeedNeverPrinted: the mnemonic shows up in no formatting, log line or
// error.
func TestSeedNeverPrinted(t *testing.T) {
	s, err := SettingsFromEnv(env(map[string]string{EnvWalletSeed: strings.Join(hotSeed, " ")}))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("settings", "settings", s, "seed", s.WalletSeed)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("settings", "seed", s.WalletSeed)
	out := fmt.Sprintf("%v %+v %#v %s %v", s, s, s, s.WalletSeed, []string(nil)) + logs.String()
	bad := append(Seed{}, hotSeed...)
	bad[3] = "notaword"
	_, werr := NewHotWallet(bad, Testnet)
	if !errors.Is(werr, ErrSeed) {
		t.Fatalf("invalid seed: %v", werr)
	}
	_, serr := SettingsFromEnv(env(map[string]string{EnvWalletSeed: strings.Join(hotSeed[:23], " ")}))
	out += werr.Error() + serr.Error()
	for _, w := range append(hotSeed, "notaword") {
		if strings.Contains(out, w) {
			t.Fatalf("seed word %q printed in:\n%s", w, out)
		}
	}
}
