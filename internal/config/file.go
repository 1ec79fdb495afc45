package config

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The config file is TOML whose keys are the settings' environment names:
//
//	COCOON_BROKER_ADDR  = "0.0.0.0:7700"
//	COCOON_MAX_ATTEMPTS = 5        # integers unquoted
//	COCOON_LEASE        = "15s"    # durations as strings
//	REDIS_CLUSTER       = false    # booleans unquoted
//
// Unknown keys, sections and values of the wrong type are errors that name
// the key. The environment overrides the file.

// ErrFile marks problems with the config file itself.
var ErrFile = errors.New("config file")

// ReadFile reads a config file into setting values (as the environment
// would hold them). Every problem is returned, each naming the key.
func ReadFile(path string) (map[string]string, []error) {
	raw := map[string]any{}
	if _, err := toml.DecodeFile(path, &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, []error{fmt.Errorf("%w %s: line %d: %s", ErrFile, path, pe.Position.Line, pe.Message)}
		}
		return nil, []error{fmt.Errorf("%w %s (%s): %v", ErrFile, path, ConfigSetting, err)}
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := map[string]string{}
	var errs []error
	for _, k := range keys {
		v, err := fileValue(k, raw[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("%w %s: %w", ErrFile, path, err))
			continue
		}
		vals[k] = v
	}
	return vals, errs
}

// fileValue checks one key of the file against the registry and returns its
// value as a string.
func fileValue(k string, v any) (string, error) {
	s, ok := byName[k]
	if !ok {
		if _, table := v.(map[string]any); table {
			return "", fmt.Errorf("section [%s]: the file has no sections; settings are top-level keys named like the environment variables", k)
		}
		if hint := suggest(k); hint != "" {
			return "", fmt.Errorf("unknown setting %s (did you mean %s?)", k, hint)
		}
		return "", fmt.Errorf("unknown setting %s", k)
	}
	if k == ConfigSetting {
		return "", fmt.Errorf("%s cannot be set in the config file itself", k)
	}
	want := "a quoted string"
	switch s.Kind {
	case KindBool:
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b), nil
		}
		want = "a boolean (true or false, unquoted)"
	case KindInt:
		if n, ok := v.(int64); ok {
			return strconv.FormatInt(n, 10), nil
		}
		want = "an integer (unquoted)"
	case KindDuration:
		if str, ok := v.(string); ok {
			return str, nil
		}
		want = `a duration string like "15s"`
	default:
		if str, ok := v.(string); ok {
			return str, nil
		}
	}
	return "", fmt.Errorf("%s: want %s, got %s", k, want, tomlType(v))
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date/time"
	}
	return fmt.Sprintf("%T", v)
}

// FileNames returns the settings the config file sets, sorted.
func (e *Env) FileNames() []string {
	out := make([]string, 0, len(e.file))
	for k := range e.file {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Validate checks the value of every known setting that is set, by the
// registry's kind and bounds, and that the settings subcommands cmds
// require are set. Problems go to Err, like the accessors'.
func (e *Env) Validate(cmds ...string) {
	for _, s := range registry {
		if _, ok := e.Lookup(s.Name); ok {
			e.validate(s)
			continue
		}
		var need []string
		for _, c := range cmds {
			if s.RequiredBy(c) {
				need = append(need, c)
			}
		}
		if len(need) > 0 {
			e.errs = append(e.errs, fmt.Sprintf("%s is not set: required by %s", s.Name, strings.Join(need, ", ")))
		}
	}
}

func (e *Env) validate(s Setting) {
	switch s.Kind {
	case KindBool:
		e.Bool(s.Name, false)
	case KindInt:
		e.int64In(s.Name, s.Min, s.Max)
	case KindDuration:
		e.Duration(s.Name, time.Second)
	case KindURL:
		e.URL(s.Name, "", s.Scheme)
	case KindEnum:
		if v, _ := e.Lookup(s.Name); !slices.Contains(s.Values, v) {
			e.fail(s.Name, v, "want "+strings.Join(s.Values, " or "))
		}
	}
}

func (e *Env) int64In(name string, lo, hi int64) {
	v, _ := e.Lookup(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		e.fail(name, v, fmt.Sprintf("want an integer in %d..%d", lo, hi))
	}
}

// Secret reports whether a setting's value must never be printed.
func Secret(name string) bool { return secret(name) }
