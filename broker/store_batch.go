package broker

import (
	"context"
	"errors"
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
	once   bool // not idempotent: never run twice (a lease)
}

// reportCall builds the script call a report makes (validated already).
func (s *Store) reportCall(worker string, r *wire.Report) (scriptCall, error) {
	shard, err := wire.ParseJobID(r.Job)
	if err != nil {
		return scriptCall{}, ErrNotFound
	}
	switch r.Kind {
	case wire.ReportChunk:
		return scriptCall{script: chunkScript, keys: []string{jobKey(shard, r.Job), eventsKey(shard, r.Job)},
			args: []any{worker, r.Lease, r.Seq, r.Data, r.Tokens}}, nil
	case wire.ReportExtend:
		return scriptCall{script: extendScript, keys: []string{jobKey(shard, r.Job), leasesKey(shard)},
			args: []any{worker, r.Lease, s.now(), s.cfg.Lease.Milliseconds(), r.Job}}, nil
	case wire.ReportComplete:
		return scriptCall{script: completeScript, keys: []string{shardPrefix(shard), leasesKey(shard)},
			args: []any{worker, s.now(), r.Job, r.Lease, r.PromptTokens, r.CompletionTokens, r.Receipt}}, nil
	case wire.ReportFail:
		return scriptCall{script: failScript, keys: []string{shardPrefix(shard), jobKey(shard, r.Job)},
			args: []any{worker, r.Lease, r.Job, r.Error, b2i(r.Retryable), s.now(), s.cfg.MaxAttempts,
				s.cfg.Backoff.Milliseconds(), s.cfg.MaxBackoff.Milliseconds(), s.cfg.Retention.Milliseconds()}}, nil
	}
	return scriptCall{}, fmt.Errorf("unknown report kind %q", r.Kind)
}

// ApplyReports runs a worker's reports in one pipelined round trip, in
// order (reports of one job stay in order: they share a slot and a
// connection). Consecutive completions of one shard share one script call.
// Each report's outcome is what its single-report method would return.
func (s *Store) ApplyReports(ctx context.Context, worker string, reps []*wire.Report) []ReportOutcome {
	out, _ := s.applyReports(ctx, worker, reps, nil)
	return out
}

// ApplyReportsThenLease applies reports as ApplyReports does, then leases
// as LeaseDrained does, in the same round trip.
func (s *Store) ApplyReportsThenLease(ctx context.Context, worker string, reps []*wire.Report, model string, max, coef int) (out []ReportOutcome, jobs []wire.LeasedJob, drained bool, err error) {
	lc, l := s.leaseCall(model, worker, max, coef)
	out, cmd := s.applyReports(ctx, worker, reps, &lc)
	if cmd == nil {
		return out, nil, false, errors.New("lease was not run")
	}
	jobs, drained, err = s.leased(l, cmd)
	return out, jobs, drained, err
}

func (s *Store) applyReports(ctx context.Context, worker string, reps []*wire.Report, then *scriptCall) ([]ReportOutcome, *redis.Cmd) {
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
			calls[n].args = append(calls[n].args, c.args[2:]...)
			members[n] = append(members[n], i)
			continue
		}
		calls, members = append(calls, c), append(members, []int{i})
	}
	if then != nil {
		calls = append(calls, *then)
	}
	cmds, _ := s.runScripts(ctx, calls)
	var thenCmd *redis.Cmd
	if then != nil {
		thenCmd, cmds = cmds[len(cmds)-1], cmds[:len(cmds)-1]
	}
	for k, c := range cmds {
		v, cerr := c.Result()
		if cerr != nil {
			for _, i := range members[k] {
				out[i].Err = fmt.Errorf("report %s: %w", reps[i].Job, cerr)
			}
			continue
		}
		if calls[k].script == completeScript {
			fails, ok := completeFailures(v, len(members[k]))
			for n, i := range members[k] {
				if !ok {
					out[i].Err = fmt.Errorf("report %s: malformed script reply", reps[i].Job)
				} else {
					out[i].Err = fails[n]
				}
			}
			continue
		}
		i := members[k][0]
		out[i].Err = codeErr(v)
		if reps[i].Kind == wire.ReportFail && out[i].Err == nil {
			out[i].Outcome = str(v.([]any)[1])
		}
	}
	return out, thenCmd
}

// completeFailures reads a completion call's reply for n reports: only
// those that did not go through are listed, as {index, code, message}. It
// returns their errors by index; ok is false for a malformed reply.
func completeFailures(v any, n int) (fails map[int]error, ok bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	for _, raw := range list {
		f, ok := raw.([]any)
		if !ok || len(f) != 3 {
			return nil, false
		}
		i := atoi(f[0])
		if i < 0 || i >= n {
			return nil, false
		}
		if fails == nil {
			fails = map[int]error{}
		}
		fails[i] = codeErr(f[1:])
	}
	return fails, true
}

// completeChunk is the most completions one script call finishes.
const completeChunk = 128

// runScripts runs calls (a nil script is skipped and gets a nil command) in
// one pipelined round trip by SHA. If Redis does not know a script (after a
// restart or a SCRIPT FLUSH) it loads them and runs again the calls from the
// first refused one on, except calls marked once that did run.
func (s *Store) runScripts(ctx context.Context, calls []scriptCall) ([]*redis.Cmd, error) {
	cmds, err := s.pipeline(ctx, calls)
	if err == nil || !strings.Contains(err.Error(), "NOSCRIPT") {
		return cmds, err
	}
	first := -1
	again := make([]scriptCall, len(calls))
	for i, c := range calls {
		refused := cmds[i] != nil && cmds[i].Err() != nil && strings.Contains(cmds[i].Err().Error(), "NOSCRIPT")
		if refused && first < 0 {
			first = i
		}
		if first >= 0 && c.script != nil && (refused || !c.once) {
			again[i] = c
		}
	}
	seen := map[*redis.Script]bool{}
	for _, c := range again {
		if c.script != nil && !seen[c.script] {
			seen[c.script] = true
			c.script.Load(ctx, s.rdb)
		}
	}
	redo, err := s.pipeline(ctx, again)
	for i, c := range redo {
		if c != nil {
			cmds[i] = c
		}
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
