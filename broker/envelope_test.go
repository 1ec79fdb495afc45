package broker

import (
	"context"
	"testing"

	"github.com/cocoon-network/cocoon/wire"
)

// TestSubmitStoresEnvelope: a job's reservation, coefficient cap,
// eligible list and follow flag are stored when set, in any combination,
// and left out at their defaults; p carries the flag the lease reads the
// cap and list by.
func TestSubmitStoresEnvelope(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t, StoreConfig{})
	shard := wire.ShardOf(model)
	cases := []struct {
		rsv      int64
		maxCoef  int
		eligible []string
		follow   bool
		want     map[string]string // fields beyond state, model, user and p
		flag     byte
	}{
		{0, 0, nil, false, map[string]string{}, '-'},
		{5000, 0, nil, false, map[string]string{"rsv": "5000"}, '-'},
		{0, 900, nil, false, map[string]string{"mcoef": "900"}, '+'},
		{0, 0, []string{"w1", "w2"}, false, map[string]string{"elig": "w1,w2"}, '+'},
		{7, 1200, []string{"w3"}, true, map[string]string{"rsv": "7", "mcoef": "1200", "elig": "w3", "fol": "1"}, '+'},
		{0, 1000, []string{"w4"}, false, map[string]string{"elig": "w4"}, '+'},
		{0, 0, nil, true, map[string]string{"fol": "1"}, '-'},
		{9, 0, nil, true, map[string]string{"rsv": "9", "fol": "1"}, '-'},
	}
	reqs := make([]*wire.SubmitRequest, len(cases))
	reserved := make([]int64, len(cases))
	for i, c := range cases {
		reqs[i] = &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: "u1", MaxTokens: 9,
			Payload: []byte("x y"), MaxCoef: c.maxCoef, Eligible: c.eligible, Follow: c.follow}
		reserved[i] = c.rsv
	}
	for i, o := range s.SubmitMany(ctx, reqs, reserved) {
		if o.Err != nil || o.Position != i {
			t.Fatalf("job %d: position %d, %v; want %d", i, o.Position, o.Err, i)
		}
	}
	for i, c := range cases {
		got, err := s.rdb.HGetAll(ctx, jobKey(shard, reqs[i].ID)).Result()
		must(t, err)
		if got["state"] != "queued" || got["user"] != "u1" || len(got["p"]) == 0 || got["p"][0] != c.flag {
			t.Errorf("job %d: %v; want queued, u1, p flagged %c", i, got, c.flag)
		}
		for _, f := range []string{"rsv", "mcoef", "elig", "fol"} {
			if got[f] != c.want[f] {
				t.Errorf("job %d: %s = %q, want %q", i, f, got[f], c.want[f])
			}
		}
	}
}
