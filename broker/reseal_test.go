package broker

import (
	"context"
	"testing"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/wire"
)

// TestResealerFailsJobsOfDepartedWorkers: a queued job none of whose
// eligible workers is live is failed with the reseal reason; a job with a
// live eligible worker is left alone.
func TestResealerFailsJobsOfDepartedWorkers(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	b, err := New(Config{Redis: r.Client(), Token: "t", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	orphan := &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: "a", MaxTokens: 1, Payload: []byte("x"), Eligible: []string{"wgone"}}
	kept := &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: "b", MaxTokens: 1, Payload: []byte("x"), Eligible: []string{"wlive"}}
	for _, j := range []*wire.SubmitRequest{orphan, kept} {
		if _, err := b.store.Submit(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	b.forEachRotation(ctx, func(key string) { b.resealHeads(ctx, key, map[string]bool{"wlive": true}) })
	if st, _ := b.store.Get(ctx, orphan.ID); st.State != wire.StateFailed || st.Error != ResealReason {
		t.Errorf("orphan: %+v", st)
	}
	if st, _ := b.store.Get(ctx, kept.ID); st.State != wire.StateQueued {
		t.Errorf("kept: %+v", st)
	}
	if n, _ := b.store.Depth(ctx, model); n != 1 {
		t.Errorf("depth %d, want 1", n)
	}
}
