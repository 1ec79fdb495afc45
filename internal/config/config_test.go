package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnvFallsBackToFileAndNamesBadSettings(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "dev.env")
	os.WriteFile(p, []byte("# comment\nCOCOON_T_A=from-file\nCOCOON_T_B=7\n"), 0o600)
	t.Setenv("COCOON_T_B", "9")
	t.Setenv("COCOON_T_BAD", "many")
	t.Setenv("COCOON_T_DUR", "-1s")
	e := Load(p)
	if got := e.String("COCOON_T_A", ""); got != "from-file" {
		t.Errorf("file fallback: got %q", got)
	}
	if got := e.Int("COCOON_T_B", 0, 0, 10); got != 9 {
		t.Errorf("env overrides file: got %d", got)
	}
	if e.Err() != nil {
		t.Fatalf("unexpected error: %v", e.Err())
	}
	e.Int("COCOON_T_BAD", 1, 0, 10)
	e.Duration("COCOON_T_DUR", time.Second)
	e.Required("COCOON_T_MISSING", "needed for tests")
	err := e.Err()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"COCOON_T_BAD", "COCOON_T_DUR", "COCOON_T_MISSING"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestURLAcceptsBareHostPort(t *testing.T) {
	t.Setenv("COCOON_T_URL", "127.0.0.1:11434")
	e := Load("")
	if got := e.URL("COCOON_T_URL", "", "http"); got != "http://127.0.0.1:11434" {
		t.Errorf("got %q", got)
	}
	t.Setenv("COCOON_T_URL", "http://")
	e.URL("COCOON_T_URL", "", "http")
	if e.Err() == nil {
		t.Error("want an error for a URL without host")
	}
}
