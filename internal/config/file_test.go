package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFileLayering(t *testing.T) {
	cfg := writeFile(t, "cocoon.toml", `
# comment
COCOON_LEASE = "20s"
COCOON_MAX_ATTEMPTS = 7
REDIS_CLUSTER = true
COCOON_WORKER_NAME = "from-file"
COCOON_DEFAULT_MODEL = "file-model"
`)
	dev := writeFile(t, "dev.env", "COCOON_WORKER_NAME=from-dev\nCOCOON_BROKER_TOKEN=dev-token\n")
	t.Setenv("COCOON_MAX_ATTEMPTS", "9")
	t.Setenv("COCOON_DEFAULT_MODEL", "")
	t.Setenv(ConfigSetting, cfg)
	e := Load(dev)
	tests := []struct {
		name, want string
	}{
		{"COCOON_LEASE", "20s"},                // file only
		{"COCOON_MAX_ATTEMPTS", "9"},           // env beats file
		{"REDIS_CLUSTER", "true"},              // file boolean
		{"COCOON_WORKER_NAME", "from-file"},    // file beats dev.env
		{"COCOON_BROKER_TOKEN", "dev-token"},   // dev.env last
		{"COCOON_DEFAULT_MODEL", "file-model"}, // empty env counts as unset
	}
	for _, tt := range tests {
		if got := e.Get(tt.name); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := e.Duration("COCOON_LEASE", time.Second); got != 20*time.Second {
		t.Errorf("lease %v", got)
	}
	if got := e.Int("COCOON_MAX_ATTEMPTS", 5, 1, 100); got != 9 {
		t.Errorf("attempts %d", got)
	}
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigFileErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"unknown key", `COCOON_MAX_TOKEN = 5`, []string{"unknown setting COCOON_MAX_TOKEN", "did you mean COCOON_MAX_TOKENS"}},
		{"unknown far", `WHATEVER = "x"`, []string{"unknown setting WHATEVER"}},
		{"int as string", `COCOON_MAX_TOKENS = "many"`, []string{"COCOON_MAX_TOKENS: want an integer", "got a string"}},
		{"bool as string", `REDIS_CLUSTER = "true"`, []string{"REDIS_CLUSTER: want a boolean"}},
		{"duration as int", `COCOON_LEASE = 15`, []string{"COCOON_LEASE: want a duration", "got an integer"}},
		{"string as float", `COCOON_BROKER_ADDR = 1.5`, []string{"COCOON_BROKER_ADDR: want a quoted string", "got a float"}},
		{"array", `COCOON_TDX_ALLOW = ["a", "b"]`, []string{"COCOON_TDX_ALLOW", "got an array"}},
		{"section", "[broker]\nCOCOON_LEASE = \"1s\"\n", []string{"section [broker]"}},
		{"syntax", "COCOON_LEASE = \n", []string{"line 1"}},
		{"itself", `COCOON_CONFIG = "/x"`, []string{"COCOON_CONFIG cannot be set in the config file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := OnlyFile(writeFile(t, "c.toml", tt.body))
			err := e.Err()
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMissingConfigFileIsAnError(t *testing.T) {
	t.Setenv(ConfigSetting, filepath.Join(t.TempDir(), "nope.toml"))
	err := Load("").Err()
	if err == nil || !strings.Contains(err.Error(), ConfigSetting) {
		t.Fatalf("want an error naming %s, got %v", ConfigSetting, err)
	}
}

func TestValidateUsesRegistry(t *testing.T) {
	e := OnlyFile(writeFile(t, "c.toml", `
COCOON_MAX_ATTEMPTS = 0
COCOON_TDX_COLLATERAL = "sometimes"
COCOON_LEASE = "-1s"
OLLAMA_HOST = "http://"
COCOON_WORKER_MAX_JOBS = 8
COCOON_TRIAL_CREDIT_NANOTON = 5000000000
`))
	e.Validate("broker", "worker")
	err := e.Err()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, w := range []string{"COCOON_MAX_ATTEMPTS", "COCOON_TDX_COLLATERAL", "want offline or online", "COCOON_LEASE",
		"OLLAMA_HOST", "COCOON_BROKER_TOKEN is not set: required by broker"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in %v", w, err)
		}
	}
	for _, ok := range []string{"COCOON_WORKER_MAX_JOBS", "COCOON_TRIAL_CREDIT_NANOTON"} {
		if strings.Contains(err.Error(), ok) {
			t.Errorf("%s is valid: %v", ok, err)
		}
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	const tok = "super-secret-token-value"
	e := OnlyFile(writeFile(t, "c.toml", `
COCOON_BROKER_TOKEN = 12345
TELEGRAM_BOT_TOKEN = "`+tok+`"
REDIS_URL = "://:hunter2@"
`))
	e.Bool("TELEGRAM_BOT_TOKEN", false) // a secret read as the wrong kind
	e.Validate()
	err := e.Err()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, s := range []string{tok, "hunter2", "12345"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows a secret %q: %v", s, err)
		}
	}
	if !strings.Contains(err.Error(), "TELEGRAM_BOT_TOKEN") || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Errorf("errors do not name the settings: %v", err)
	}
}

func TestErrorsAreDeduplicated(t *testing.T) {
	t.Setenv("COCOON_MAX_PROMPT_BYTES", "huge")
	e := Load("")
	for range 3 {
		e.Int("COCOON_MAX_PROMPT_BYTES", 16384, 1, 1<<20)
	}
	if n := len(e.Errors()); n != 1 {
		t.Errorf("%d errors, want 1: %v", n, e.Errors())
	}
}

func TestLoadChecksEveryValueOfTheFile(t *testing.T) {
	t.Setenv(ConfigSetting, writeFile(t, "c.toml", "COCOON_LEASE = \"0s\"\nCOCOON_WORKER_MAX_JOBS = 4\n"))
	err := Load("").Err()
	if err == nil || !strings.Contains(err.Error(), "COCOON_LEASE") {
		t.Fatalf("want an error naming COCOON_LEASE even unread, got %v", err)
	}
	t.Setenv("COCOON_LEASE", "15s") // the environment overrides the bad value
	if err := Load("").Err(); err != nil {
		t.Fatal(err)
	}
}
