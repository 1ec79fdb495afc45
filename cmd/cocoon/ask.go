package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// runAsk submits one prompt exactly as the bot does: the answer text goes
// to stdout as it streams, status to stderr.
func runAsk(ctx context.Context, env *config.Env, args []string) error {
	fs := flag.NewFlagSet("ask", flag.ContinueOnError)
	model := fs.String("model", env.String("COCOON_DEFAULT_MODEL", ""), "model (default COCOON_DEFAULT_MODEL, else the first the pool serves)")
	maxTokens := fs.Int("max-tokens", 256, "most tokens to generate")
	userID := fs.String("user", "", "user id to bill (default cli:<login>)")
	receiptFile := fs.String("receipt", "", "write the answer's receipts (with the workers' evidence) to this file")
	if err := fs.Parse(args); err != nil {
		return &exitError{2, ""}
	}
	prompt := strings.Join(fs.Args(), " ")
	if prompt == "-" {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		prompt = string(b)
	}
	if strings.TrimSpace(prompt) == "" {
		return &exitError{2, `usage: cocoon ask [--model M] "prompt"  (or - to read stdin)`}
	}
	url := env.URL("COCOON_BROKER_URL", defaultBrokerURL, "http")
	token := env.Required("COCOON_BROKER_TOKEN", "run `make up` (it writes .cocoon/dev.env) or set the broker's service token")
	limit := env.Int("COCOON_MAX_PROMPT_BYTES", 16384, 1, 1<<20)
	if err := env.Err(); err != nil {
		return err
	}
	if *userID == "" {
		*userID = "cli:local"
		if u, err := user.Current(); err == nil && u.Username != "" {
			*userID = "cli:" + sanitizeUser(u.Username)
		}
	}
	c := client.New(url, token)
	if *model == "" {
		ms, err := c.Models(ctx)
		if err != nil {
			return describe(err)
		}
		if len(ms) == 0 {
			return &exitError{1, "no capacity: no worker serves any model right now"}
		}
		*model = ms[0].Name
	}
	s := &submit.Submitter{C: c, MaxPromptBytes: limit, Policy: attestPolicy(env), Secret: submitterSecret(env),
		MaxCoef: maxPriceCoef(env)}
	if err := env.Err(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "model: %s\n", *model)
	res, err := s.Run(ctx, &submit.Request{Model: *model, User: *userID, MaxTokens: *maxTokens,
		Messages: []wire.Message{{Role: "user", Content: prompt}}}, func(d string) { os.Stdout.WriteString(d) })
	if res != nil && res.Text != "" {
		fmt.Println()
	}
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(os.Stderr, "job: %s  worker: %s  tokens: %d prompt + %d completion  state: %s\n",
		res.JobID, strings.Join(res.Workers, " -> "), res.PromptTokens, res.CompletionTokens, res.State)
	fmt.Fprintf(os.Stderr, "receipts: %s\n", receiptSummary(res))
	if cost := c.Cost(ctx, res.JobID, 2*time.Second); cost != nil {
		line := "cost: " + ledger.FormatTON(*cost) + " TON"
		if bal, err := c.Balance(ctx, *userID); err == nil && bal.Billing {
			line += "  balance: " + ledger.FormatTON(bal.Available) + " TON"
		}
		fmt.Fprintln(os.Stderr, line)
	}
	if *receiptFile != "" {
		if err := writeReceipts(*receiptFile, res); err != nil {
			return err
		}
	}
	if res.State != wire.StateDone {
		return &exitError{1, "job " + res.State}
	}
	return nil
}

func sanitizeUser(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "local"
	}
	return b.String()
}

// describe turns submit errors into one clear line.
func describe(err error) error {
	var we *wire.Error
	var tl *submit.ErrPromptTooLong
	switch {
	case errors.As(err, &tl):
		return &exitError{1, tl.Error()}
	case errors.As(err, &we):
		return &exitError{1, we.Message}
	case errors.Is(err, client.ErrUnavailable):
		return &exitError{1, "broker unavailable: " + err.Error()}
	}
	return err
}
