package broker

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/wire"
)

// ReportOutcome is what one report in a batch did: Err as the single-report
// methods return it, Outcome the fail outcome (retry | dead | failed).
type ReportOutcome struct {
	Err     error
	Outcome string
}

// scriptCall is one script invocation, for pipelining.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
}

// reportCall builds the script call a report makes (validated already).
func (s *Store) reportCall(worker string, r *wire.Report) (scriptCall, error) {
	shard, err := wire.ParseJobID(r.Job)
	if err != nil {
		return scriptCall{}, ErrNotFound
	}
	switch r.Kind {
	case wire.ReportChunk:
		return scriptCall{chunkScript, []string{jobKey(shard, r.Job), eventsKey(shard, r.Job)},
			[]any{worker, r.Lease, r.Seq, r.Data, r.Tokens}}, nil
	case wire.ReportExtend:
		return scriptCall{extendScript, []string{jobKey(shard, r.Job), leasesKey(shard)},
			[]any{worker, r.Lease, s.now(), s.cfg.Lease.Milliseconds(), r.Job}}, nil
	case wire.ReportComplete:
		return scriptCall{completeScript, []string{shardPrefix(shard), leasesKey(shard), jobKey(shard, r.Job), eventsKey(shard, r.Job)},
			[]any{worker, s.cfg.Retention.Milliseconds(), r.Job, r.Lease, r.PromptTokens, r.CompletionTokens, r.Receipt}}, nil
	case wire.ReportFail:
		return scriptCall{failScript, []string{shardPrefix(shard), jobKey(shard, r.Job)},
			[]any{worker, r.Lease, r.Job, r.Error, b2i(r.Retryable), s.now(), s.cfg.MaxAttempts,
				s.cfg.Backoff.Milliseconds(), s.cfg.MaxBackoff.Milliseconds(), s.cfg.Retention.Milliseconds()}}, nil
	}
	return scriptCall{}, fmt.Errorf("unknown report kind %q", r.Kind)
}

// ApplyReports runs a worker's reports in one pipelined round trip, in
// order (reports of one job stay in order: they share a slot and a
// connection). Consecutive completions of one shard share one script call.
// Each report's outcome is what its single-report method would return.
func (s *Store) ApplyReports(ctx context.Context, worker string, reps []*wire.Report) []ReportOutcome {
	out := make([]ReportOutcome, len(reps))
	var calls []scriptCall
	var members [][]int // the reports each call answers
	for i, r := range reps {
		c, err := s.reportCall(worker, r)
		if err != nil {
			out[i].Err = err
			continue
		}
		if n := len(calls) - 1; c.script == completeScript && n >= 0 && calls[n].script == completeScript &&
			calls[n].keys[0] == c.keys[0] && len(members[n]) < completeChunk {
			calls[n].keys = append(calls[n].keys, c.keys[2:]...)
			calls[n].args = append(calls[n].args, c.args[2:]...)
			members[n] = append(members[n], i)
			continue
		}
		calls, members = append(calls, c), append(members, []int{i})
	}
	cmds, _ := s.runScripts(ctx, calls)
	for k, c := range cmds {
		v, cerr := c.Result()
		for n, i := range members[k] {
			if cerr != nil {
				out[i].Err = fmt.Errorf("report %s: %w", reps[i].Job, cerr)
				continue
			}
			res := v
			if calls[k].script == completeScript {
				all, _ := v.([]any)
				if n >= len(all) {
					out[i].Err = fmt.Errorf("report %s: malformed script reply", reps[i].Job)
					continue
				}
				res = all[n]
			}
			out[i].Err = codeErr(res)
			if reps[i].Kind == wire.ReportFail && out[i].Err == nil {
				out[i].Outcome = str(res.([]any)[1])
			}
		}
	}
	return out
}

// completeChunk is the most completions one script call finishes.
const completeChunk = 128

// runScripts runs calls (a nil script is skipped and gets a nil command) in
// one pipelined round trip by SHA, loading the scripts and running them
// again if Redis does not know one (after a restart or a SCRIPT FLUSH).
func (s *Store) runScripts(ctx context.Context, calls []scriptCall) ([]*redis.Cmd, error) {
	cmds, err := s.pipeline(ctx, calls)
	if err != nil && strings.Contains(err.Error(), "NOSCRIPT") {
		seen := map[*redis.Script]bool{}
		for _, c := range calls {
			if c.script != nil && !seen[c.script] {
				seen[c.script] = true
				c.script.Load(ctx, s.rdb)
			}
		}
		cmds, err = s.pipeline(ctx, calls)
	}
	return cmds, err
}

func (s *Store) pipeline(ctx context.Context, calls []scriptCall) ([]*redis.Cmd, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		if c.script != nil {
			cmds[i] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
		}
	}
	_, err := pipe.Exec(ctx)
	return cmds, err
}
