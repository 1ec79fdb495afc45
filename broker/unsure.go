package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cocoon-network/cocoon/ledger"
)

// unsureAfter is how long a job whose store failed without saying whether
// it was queued keeps its reservation before the job store is asked: long
// past a submitter's retries with the same id (the submit package retries
// at once), which find the reservation held.
const unsureAfter = 30 * time.Second

// unsureMaxBackoff bounds the wait between two tries of one reservation
// while the job store or the ledger cannot answer.
const unsureMaxBackoff = 5 * time.Minute

// unsureJobs holds the reservations of jobs whose store failed without
// telling whether the job was queued: a reply lost, a connection cut, a
// timeout while Redis was busy. The script may have run, so undoing the
// reservation at once could let the job run unbilled; keeping it for good
// would hold the user's money for a job that does not exist. The resolver
// (resolveUnsure) asks the job store once unsureAfter has passed: a job it
// has keeps its reservation and is settled when it ends; a job it does not
// have gets its reservation undone (ledger.Unreserve: the id can be
// reserved again). A job queued after that check (a retry whose duplicate
// reserve came just before the undo) is reserved again by the settler.
type unsureJobs struct {
	mu    sync.Mutex
	items map[string]*unsureJob // payer|job id -> entry
}

type unsureJob struct {
	payer, id string
	due       time.Time // next time to ask
	tries     int
	err       error // the last try's
}

// add records a reservation made for payer's job id, to be resolved after
// unsureAfter; adding one already held changes nothing.
func (u *unsureJobs) add(payer, id string, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.items == nil {
		u.items = map[string]*unsureJob{}
	}
	if _, ok := u.items[payer+"|"+id]; !ok {
		u.items[payer+"|"+id] = &unsureJob{payer: payer, id: id, due: now.Add(unsureAfter)}
	}
}

// take removes and returns the entries due at now.
func (u *unsureJobs) take(now time.Time) []*unsureJob {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []*unsureJob
	for k, j := range u.items {
		if !j.due.After(now) {
			out = append(out, j)
			delete(u.items, k)
		}
	}
	return out
}

// retry puts j back, due after a backoff that doubles with each try.
func (u *unsureJobs) retry(j *unsureJob, now time.Time) {
	j.tries++
	j.due = now.Add(min(time.Second<<min(j.tries, 16), unsureMaxBackoff))
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.items[j.payer+"|"+j.id]; !ok {
		u.items[j.payer+"|"+j.id] = j
	}
}

func (u *unsureJobs) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.items)
}

// resolveUnsure resolves due reservations every second until ctx ends,
// then makes a last pass over all of them, however recent: a broker that
// stops would otherwise leave them held.
func (b *Broker) resolveUnsure(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			far := b.cfg.Store.Clock.Now().Add(24 * time.Hour)
			b.resolveUnsureAt(last, far)
			// What failed was put back due after a backoff from far.
			for _, j := range b.unsure.take(far.Add(2 * unsureMaxBackoff)) {
				b.log.Error("reservation left held: its job may not exist", "job", j.id, "payer", j.payer, "err", j.err)
			}
			return
		case <-t.C:
		}
		b.resolveUnsureAt(ctx, b.cfg.Store.Clock.Now())
	}
}

// resolveUnsureAt resolves the reservations due at now; the ones the job
// store or the ledger cannot answer for are tried again later.
func (b *Broker) resolveUnsureAt(ctx context.Context, now time.Time) {
	for _, j := range b.unsure.take(now) {
		_, err := b.store.Get(ctx, j.id)
		if err == nil {
			continue // queued after all: its reservation is settled when it ends
		}
		if errors.Is(err, ErrNotFound) {
			err = b.unreserve(ctx, j.payer, j.id)
		}
		switch {
		case err == nil:
		case errors.Is(err, ledger.ErrInvalidID), errors.Is(err, ledger.ErrOverflow), errors.Is(err, ledger.ErrCorrupt):
			b.log.Error("unsure submit: reservation cannot be undone", "job", j.id, "payer", j.payer, "err", err)
		default:
			j.err = err
			if j.tries == 0 || j.tries%8 == 0 {
				b.log.Warn("unsure submit: reservation kept for now", "job", j.id, "err", err)
			}
			b.unsure.retry(j, now)
		}
	}
}

// unreserve undoes the reservation payer holds for a job that was never
// queued; the same job id can then be reserved again.
func (b *Broker) unreserve(ctx context.Context, payer, id string) error {
	if b.cfg.Money == nil {
		return nil
	}
	if _, err := b.cfg.Money.Ledger.Unreserve(ctx, payer, id); err != nil && !errors.Is(err, ledger.ErrNoReservation) {
		return err
	}
	return nil
}
