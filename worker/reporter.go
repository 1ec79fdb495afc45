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
// at once and a busy one sends few large batches. The lease loop may carry
// the pending batch with its lease request instead (borrow, settle).
type reporter struct {
	api     *apiClient
	onStop  func(job, code string) // a report said the job must stop
	mu      sync.Mutex
	pending []pendingReport
	wake    chan struct{}
	idle    *sync.Cond
	busy    bool // a batch is in flight (sent by run or borrowed)
}

// pendingReport is a report, or a stream whose tokens become chunks when
// the batch holding it is sent.
type pendingReport struct {
	rep    wire.Report
	stream *chunkStream
}

func newReporter(api *apiClient, onStop func(job, code string)) *reporter {
	r := &reporter{api: api, onStop: onStop, wake: make(chan struct{}, 1)}
	r.idle = sync.NewCond(&r.mu)
	return r
}

// endGrace is how long a job's end report waits for the lease loop to
// carry it with the next lease request before the reporter sends it.
const endGrace = 2 * time.Millisecond

// addEnd queues a job's completion or failure for the lease loop, which
// asks for the next job as the finished one frees its slot: one request for
// both. If no lease request takes it within endGrace the reporter sends it.
// Whatever the reporter is sending already (the job's last chunk, say)
// makes it send this too.
func (r *reporter) addEnd(rep wire.Report) {
	r.mu.Lock()
	r.pending = append(r.pending, pendingReport{rep: rep})
	r.mu.Unlock()
	time.AfterFunc(endGrace, r.kick)
}

// addStream queues a stream's next chunks.
func (r *reporter) addStream(s *chunkStream) { r.push(pendingReport{stream: s}) }

func (r *reporter) push(p pendingReport) {
	r.mu.Lock()
	r.pending = append(r.pending, p)
	r.mu.Unlock()
	r.kick()
}

func (r *reporter) kick() {
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

// takeLocked removes the next batch from pending and marks it in flight;
// r.mu is held. Streams in it are sealed into chunks by sealStreams.
func (r *reporter) takeLocked() []pendingReport {
	batch := r.pending
	if len(batch) > maxReportBatch { // the broker takes at most 4,096
		batch = batch[:maxReportBatch]
	}
	r.pending = r.pending[len(batch):]
	r.busy = len(batch) > 0
	return batch
}

// sealStreams turns a batch's stream entries into their chunk reports.
func sealStreams(batch []pendingReport) []pendingReport {
	out := batch[:0:0]
	for _, p := range batch {
		if p.stream == nil {
			out = append(out, p)
			continue
		}
		for _, rep := range p.stream.take() {
			out = append(out, pendingReport{rep: rep})
		}
	}
	return out
}

// release ends a batch's flight, putting what must be sent again first.
func (r *reporter) release(again []pendingReport) {
	r.mu.Lock()
	if len(again) > 0 {
		r.pending = append(again, r.pending...)
	}
	r.busy = false
	if len(r.pending) == 0 {
		r.idle.Broadcast()
	}
	r.mu.Unlock()
	r.kick()
}

// borrow hands the lease loop the pending reports, sealed, to go with its
// lease request, when no batch is in flight and a job's end is among them
// (nil otherwise: a lease carrying reports does not wait for jobs, so
// chunks alone are left to run); settle must follow with the lease's
// outcome.
func (r *reporter) borrow() []pendingReport {
	r.mu.Lock()
	ends := false
	for _, p := range r.pending {
		ends = ends || p.rep.Kind == wire.ReportComplete || p.rep.Kind == wire.ReportFail
	}
	if r.busy || !ends {
		r.mu.Unlock()
		return nil
	}
	batch := r.takeLocked()
	r.mu.Unlock()
	return sealStreams(batch)
}

// settle delivers a borrowed batch's results (err: the lease request
// failed, so the reports go again with the next batch).
func (r *reporter) settle(batch []pendingReport, results []wire.ReportResult, err error) {
	if err == nil && len(results) != len(batch) {
		err = errors.New("lease: wrong number of report results")
	}
	again := batch
	if err == nil {
		again = r.deliver(batch, results)
	}
	r.release(again)
}

func (r *reporter) run(ctx context.Context) {
	for {
		r.mu.Lock()
		if r.busy || len(r.pending) == 0 {
			if !r.busy {
				r.idle.Broadcast()
			}
			r.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
			}
			continue
		}
		batch := r.takeLocked()
		r.mu.Unlock()
		r.send(ctx, sealStreams(batch))
		r.release(nil)
	}
}

// deliver stops the jobs the broker no longer wants (a report's result
// says so); it returns the reports the broker could not store, to send
// again (the same report: the broker dedupes by sequence).
func (r *reporter) deliver(batch []pendingReport, results []wire.ReportResult) []pendingReport {
	var again []pendingReport
	for i, res := range results {
		if res.Code == wire.CodeUnavailable {
			again = append(again, batch[i])
			continue
		}
		if res.Code != "" {
			r.onStop(batch[i].rep.Job, res.Code)
		}
	}
	return again
}

// send delivers a batch, retrying transport failures and reports the broker
// could not store.
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
			return
		}
		if err == nil {
			again := r.deliver(batch, results)
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
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}
