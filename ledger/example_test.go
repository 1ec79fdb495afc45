package ledger_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/cocoon-network/cocoon/ledger"
	"github.com/redis/go-redis/v9"
)

// A job's life in the ledger. (Compiled, not run: it needs a Redis.)
func Example() {
	ctx := context.Background()
	l := ledger.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}))

	prices, _ := ledger.ParsePrices("tiny:latest=1000000/3000000")
	price, _ := prices.Lookup("tiny")
	l.Credit(ctx, "42", "tx-hash", ledger.SourceTON, 1_000_000_000)

	amount, _ := price.ReserveAmount(120, 256, ledger.CoefOne)
	if _, err := l.Reserve(ctx, "42", "job-1", amount); errors.Is(err, ledger.ErrInsufficientBalance) {
		fmt.Println("top up first:", err)
		return
	}
	s, _ := ledger.NewSettlement("42", "job-1", "tiny:latest", price, 1_000, []ledger.SegmentUsage{
		{WorkerID: "gpu-7", PromptTokens: 30, CompletionTokens: 256, Coef: ledger.CoefOne, Signed: true},
	})
	rc, _ := l.Settle(ctx, s)
	fmt.Println("charged", ledger.FormatTON(rc.Charged), "TON")
	l.ApplyOutbox(ctx, "42") // or run l.NewAggregator(...)

	rep, _ := l.Check(ctx)
	fmt.Println(rep.OK())
}
