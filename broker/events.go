package broker

import (
	"context"
	"errors"
	"fmt"
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

// followScript registers a follower of a job's events: its fol flag makes
// the completion write the job's done event (completeScript). For a job
// already done without an event stream (nobody followed it while it ran
// and it streamed nothing) it answers the done event's values instead.
// KEYS[1] job  KEYS[2] events
// returns 0 unknown job | 1 read the stream | {pt, ct, worker, receipt}
var followScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'state', 'fol', 'pt', 'ct', 'worker', 'r')
if not f[1] then return 0 end
if f[1] == 'done' then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
  return {f[3] or '0', f[4] or '0', f[5] or '', f[6] or ''}
end
if not f[2] and (f[1] == 'queued' or f[1] == 'leased' or f[1] == 'streaming') then
  redis.call('HSET', KEYS[1], 'fol', '1')
end
return 1
`)

// DoneEventID is the event id of a done event answered from a job's
// fields (Follow): the job has no other event.
const DoneEventID = "0-1"

// Follow prepares to read job id's events (ReadEvents): from now on its
// done event goes to its stream. If the job is done and has no stream
// (nobody followed it), Follow returns its done event, with id
// DoneEventID, instead: the job has no other event. A job submitted with
// Follow (or followed before) costs one read; another costs that read and
// followScript.
func (s *Store) Follow(ctx context.Context, id string) (*wire.Event, error) {
	shard, err := wire.ParseJobID(id)
	if err != nil {
		return nil, ErrNotFound
	}
	h, err := s.rdb.HMGet(ctx, jobKey(shard, id), "state", "fol").Result()
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", id, err)
	}
	if h[0] == nil {
		return nil, ErrNotFound
	}
	if str(h[1]) == "1" {
		return nil, nil
	}
	v, err := followScript.Run(ctx, s.rdb, []string{jobKey(shard, id), eventsKey(shard, id)}).Result()
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", id, err)
	}
	f, ok := v.([]any)
	if !ok {
		if atoi(v) == 0 {
			return nil, ErrNotFound
		}
		return nil, nil
	}
	if len(f) != 4 {
		return nil, fmt.Errorf("follow %s: malformed script reply", id)
	}
	e := &wire.Event{ID: DoneEventID, Type: wire.EventDone, PromptTokens: atoi(f[0]), CompletionTokens: atoi(f[1]), Worker: str(f[2])}
	if r := str(f[3]); r != "" {
		e.Receipt = []byte(r)
	}
	return e, nil
}
