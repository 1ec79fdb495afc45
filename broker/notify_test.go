package broker

import (
	"testing"
	"time"
)

func woken(ws ...*waiter) []bool {
	out := make([]bool, len(ws))
	for i, w := range ws {
		select {
		case <-w.ch:
			out[i] = true
		default:
		}
	}
	return out
}

// TestNotifierWakesWhatTheJobsNeed: a submit wakes the polls whose asks
// cover its jobs, eligible workers' first then the longest waiting; a
// woken poll is no longer waiting; notify wakes every poll on the model.
func TestNotifierWakesWhatTheJobsNeed(t *testing.T) {
	n := newNotifier()
	a := n.wait("a", 10, []string{"m"})
	b := n.wait("b", 10, []string{"m", "other"})
	c := n.wait("c", 1, []string{"m"})
	n.wake("m", 3, nil) // a asks for 10: enough
	if got := woken(a, b, c); got[0] != true || got[1] || got[2] {
		t.Fatalf("3 jobs woke %v, want only the oldest poll (asks for 10)", got)
	}
	n.wake("m", 1, map[string]bool{"c": true}) // a job sealed to c
	if got := woken(b, c); got[0] || !got[1] {
		t.Fatalf("a job sealed to c woke %v, want c", got)
	}
	n.wake("m", 1, nil) // b is still waiting, on both models
	if got := woken(b); !got[0] {
		t.Fatal("b not woken")
	}
	if len(n.waiting) != 0 {
		t.Fatalf("woken polls still registered: %v", n.waiting)
	}
	d, e := n.wait("d", 1, []string{"m"}), n.wait("e", 1, []string{"m"})
	f := n.wait("f", 1, []string{"x"})
	n.notify("m")
	if got := woken(d, e, f); !got[0] || !got[1] || got[2] {
		t.Fatalf("notify woke %v, want every poll on m and none on x", got)
	}
	n.leave(f)
	if len(n.waiting) != 0 {
		t.Fatalf("left poll still registered: %v", n.waiting)
	}
}

// TestNotifierDrained: a lease's "queue empty" mark holds until a wake-up
// on the model, a lease that finds jobs, or drainedFor passes (then one
// caller looks again while the others wait for it); a mark from a lease
// that started before a wake-up is ignored; other models are not affected.
func TestNotifierDrained(t *testing.T) {
	n := newNotifier()
	now := time.Unix(1_800_000_000, 0)
	n.now = func() time.Time { return now }
	if n.isDrained("m") {
		t.Fatal("drained before any lease")
	}
	g := n.gen("m")
	n.leased("m", g, true)
	if !n.isDrained("m") || n.isDrained("other") {
		t.Fatalf("after a mark: m %v, other %v", n.isDrained("m"), n.isDrained("other"))
	}
	n.wake("m", 1, nil) // a submit: nobody waiting, still a wake-up
	if n.isDrained("m") {
		t.Fatal("drained after a submit")
	}
	n.leased("m", g, true) // a lease that started before the submit
	if n.isDrained("m") {
		t.Fatal("a stale lease's mark was taken")
	}
	n.leased("m", n.gen("m"), true)
	now = now.Add(drainedFor - time.Millisecond)
	if !n.isDrained("m") {
		t.Fatal("mark lapsed early")
	}
	now = now.Add(time.Millisecond)
	if n.isDrained("m") {
		t.Fatal("mark held past drainedFor")
	}
	// One caller looks again; the others skip until it reports.
	if !n.isDrained("m") {
		t.Fatal("a second caller looked again while the first did")
	}
	n.leased("m", n.gen("m"), false) // it found jobs
	if n.isDrained("m") {
		t.Fatal("drained after a lease found jobs")
	}
	n.leased("m", n.gen("m"), true)
	n.notify("m") // a requeue or another broker's submit
	if n.isDrained("m") {
		t.Fatal("drained after notify")
	}
}
