package broker

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/wire"
)

// ReadEvents returns the events of job id after stream id `after` ("" or
// "0" for the start), blocking up to block for new ones.
func (s *Store) ReadEvents(ctx context.Context, id, after string, block time.Duration) ([]wire.Event, error) {
	shard, err := wire.ParseJobID(id)
	if err != nil {
		return nil, ErrNotFound
	}
	if after == "" {
		after = "0"
	}
	res, err := s.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{eventsKey(shard, id), after}, Block: block, Count: 512}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []wire.Event
	for _, st := range res {
		for _, m := range st.Messages {
			out = append(out, decodeEvent(m))
		}
	}
	return out, nil
}

func decodeEvent(m redis.XMessage) wire.Event {
	get := func(k string) string { v, _ := m.Values[k].(string); return v }
	e := wire.Event{ID: m.ID, Type: get("t"), Worker: get("w"), Error: get("e")}
	e.Seq = uint64(atoi(get("s")))
	e.Tokens = atoi(get("k"))
	e.Attempt = atoi(get("a"))
	e.Segment = atoi(get("g"))
	e.PromptTokens = atoi(get("pt"))
	e.CompletionTokens = atoi(get("ct"))
	if d := get("d"); d != "" {
		e.Data = []byte(d)
	}
	if r := get("r"); r != "" {
		e.Receipt = []byte(r)
	}
	if v := get("v"); v != "" {
		doneFields(&e, v)
	}
	return e
}

// doneFields reads a done event's packed value, "pt ct segment worker
// receipt" (numbers and worker ids hold no space; the receipt is the rest).
// Done events written before it was packed carry the fields one by one.
func doneFields(e *wire.Event, v string) {
	var f [4]string
	for k := range f {
		var ok bool
		if f[k], v, ok = strings.Cut(v, " "); !ok {
			return
		}
	}
	e.PromptTokens, e.CompletionTokens, e.Segment, e.Worker = atoi(f[0]), atoi(f[1]), atoi(f[2]), f[3]
	if v != "" {
		e.Receipt = []byte(v)
	}
}
