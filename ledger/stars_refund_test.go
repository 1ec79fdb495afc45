package ledger

import (
	"context"
	"errors"
	"testing"

	"github.com/cocoon-network/cocoon/internal/testenv"
)

func TestStarsRefund(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	l := New(r.Client())
	ctx := context.Background()
	if _, err := l.Credit(ctx, "tg:1", "charge-1", SourceStars, 1000); err != nil {
		t.Fatal(err)
	}
	rc, err := l.StarsRefund(ctx, "tg:1", "refund:charge-1", 1000)
	if err != nil || rc.Balance != 0 {
		t.Fatalf("refund: %+v %v", rc, err)
	}
	if rc, err := l.StarsRefund(ctx, "tg:1", "refund:charge-1", 1000); err != nil || !rc.Duplicate {
		t.Fatalf("repeat: %+v %v", rc, err)
	}
	if _, err := l.StarsRefund(ctx, "tg:1", "refund:charge-2", 1); !errors.Is(err, ErrInsufficientBalance) && !errors.Is(err, ErrInvalidAmount) {
		t.Fatalf("refund beyond deposits: %v", err)
	}
	rep, err := l.Check(ctx)
	if err != nil || !rep.OK() || rep.StarsRefunds != 1000 || rep.DepositsStars != 1000 {
		t.Fatalf("check: %v %s", err, rep.String())
	}
}
