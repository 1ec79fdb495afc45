package broker

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/wire"
)

// submitScript stores queued jobs of one shard and puts each in its user's
// queue, publishing one wake-up per model it queued ("origin|model": a
// broker ignores its own).
// KEYS[1] shard prefix (a job's keys and its model's and user's queue keys
// are built from it, all in the shard's slot)
// ARGV max_queue origin, then per job: id model user p x
// where p = "Fmax_tokens created payload" (leasePartOf), stored as one
// field (only the lease reads them, and returns them as they are), and x
// the rest of the envelope (submitExtra): "" for a job with none of it,
// "reserved" for one with only a reservation, else "reserved max_coef
// follow eligible", follow 0 or 1 (fewer arguments per job: each costs
// Redis ~1k instructions).
// Fields at their defaults are not stored: counters that start at zero
// (attempts, next, tokens, seg, achunks, pt, ct), rsv 0, mcoef 1000 and an
// empty eligible list; every reader takes a missing one as its default.
// returns one string, per job "1 position" stored | "0 0" already stored
// by this user (idempotent) | "-1 depth" busy | "-2 0" another user's job,
// joined by commas (one reply item, not three per job). A billed job (x not
// starting with 0) stored or found stored has its submit's intent deleted
// (intents.go).
var submitScript = redis.NewScript(`
local call = redis.call -- a local: no global lookup per call
local prefix, maxq, origin = KEYS[1], tonumber(ARGV[1]), ARGV[2]
local out, woke, depth, added, added_models = {}, {}, {}, {}, {}
local uqs = {} -- model -> user -> queue key: built once per call
local jkp = prefix .. 'job:'
for i = 0, (#ARGV - 2) / 5 - 1 do
  local a = 2 + i * 5
  local id, model, user, x = ARGV[a+1], ARGV[a+2], ARGV[a+3], ARGV[a+5]
  local jk = jkp .. id
  -- a billed job (x starts with its reservation, not 0) stored, or stored
  -- before: its submit's intent is done (a refused one keeps it)
  local billed = x ~= '' and string.byte(x, 1) ~= 48
  local owner = call('HGET', jk, 'user')
  if owner == user then
    out[i+1] = '0 0'
    if billed then call('HDEL', prefix .. 'intents', id) end
  elseif owner then
    out[i+1] = '-2 0' -- another user's job: not this submit's
  else
    local byUser = uqs[model]
    if not byUser then
      byUser = {}
      uqs[model] = byUser
      depth[model] = tonumber(call('GET', prefix .. 'depth:' .. model) or '0')
      added[model] = 0
    end
    if maxq > 0 and depth[model] >= maxq then
      out[i+1] = '-1 ' .. depth[model]
    else
      depth[model], added[model] = depth[model] + 1, added[model] + 1
      if billed then call('HDEL', prefix .. 'intents', id) end
      if x == '' then -- the usual jobs: no table to build
        call('HSET', jk, 'state', 'queued', 'model', model, 'user', user, 'p', ARGV[a+4])
      elseif not string.find(x, ' ', 1, true) then -- a reservation only
        call('HSET', jk, 'state', 'queued', 'model', model, 'user', user, 'p', ARGV[a+4], 'rsv', x)
      else
        local rsv, mcoef, fol, elig = string.match(x, '^(-?%d+) (%d+) ([01]) ?(.*)$')
        local set = {'state', 'queued', 'model', model, 'user', user, 'p', ARGV[a+4]}
        if elig ~= '' then set[9], set[10] = 'elig', elig end
        if fol == '1' then set[#set+1] = 'fol' set[#set+1] = '1' end
        if rsv ~= '0' then set[#set+1] = 'rsv' set[#set+1] = rsv end
        if mcoef ~= '1000' then set[#set+1] = 'mcoef' set[#set+1] = mcoef end
        call('HSET', jk, unpack(set))
      end
      local uq = byUser[user]
      if not uq then
        uq = prefix .. 'uq:' .. model .. '|' .. user
        byUser[user] = uq
      end
      local n = call('RPUSH', uq, id)
      if n == 1 then
        call('RPUSH', prefix .. 'rot:' .. model, user)
        added_models[model] = true
      end
      woke[model] = true
      out[i+1] = string.format('1 %d', n - 1) -- (%d: a number concatenated goes through libc's float formatting)
    end
  end
end
for model, n in pairs(added) do
  if n > 0 then call('INCRBY', prefix .. 'depth:' .. model, n) end
end
for m in pairs(added_models) do call('SADD', prefix .. 'models', m) end
for m in pairs(woke) do call('PUBLISH', 'cocoon:notify', origin .. '|' .. m) end
return table.concat(out, ',')
`)

// submitChunk is the most jobs one submit script stores: a script blocks
// Redis while it runs.
const submitChunk = 128

// SubmitOutcome is what storing one job did: its position in its user's
// queue, or ErrBusy (Position is then the queue depth), ErrOtherUsersJob,
// or another error.
type SubmitOutcome struct {
	Position int
	Err      error
}

// Submit stores a validated job as queued. It returns the job's position in
// its user's queue. Submitting the same id again for the same user changes
// nothing; another user's id is ErrOtherUsersJob.
func (s *Store) Submit(ctx context.Context, r *wire.SubmitRequest) (int, error) {
	o := s.SubmitMany(ctx, []*wire.SubmitRequest{r}, nil)[0]
	return o.Position, o.Err
}

// SubmitMany stores validated jobs in one pipelined round trip: one script
// per shard (and per submitChunk jobs), so a batch costs Redis one call,
// not one per job. reserved[i] (nil: none) is job i's ledger reservation:
// when it ends, it is queued for the settler. Each job's outcome is what
// Submit would return for it.
func (s *Store) SubmitMany(ctx context.Context, reqs []*wire.SubmitRequest, reserved []int64) []SubmitOutcome {
	out := make([]SubmitOutcome, len(reqs))
	byShard := map[int][]int{}
	var order []int
	for i, r := range reqs {
		shard := wire.ShardOf(r.Model)
		if _, ok := byShard[shard]; !ok {
			order = append(order, shard)
		}
		byShard[shard] = append(byShard[shard], i)
	}
	var calls []scriptCall
	var members [][]int
	now := s.now()
	for _, shard := range order {
		idx := byShard[shard]
		for len(idx) > 0 {
			part := idx[:min(len(idx), submitChunk)]
			idx = idx[len(part):]
			args := make([]any, 0, 2+5*len(part))
			args = append(args, s.cfg.MaxQueue, s.origin)
			for _, i := range part {
				r := reqs[i]
				var rsv int64
				if reserved != nil {
					rsv = reserved[i]
				}
				args = append(args, r.ID, r.Model, r.User, leasePartOf(r, now), submitExtra(r, rsv))
			}
			calls = append(calls, scriptCall{script: submitScript, keys: []string{shardPrefix(shard)}, args: args})
			members = append(members, part)
		}
	}
	cmds, _ := s.runScripts(ctx, calls)
	for k, c := range cmds {
		v, err := c.Text()
		res := strings.Split(v, ",")
		if err == nil && len(res) != len(members[k]) {
			err = fmt.Errorf("submit script answered %d of %d jobs", len(res), len(members[k]))
		}
		for n, i := range members[k] {
			if err != nil {
				out[i].Err = fmt.Errorf("submit %s: %w", reqs[i].ID, err)
				continue
			}
			code, pos, ok := strings.Cut(res[n], " ")
			p, perr := strconv.Atoi(pos)
			if !ok || perr != nil || (code != "1" && code != "0" && code != "-1" && code != "-2") {
				out[i].Err = fmt.Errorf("submit %s: malformed script reply", reqs[i].ID)
				continue
			}
			out[i].Position = p
			switch code {
			case "-1":
				out[i].Err = ErrBusy
			case "-2":
				out[i].Err = ErrOtherUsersJob
			}
		}
	}
	return out
}

// submitExtra is a job's envelope beyond p for the submit script: "" when
// it has no reservation, eligible list or coefficient cap and is not
// followed, "reserved" when it has only a reservation, else "reserved
// max_coef follow eligible" (follow 1: the job's fol flag is set at once).
func submitExtra(r *wire.SubmitRequest, reserved int64) string {
	if unconstrained(r) && !r.Follow {
		if reserved == 0 {
			return ""
		}
		return strconv.FormatInt(reserved, 10)
	}
	fol := " 0 "
	if r.Follow {
		fol = " 1 "
	}
	return strconv.FormatInt(reserved, 10) + " " + strconv.Itoa(maxCoef(r)) + fol + joinComma(r.Eligible)
}

// unconstrained tells whether any worker at any price coefficient up to
// 1.0x may run the job: no eligible list, no coefficient cap.
func unconstrained(r *wire.SubmitRequest) bool { return len(r.Eligible) == 0 && maxCoef(r) == 1000 }

// leasePartOf is a job's p field, "Fmax_tokens created payload": what a
// lease returns of it (leasePart reads it back). F is '-' for a job any
// worker at any coefficient may run (the lease reads nothing more), '+'
// for one with an eligible list or a coefficient cap (its elig and mcoef
// fields).
func leasePartOf(r *wire.SubmitRequest, created int64) []byte {
	b := make([]byte, 0, 32+len(r.Payload))
	if unconstrained(r) {
		b = append(b, '-')
	} else {
		b = append(b, '+')
	}
	b = strconv.AppendInt(b, int64(r.MaxTokens), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, created, 10)
	b = append(b, ' ')
	return append(b, r.Payload...)
}
