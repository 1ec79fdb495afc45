package bot

import (
	"context"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/submit"
)

// SubmitAsker runs jobs through the broker's client API with
// submit.Submitter, exactly as `cocoon ask` does.
type SubmitAsker struct {
	Client         *client.Client
	MaxPromptBytes int // COCOON_MAX_PROMPT_BYTES; 0: submit's default
	// New, if set, makes the Submitter of one job (for settings beyond
	// Client and MaxPromptBytes); it must return a new value each call,
	// as the job's OnSubmit is set on it.
	New func() *submit.Submitter
}

// Ask implements Asker. A Submitter per call keeps each job's OnSubmit
// callback its own.
func (a SubmitAsker) Ask(ctx context.Context, req *submit.Request, queued func(string, int), delta func(string)) (*submit.Result, error) {
	var s *submit.Submitter
	if a.New != nil {
		s = a.New()
	} else {
		s = &submit.Submitter{C: a.Client, MaxPromptBytes: a.MaxPromptBytes}
	}
	s.OnSubmit = queued
	return s.Run(ctx, req, delta)
}
