package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/ton"
)

const configUsage = `usage: cocoon config check [--for broker,worker,...] FILE

Checks a config file (TOML; keys are the setting names of the README's
table, e.g. COCOON_LEASE = "15s") without the environment: unknown keys,
wrong types and bad values are errors naming the setting. --for also
requires the settings those subcommands cannot start without.
Set COCOON_CONFIG=FILE to use the file; the environment overrides it.`

// runConfig is `cocoon config check FILE`.
func runConfig(ctx context.Context, env *config.Env, args []string) error {
	if len(args) == 0 || args[0] != "check" {
		return &exitError{2, configUsage}
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	forCmds := fs.String("for", "", "comma-separated subcommands the file is for (broker, worker, bot, gateway, ...)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
		return &exitError{2, configUsage}
	}
	path := fs.Arg(0)
	var cmds []string
	for _, c := range strings.Split(*forCmds, ",") {
		if c = strings.TrimSpace(c); c != "" {
			if !settingsUser(c) {
				return &exitError{2, fmt.Sprintf("--for: %q is not a subcommand that reads settings", c)}
			}
			cmds = append(cmds, c)
		}
	}
	if _, err := os.Stat(path); err != nil {
		return &exitError{1, err.Error()}
	}
	errs, warns, n := checkConfigFile(path, cmds)
	for _, w := range warns {
		fmt.Printf("%s: warning: %s\n", path, w)
	}
	for _, e := range errs {
		fmt.Printf("%s: %s\n", path, e)
	}
	if len(errs) > 0 {
		return &exitError{1, fmt.Sprintf("%s: %d problem(s)", path, len(errs))}
	}
	fmt.Printf("%s: ok (%d settings)\n", path, n)
	return nil
}

// checkConfigFile validates a config file on its own: the file's keys and
// types, every value by the settings registry, then the same readers the
// subcommands use (so their bounds and parsers apply). It returns the
// problems (each naming its setting), warnings, and how many settings the
// file sets. Values are never printed for secret settings.
func checkConfigFile(path string, cmds []string) (errs, warns []string, n int) {
	e := config.OnlyFile(path)
	e.Validate(cmds...)
	// The subcommands' own readers.
	brokerConfig(e)
	workerConfig(e)
	submitterSecret(e)
	if v, ok := e.Lookup("COCOON_PRICES"); ok {
		if _, err := ledger.ParsePrices(v); err != nil {
			e.Invalid("COCOON_PRICES", err.Error())
		}
	}
	_, tonErr := ton.SettingsFromEnv(e.Get) // its errors name the setting
	names := e.FileNames()
	var secrets []string
	for _, name := range names {
		if config.Secret(name) {
			secrets = append(secrets, name)
		}
	}
	if fi, err := os.Stat(path); err == nil && len(secrets) > 0 && fi.Mode().Perm()&0o077 != 0 {
		warns = append(warns, fmt.Sprintf("holds secrets (%s) but is readable by group or others (mode %04o): chmod 600",
			strings.Join(secrets, ", "), fi.Mode().Perm()))
	}
	for _, msg := range e.Errors() {
		errs = append(errs, strings.TrimPrefix(msg, "config file "+path+": "))
	}
	if tonErr != nil && !mentioned(errs, tonErr.Error()) {
		errs = append(errs, tonErr.Error())
	}
	return errs, warns, len(names)
}

// mentioned reports whether msg is about a setting errs already report.
func mentioned(errs []string, msg string) bool {
	for _, e := range errs {
		name, _, _ := strings.Cut(e, "=")
		name, _, _ = strings.Cut(name, ":")
		if name != "" && strings.Contains(msg, name) {
			return true
		}
	}
	return false
}

// settingsUser reports whether some setting is read by subcommand cmd.
func settingsUser(cmd string) bool {
	for _, s := range config.Settings() {
		if cmd != config.All && slices.Contains(s.UsedBy, cmd) {
			return true
		}
	}
	return false
}
