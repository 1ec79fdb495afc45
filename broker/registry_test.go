package broker

import (
	"context"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/wire"
)

// TestRegistryAcrossBrokers: two brokers' registries on one Redis. A
// heartbeat writes only the worker's small status; the other registry picks
// it up on refresh, loads a worker that joined (or joined again) elsewhere,
// authenticates a worker it never saw, and drops expired workers and
// registrations without a status from Redis.
func TestRegistryAcrossBrokers(t *testing.T) {
	rdb := testenv.StartRedis(t, testenv.RedisOptions{}).Client()
	ctx := context.Background()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	a, b := newRegistry(rdb, clock, 10*time.Second), newRegistry(rdb, clock, 10*time.Second)

	w := &WorkerInfo{Evidence: wire.EvidenceInsecureDev, Models: []wire.ModelDigest{{Name: model, Digest: "d"}},
		MaxJobs: 4, Quote: make([]byte, 8000)}
	token, err := a.add(ctx, w)
	must(t, err)
	reg0, _ := rdb.HGet(ctx, workersKey, w.ID).Result()

	// A heartbeat on a: the registration (with its 8 KB quote) is not
	// rewritten; b sees the status after a refresh.
	clock.Add(3 * time.Second)
	must(t, a.touch(ctx, w.ID, &wire.HeartbeatRequest{Running: 3, Loaded: []string{model}}))
	if reg1, _ := rdb.HGet(ctx, workersKey, w.ID).Result(); reg1 != reg0 {
		t.Error("a heartbeat rewrote the registration")
	}
	must(t, b.refresh(ctx))
	got := b.live()
	if len(got) != 1 || got[0].Running != 3 || got[0].SeenMs != clock.Now().UnixMilli() || len(got[0].Loaded) != 1 || len(got[0].Quote) != 8000 {
		t.Fatalf("b after refresh: %+v", got)
	}

	// A broker that never refreshed authenticates the worker with its
	// current status.
	c := newRegistry(rdb, clock, 10*time.Second)
	if wi, ok := c.auth(ctx, token); !ok || wi.Running != 3 || wi.SeenMs != clock.Now().UnixMilli() {
		t.Fatalf("auth on a third broker: %+v %v", wi, ok)
	}
	if ok, _, _ := c.capacity(model); !ok || !c.servesAny([]string{"nobody", w.ID}, model) {
		t.Error("third broker does not see the worker serve the model")
	}

	// The worker joins again (re-attestation) on a: b reloads it.
	clock.Add(time.Second)
	again := *w
	again.MaxJobs = 9
	_, err = a.add(ctx, &again)
	must(t, err)
	must(t, b.refresh(ctx))
	if got := b.live(); len(got) != 1 || got[0].MaxJobs != 9 {
		t.Fatalf("b after the worker joined again: %+v", got)
	}

	// An orphan registration (no status) and an expired worker are dropped.
	must(t, rdb.HSet(ctx, workersKey, "w-orphan", `{"id":"w-orphan"}`).Err())
	clock.Add(11 * time.Second)
	must(t, b.refresh(ctx))
	if n := len(b.live()); n != 0 {
		t.Errorf("%d live workers after the expiry", n)
	}
	for _, k := range []string{workersKey, statusKey} {
		if n, _ := rdb.HLen(ctx, k).Result(); n != 0 {
			t.Errorf("%s still holds %d entries", k, n)
		}
	}
	if ok, known, _ := b.capacity(model); ok || known {
		t.Error("an expired worker still counts as capacity")
	}
}
