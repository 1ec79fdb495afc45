// Package config reads settings from the environment, then a TOML config
// file (COCOON_CONFIG), then the dev settings file `make up` writes
// (.cocoon/dev.env), and validates them with errors that name the setting.
// Every setting is in the registry (settings.go) and the README's table.
//
//	env := config.Load(config.DevEnvFile) // env > COCOON_CONFIG file > dev.env
//	lease := env.Duration("COCOON_LEASE", 15*time.Second)
//	if err := env.Err(); err != nil { ... } // names every bad setting
package config

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// DevEnvFile is where `cocoon up` writes the settings it chose.
const DevEnvFile = ".cocoon/dev.env"

// ConfigSetting names the config file to read.
const ConfigSetting = "COCOON_CONFIG"

// Env looks settings up in the process environment, then in a config file,
// then in a dev settings file.
type Env struct {
	noEnv bool              // ignore the process environment (config check)
	file  map[string]string // the TOML config file
	dev   map[string]string // KEY=VALUE lines of .cocoon/dev.env
	errs  []string
}

// Load reads the environment plus, for unset names, the config file named
// by COCOON_CONFIG (if set) and then the KEY=VALUE lines of devEnvPath
// (missing dev file: ignored). Problems with the config file (missing,
// unknown keys, wrong types, bad values of any setting in it) are
// reported by Err.
func Load(devEnvPath string) *Env {
	return LoadFile(os.Getenv(ConfigSetting), devEnvPath)
}

// LoadFile is Load with the config file given ("" : none).
func LoadFile(configPath, devEnvPath string) *Env {
	e := &Env{dev: readDotEnv(devEnvPath)}
	if configPath != "" {
		e.file = e.readFile(configPath)
		// The whole file is checked at start, not only what this
		// subcommand reads: one file serves every process.
		for _, name := range e.FileNames() {
			e.validate(*byName[name])
		}
	}
	return e
}

// OnlyFile reads settings from a config file alone, ignoring the process
// environment and dev.env (`cocoon config check`).
func OnlyFile(path string) *Env {
	e := &Env{noEnv: true}
	if path != "" {
		e.file = e.readFile(path)
	}
	return e
}

func (e *Env) readFile(path string) map[string]string {
	vals, errs := ReadFile(path)
	for _, err := range errs {
		e.errs = append(e.errs, err.Error())
	}
	return vals
}

func readDotEnv(path string) map[string]string {
	m := map[string]string{}
	if path == "" {
		return m
	}
	f, err := os.Open(path)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// Lookup returns a setting and whether it is set.
func (e *Env) Lookup(name string) (string, bool) {
	if !e.noEnv {
		if v, ok := os.LookupEnv(name); ok && v != "" {
			return v, true
		}
	}
	if v, ok := e.file[name]; ok && v != "" {
		return v, true
	}
	v, ok := e.dev[name]
	return v, ok && v != ""
}

// Get returns a setting or "" (a getenv for packages that read their own
// settings, like ton.SettingsFromEnv).
func (e *Env) Get(name string) string {
	v, _ := e.Lookup(name)
	return v
}

// String returns a setting or def.
func (e *Env) String(name, def string) string {
	if v, ok := e.Lookup(name); ok {
		return v
	}
	return def
}

func (e *Env) fail(name, v, want string) {
	if secret(name) {
		e.errs = append(e.errs, fmt.Sprintf("%s: %s (value not shown: secret)", name, want))
		return
	}
	e.errs = append(e.errs, fmt.Sprintf("%s=%q: %s", name, v, want))
}

// Bool returns a boolean setting (true/false/1/0/yes/no).
func (e *Env) Bool(name string, def bool) bool {
	v, ok := e.Lookup(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	e.fail(name, v, "want true or false")
	return def
}

// Int returns an integer setting within [lo, hi].
func (e *Env) Int(name string, def, lo, hi int) int {
	v, ok := e.Lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.fail(name, v, fmt.Sprintf("want an integer in %d..%d", lo, hi))
		return def
	}
	return n
}

// Int64 returns a non-negative int64 setting (amounts in nanoTON).
func (e *Env) Int64(name string, def int64) int64 {
	v, ok := e.Lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		e.fail(name, v, "want a non-negative integer")
		return def
	}
	return n
}

// Duration returns a duration setting ("15s", "500ms").
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	v, ok := e.Lookup(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.fail(name, v, "want a positive duration like 15s")
		return def
	}
	return d
}

// URL returns an http(s) or redis URL setting. A bare host:port gets
// defScheme, as OLLAMA_HOST allows.
func (e *Env) URL(name, def, defScheme string) string {
	v, ok := e.Lookup(name)
	if !ok {
		v = def
	}
	if v == "" {
		return ""
	}
	if !strings.Contains(v, "://") {
		v = defScheme + "://" + v
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		e.fail(name, redactURL(v), "want a URL like "+defScheme+"://127.0.0.1:port")
		return def
	}
	return strings.TrimRight(v, "/")
}

// Invalid records that setting name is wrong, saying why.
func (e *Env) Invalid(name, why string) {
	e.errs = append(e.errs, name+": "+why)
}

// Required returns a setting that must be set.
func (e *Env) Required(name, why string) string {
	v, ok := e.Lookup(name)
	if !ok {
		e.errs = append(e.errs, fmt.Sprintf("%s is not set: %s", name, why))
	}
	return v
}

// Err reports every invalid setting seen so far, or nil.
func (e *Env) Err() error {
	errs := e.Errors()
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid settings:\n  %s", strings.Join(errs, "\n  "))
}

// Errors returns every problem seen so far, one per setting and cause.
func (e *Env) Errors() []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range e.errs {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

// redactURL hides the user info (a Redis password) of a URL-like value.
func redactURL(v string) string {
	i := strings.Index(v, "://")
	j := strings.LastIndex(v, "@")
	if j < 0 || j < i {
		return v
	}
	return v[:i+3] + "***" + v[j:]
}
