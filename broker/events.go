package broker

import (
	"context"
	"errors"
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
	return e
}
