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
		return scriptCall{completeScript, []string{jobKey(shard, r.Job), eventsKey(shard, r.Job), leasesKey(shard), shardPrefix(shard)},
			[]any{worker, r.Lease, r.PromptTokens, r.CompletionTokens, r.Receipt, s.cfg.Retention.Milliseconds(), r.Job}}, nil
	case wire.ReportFail:
		return scriptCall{failScript, []string{shardPrefix(shard), jobKey(shard, r.Job)},
			[]any{worker, r.Lease, r.Job, r.Error, b2i(r.Retryable), s.now(), s.cfg.MaxAttempts,
				s.cfg.Backoff.Milliseconds(), s.cfg.MaxBackoff.Milliseconds(), s.cfg.Retention.Milliseconds()}}, nil
	}
	return scriptCall{}, fmt.Errorf("unknown report kind %q", r.Kind)
}

// ApplyReports runs a worker's reports in one pipelined round trip, in
// order (reports of one job stay in order: they share a slot and a
// connection). Each report's outcome is what its single-report method
// would return.
func (s *Store) ApplyReports(ctx context.Context, worker string, reps []*wire.Report) []ReportOutcome {
	out := make([]ReportOutcome, len(reps))
	calls := make([]scriptCall, len(reps))
	for i, r := range reps {
		calls[i], out[i].Err = s.reportCall(worker, r)
	}
	cmds, err := s.pipeline(ctx, calls, out)
	if err != nil && strings.Contains(err.Error(), "NOSCRIPT") {
		for _, sc := range []*redis.Script{chunkScript, extendScript, completeScript, failScript} {
			sc.Load(ctx, s.rdb)
		}
		cmds, err = s.pipeline(ctx, calls, out)
	}
	for i, c := range cmds {
		if c == nil {
			continue
		}
		v, cerr := c.Result()
		if cerr != nil {
			out[i].Err = fmt.Errorf("report %s: %w", reps[i].Job, cerr)
			continue
		}
		out[i].Err = codeErr(v)
		if reps[i].Kind == wire.ReportFail && out[i].Err == nil {
			out[i].Outcome = str(v.([]any)[1])
		}
	}
	return out
}

func (s *Store) pipeline(ctx context.Context, calls []scriptCall, out []ReportOutcome) ([]*redis.Cmd, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		if out[i].Err == nil && c.script != nil {
			cmds[i] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
		}
	}
	_, err := pipe.Exec(ctx)
	return cmds, err
}
