// Command cocoon is the one Cocoon binary: broker, worker, bot, up, ask.
// Each subcommand reads its settings once (see the README's table), wires
// the packages together and runs until SIGINT/SIGTERM.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cocoon-network/cocoon/internal/config"
)

const usage = `usage: cocoon <command> [flags]

commands:
  up       run a local stack: redis, ollama with the tiny model, broker, worker (and bot when TELEGRAM_BOT_TOKEN is set)
  broker   run the broker (client API + worker API)
  worker   run a GPU worker against a broker and a local Ollama
  bot      run the Telegram bot (TELEGRAM_BOT_TOKEN; settings in the README)
  gateway  serve the OpenAI-compatible API; gateway key create|list|revoke manages API keys
  ask      ask the pool a question: cocoon ask [--model M] [--receipt FILE] "prompt"
  verify-receipt FILE   check answer receipts offline against the worker's TDX quote
  ledger check          check the money invariant; non-zero exit when it fails
  admin <view>          operator views: pool, queues, dead, requeue JOB, user USER, unreserve USER JOB, ledger, measurement FILE
  config check FILE     validate a config file (TOML keyed by the settings' names; COCOON_CONFIG uses one)
`

type command func(ctx context.Context, env *config.Env, args []string) error

var commands = map[string]command{
	"up":     runUp,
	"broker": runBroker,
	"worker": runWorker,
	"ask":    runAsk,

	"verify-receipt": runVerifyReceipt,
	"ledger":         runLedger,
	"gateway":        runGateway,
	"bot":            runBot,
	"admin":          runAdmin,
	"config":         runConfig,
}

func main() {
	if len(os.Args) < 2 || commands[os.Args[1]] == nil {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := config.Load(config.DevEnvFile)
	err := commands[os.Args[1]](ctx, env, os.Args[2:])
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, "cocoon:", ee.msg)
		}
		os.Exit(ee.code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "cocoon:", err)
		os.Exit(1)
	}
}

// exitError ends the process with a code and an optional message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// newLogger builds the one logger of the process: text for people, JSON
// when COCOON_LOG_FORMAT=json.
func newLogger(env *config.Env) *slog.Logger {
	level := slog.LevelInfo
	if env.Bool("COCOON_DEBUG", false) {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if env.String("COCOON_LOG_FORMAT", "text") == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
