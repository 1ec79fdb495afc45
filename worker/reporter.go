package worker

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/cocoon-network/cocoon/wire"
)

// reporter sends job reports to the broker in order. While one batch is in
// flight the next accumulates, so a lightly loaded worker sends each chunk
// at once and a busy one sends few large batches.
type reporter struct {
	api     *apiClient
	onStop  func(job, code string) // a report said the job must stop
	mu      sync.Mutex
	pending []pendingReport
	wake    chan struct{}
	idle    *sync.Cond
	busy    bool
}

type pendingReport struct {
	rep  wire.Report
	done chan<- wire.ReportResult // optional
}

func newReporter(api *apiClient, onStop func(job, code string)) *reporter {
	r := &reporter{api: api, onStop: onStop, wake: make(chan struct{}, 1)}
	r.idle = sync.NewCond(&r.mu)
	return r
}

// add queues a report; done, if not nil, receives its result.
func (r *reporter) add(rep wire.Report, done chan<- wire.ReportResult) {
	r.mu.Lock()
	r.pending = append(r.pending, pendingReport{rep, done})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// maxReportBatch bounds one report request.
const maxReportBatch = 1024

// flush waits until everything queued so far was sent, or timeout passes
// (a broker that stays unreachable must not hold a shutdown forever).
func (r *reporter) flush(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		r.mu.Lock()
		for len(r.pending) > 0 || r.busy {
			r.idle.Wait()
		}
		r.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

func (r *reporter) run(ctx context.Context) {
	for {
		r.mu.Lock()
		batch := r.pending
		if len(batch) > maxReportBatch { // the broker takes at most 4,096
			batch = batch[:maxReportBatch]
		}
		r.pending = r.pending[len(batch):]
		r.busy = len(batch) > 0
		if !r.busy {
			r.idle.Broadcast()
		}
		r.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
			}
			continue
		}
		r.send(ctx, batch)
	}
}

// send delivers a batch, retrying transport failures and reports the broker
// could not store (it is the same report: the broker dedupes by sequence).
func (r *reporter) send(ctx context.Context, batch []pendingReport) {
	reps := make([]wire.Report, len(batch))
	for i, p := range batch {
		reps[i] = p.rep
	}
	backoff := 50 * time.Millisecond
	for {
		results, err := r.api.report(ctx, reps)
		var we *wire.Error
		if errors.As(err, &we) && we.Status >= 400 && we.Status < 500 && we.Status != http.StatusUnauthorized && we.Status != http.StatusTooManyRequests {
			// The broker refuses the batch itself: sending it again cannot
			// succeed, and would hold back every later report.
			for _, p := range batch {
				if p.done != nil {
					p.done <- wire.ReportResult{Code: wire.CodeBadRequest, Message: we.Message}
				}
			}
			return
		}
		if err == nil {
			var again []pendingReport
			for i, res := range results {
				if res.Code == wire.CodeUnavailable {
					again = append(again, batch[i])
					continue
				}
				if res.Code != "" {
					r.onStop(batch[i].rep.Job, res.Code)
				}
				if batch[i].done != nil {
					batch[i].done <- res
				}
			}
			if len(again) == 0 {
				return
			}
			batch, reps = again, reps[:0]
			for _, p := range again {
				reps = append(reps, p.rep)
			}
		}
		select {
		case <-ctx.Done():
			for _, p := range batch {
				if p.done != nil {
					p.done <- wire.ReportResult{Code: wire.CodeUnavailable, Message: "worker stopping"}
				}
			}
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}
