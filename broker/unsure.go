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
// at once), which find the reservation held and are charged as usual.
const unsureAfter = 30 * time.Second

// unsureJobs holds the reservations of jobs whose store failed without
// telling whether the job was queued: a reply lost, a connection cut, a
// timeout while Redis was busy. The script may have run, so undoing the
// reservation at once could let the job run unbilled; keeping it for good
// would hold the user's money for a job that does not exist. The resolver
// (resolveUnsure) asks the job store once unsureAfter has passed: a job it
// has keeps its reservation and is settled when it ends; a job it does not
// have gets its reservation undone (ledger.Unreserve: the id can be
// reserved again).
type unsureJobs struct {
	mu    sync.Mutex
	items []unsureJob
}

type unsureJob struct {
	user, id string
	at       time.Time
}

func (u *unsureJobs) add(user, id string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.items = append(u.items, unsureJob{user: user, id: id, at: at})
}

// due takes out the jobs added before cutoff.
func (u *unsureJobs) due(cutoff time.Time) []unsureJob {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []unsureJob
	kept := u.items[:0]
	for _, j := range u.items {
		if j.at.Before(cutoff) {
			out = append(out, j)
		} else {
			kept = append(kept, j)
		}
	}
	u.items = kept
	return out
}

func (u *unsureJobs) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.items)
}

// resolveUnsure settles the unsure reservations every second until ctx
// ends, then makes a last pass over all of them, however recent: a broker
// that stops would otherwise leave them held.
func (b *Broker) resolveUnsure(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			b.resolveUnsureBefore(last, b.cfg.Store.Clock.Now().Add(time.Hour))
			for _, j := range b.unsure.due(b.cfg.Store.Clock.Now().Add(time.Hour)) {
				b.log.Error("reservation left held: the job store could not say whether its job was queued",
					"job", j.id, "user", j.user)
			}
			return
		case <-t.C:
		}
		b.resolveUnsureBefore(ctx, b.cfg.Store.Clock.Now().Add(-unsureAfter))
	}
}

// resolveUnsureBefore resolves the unsure reservations added before cutoff;
// the ones the job store or the ledger cannot answer for stay for the next
// pass.
func (b *Broker) resolveUnsureBefore(ctx context.Context, cutoff time.Time) {
	for _, j := range b.unsure.due(cutoff) {
		_, err := b.store.Get(ctx, j.id)
		if err == nil {
			continue // queued after all: its reservation is settled when it ends
		}
		if errors.Is(err, ErrNotFound) {
			err = b.unreserve(ctx, j.user, j.id)
		}
		if err != nil {
			b.log.Warn("unsure submit: reservation kept for now", "job", j.id, "err", err)
			b.unsure.add(j.user, j.id, j.at)
		}
	}
}

// unreserve undoes the reservation of a job that was never queued; the
// same job id can then be reserved again.
func (b *Broker) unreserve(ctx context.Context, user, id string) error {
	if b.cfg.Money == nil {
		return nil
	}
	payer, err := b.payer(ctx, user)
	if err != nil {
		return err
	}
	if _, err := b.cfg.Money.Ledger.Unreserve(ctx, payer, id); err != nil && !errors.Is(err, ledger.ErrNoReservation) {
		return err
	}
	return nil
}
