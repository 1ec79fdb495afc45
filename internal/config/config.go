// Package config reads settings from the environment, falling back to the
// dev settings file `make up` writes (.cocoon/dev.env), and validates them
// with errors that name the setting. Every setting is listed in the README.
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

// Env looks settings up in the process environment, then in a file.
type Env struct {
	file map[string]string
	errs []string
}

// Load reads the environment plus, for unset names, the KEY=VALUE lines of
// path (missing file: ignored).
func Load(path string) *Env {
	e := &Env{file: map[string]string{}}
	f, err := os.Open(path)
	if err != nil {
		return e
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			e.file[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return e
}

// Lookup returns a setting and whether it is set.
func (e *Env) Lookup(name string) (string, bool) {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v, true
	}
	v, ok := e.file[name]
	return v, ok && v != ""
}

// String returns a setting or def.
func (e *Env) String(name, def string) string {
	if v, ok := e.Lookup(name); ok {
		return v
	}
	return def
}

func (e *Env) fail(name, v, want string) {
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
		e.fail(name, v, "want a URL like "+defScheme+"://127.0.0.1:port")
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
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid settings:\n  %s", strings.Join(e.errs, "\n  "))
}
