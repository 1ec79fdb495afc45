package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/wire"
)

// TestRedisStages runs the job store's stages one after the other, as the
// broker batches them (submit calls of 32 jobs, then one worker's cycles:
// the previous 10 jobs' completions and the next 10 leases in one round
// trip), on a redis-server with AOF, and checks every job went through
// once. It does so twice: for jobs nobody follows (the bench's no-op
// jobs), then for jobs submitted with Follow and followed as the events
// API does (a Follow call per job): the bot's path. With
// COCOON_PHASE_HOOK set it calls it (as the bench's -phase-hook) around
// each stage: scripts/redis-instr.sh runs it with redis-server under
// callgrind to count each stage's instructions.
func TestRedisStages(t *testing.T) {
	hook := os.Getenv("COCOON_PHASE_HOOK")
	mark := func(event, stage string) {
		if hook == "" {
			return
		}
		if out, err := exec.Command(hook, event, stage).CombinedOutput(); err != nil {
			t.Fatalf("phase hook %s %s: %v: %s", event, stage, err, out)
		}
	}
	_, br := benchEnvAOF(t, true)
	st := br.Store()
	ctx := context.Background()
	const jobs = 2048

	for _, followed := range []bool{false, true} {
		stage := "stage-"
		if followed {
			stage = "stage-followed-"
		}
		var all []*wire.SubmitRequest
		mark("start", stage+"submit")
		for done := 0; done < jobs; done += 32 {
			reqs := make([]*wire.SubmitRequest, 32)
			for i := range reqs {
				reqs[i] = submitReq(fmt.Sprintf("u%d", i), time.Now())
				reqs[i].Follow = followed
			}
			for _, o := range st.SubmitMany(ctx, reqs, nil) {
				if o.Err != nil {
					t.Fatal(o.Err)
				}
			}
			all = append(all, reqs...)
		}
		mark("end", stage+"submit")

		if followed {
			mark("start", stage+"follow")
			for _, r := range all {
				if e, err := st.Follow(ctx, r.ID); err != nil || e != nil {
					t.Fatalf("follow %s: %+v, %v", r.ID, e, err)
				}
			}
			mark("end", stage+"follow")
		}

		mark("start", stage+"cycle")
		var reps []*wire.Report
		leased, seen := 0, map[string]bool{}
		for {
			out, got, _, err := st.ApplyReportsThenLease(ctx, "w1", reps, noopModel, 10, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out {
				if o.Err != nil {
					t.Fatal(o.Err)
				}
			}
			if len(got) == 0 && len(reps) == 0 {
				break
			}
			reps = reps[:0]
			for _, j := range got {
				if seen[j.ID] || j.Attempt != 1 || j.MaxTokens != 1 || len(j.Payload) != 16 {
					t.Fatalf("leased %+v (seen before: %v)", j, seen[j.ID])
				}
				seen[j.ID] = true
				reps = append(reps, &wire.Report{Kind: wire.ReportComplete, Job: j.ID, Lease: j.Lease})
			}
			leased += len(got)
		}
		mark("end", stage+"cycle")
		if leased != jobs {
			t.Fatalf("%s: leased %d of %d jobs", stage, leased, jobs)
		}
		// A followed job's done event is in its stream; another's is not.
		evs, err := st.ReadEvents(ctx, all[0].ID, "", 50*time.Millisecond)
		if err != nil || (len(evs) == 1 && evs[0].Type == wire.EventDone) != followed {
			t.Fatalf("%s: events of a done job %+v, %v", stage, evs, err)
		}
	}
}
