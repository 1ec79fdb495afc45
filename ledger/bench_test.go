package ledger

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cocoon-network/cocoon/internal/testenv"
)

// BenchmarkReserveSettle is one job's ledger round trips: Reserve, then
// Settle with one worker segment and a commission.
func BenchmarkReserveSettle(b *testing.B) {
	r := testenv.StartRedis(b, testenv.RedisOptions{})
	e := newEnv(b, r.Client())
	ctx := context.Background()
	if _, err := e.l.Credit(ctx, "bench", "tx", SourceTON, MaxAmount); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		job := fmt.Sprintf("j%d", i)
		i++
		if _, err := e.l.Reserve(ctx, "bench", job, 1_000); err != nil {
			b.Fatal(err)
		}
		if _, err := e.l.Settle(ctx, settlement("bench", job, 800, 100)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReserveSettleParallel runs jobs of 64 users concurrently.
func BenchmarkReserveSettleParallel(b *testing.B) {
	r := testenv.StartRedis(b, testenv.RedisOptions{})
	e := newEnv(b, r.Client())
	ctx := context.Background()
	for u := 0; u < 64; u++ {
		if _, err := e.l.Credit(ctx, fmt.Sprintf("u%d", u), "tx", SourceTON, MaxAmount); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			user, job := fmt.Sprintf("u%d", i%64), fmt.Sprintf("j%d", i)
			if _, err := e.l.Reserve(ctx, user, job, 1_000); err != nil {
				b.Error(err)
				return
			}
			if _, err := e.l.Settle(ctx, settlement(user, job, 800, 100)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
