package broker

import (
	"container/list"
	"math"
	"sync"
	"time"
)

// notifier wakes lease long-polls waiting for a model's queue. A submit
// wakes waiting polls until the jobs they ask for cover the jobs it queued,
// oldest waiter first and workers the jobs are sealed to before others, so
// a burst of small batches does not wake every idle worker for every job;
// requeues and other brokers' submits wake them all.
//
// It also knows when a model's queue is empty: a lease that found no user
// with queued jobs marks it drained, and any wake-up (anything that may
// have queued a job) ends that. While it holds, polls skip the lease
// script: an idle pool costs Redis one lease per model per drainedFor, not
// one per poll per recheck. It lapses after drainedFor, the recheck period,
// so a job queued without a wake-up reaching this broker waits no longer
// than a poll's recheck made it wait before.
type notifier struct {
	mu      sync.Mutex
	waiting map[string]*list.List // model -> polls waiting (*waiter), oldest first
	gens    map[string]uint64     // model -> wake-ups so far
	drained map[string]drainMark  // model -> when a lease last found its queue empty
	now     func() time.Time
}

// drainMark is a lease that found a model's queue empty: the model's
// wake-up count when it started, and when.
type drainMark struct {
	gen uint64
	at  time.Time
}

// drainedFor is how long a drained mark holds without a wake-up.
const drainedFor = pollRecheck

// waiter is one long-poll waiting on one or more models.
type waiter struct {
	worker string
	max    int // jobs the poll asks for
	models []string
	elems  []*list.Element // its place in each model's list, for O(1) removal
	gone   bool            // no longer listed
	ch     chan struct{}   // gets a value when woken
}

func newNotifier() *notifier {
	return &notifier{waiting: map[string]*list.List{}, gens: map[string]uint64{}, drained: map[string]drainMark{}, now: time.Now}
}

// gen returns model's wake-up count, for a lease to pass to leased.
func (n *notifier) gen(model string) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gens[model]
}

// leased records what a lease on model, started when the model's wake-up
// count was gen, found: its queue empty (a wake-up since then voids that),
// or not (the mark goes: the queue has jobs, for this poll or others).
func (n *notifier) leased(model string, gen uint64, drained bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case !drained:
		delete(n.drained, model)
	case n.gens[model] == gen:
		n.drained[model] = drainMark{gen: gen, at: n.now()}
	}
}

// isDrained reports whether model's queue is known to be empty: a lease
// found it so less than drainedFor ago and no wake-up came since. When the
// mark has lapsed, one caller is told no and leases to look again; the
// others go on skipping until it reports (leased), for another drainedFor
// at most, instead of all looking at once.
func (n *notifier) isDrained(model string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	d, ok := n.drained[model]
	if !ok || d.gen != n.gens[model] {
		return false
	}
	if now := n.now(); now.Sub(d.at) >= drainedFor {
		d.at = now
		n.drained[model] = d
		return false
	}
	return true
}

// wait registers a poll of worker for up to max jobs on models; its channel
// gets a value at a wake-up. The caller must call leave when it stops
// waiting.
func (n *notifier) wait(worker string, max int, models []string) *waiter {
	w := &waiter{worker: worker, max: max, models: models, ch: make(chan struct{}, 1)}
	n.mu.Lock()
	for _, m := range models {
		l := n.waiting[m]
		if l == nil {
			l = list.New()
			n.waiting[m] = l
		}
		w.elems = append(w.elems, l.PushBack(w))
	}
	n.mu.Unlock()
	return w
}

// leave unregisters w.
func (n *notifier) leave(w *waiter) {
	n.mu.Lock()
	n.removeLocked(w)
	n.mu.Unlock()
}

func (n *notifier) removeLocked(w *waiter) {
	if w.gone {
		return
	}
	w.gone = true
	for i, m := range w.models {
		if l := n.waiting[m]; l != nil {
			l.Remove(w.elems[i])
			if l.Len() == 0 {
				delete(n.waiting, m)
			}
		}
	}
}

// notify wakes every poll waiting on model.
func (n *notifier) notify(model string) { n.wake(model, -1, nil) }

// wake wakes polls waiting on model until the jobs they ask for cover
// count jobs (all polls when count < 0): those of the eligible workers
// first (when the jobs name any), then the longest waiting.
func (n *notifier) wake(model string, count int, eligible map[string]bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.gens[model]++
	delete(n.drained, model)
	l := n.waiting[model]
	if l == nil {
		return
	}
	if count < 0 {
		count = math.MaxInt
	}
	var picked []*waiter
	chosen := map[*waiter]bool{}
	covered := 0
	pick := func(w *waiter) {
		if covered < count && !chosen[w] {
			chosen[w] = true
			picked = append(picked, w)
			covered += max(w.max, 1)
		}
	}
	for e := l.Front(); e != nil && len(eligible) > 0 && covered < count; e = e.Next() {
		if w := e.Value.(*waiter); eligible[w.worker] {
			pick(w)
		}
	}
	for e := l.Front(); e != nil && covered < count; e = e.Next() {
		pick(e.Value.(*waiter))
	}
	for _, w := range picked {
		n.removeLocked(w)
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}
