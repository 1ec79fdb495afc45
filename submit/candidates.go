package submit

import (
	"context"
	"time"
)

// candidateCacheAge is how long a model's verified candidates are used
// without asking the broker first (Submitter.CandidateMaxAge's default).
// The broker's own view of the workers' load is as old as their last
// heartbeat (seconds), so reusing a list this young routes no worse.
const candidateCacheAge = time.Second

// candidateEntry is one model's verified candidates and when they were
// fetched. refreshing is set while a background fetch runs.
type candidateEntry struct {
	ws         []verified
	at         time.Time
	refreshing bool
}

func (s *Submitter) cacheAge() time.Duration {
	if s.CandidateMaxAge == 0 {
		return candidateCacheAge
	}
	return s.CandidateMaxAge
}

// cachedCandidates returns model's verified candidates. A list fetched
// within CandidateMaxAge is used at once, and fetched again in the
// background (one fetch at a time) once it is a quarter of that old, so a
// job does not wait for a broker round trip before it is sealed and a busy
// submitter asks the broker at most a few times per age; an older or
// missing one is fetched now.
func (s *Submitter) cachedCandidates(ctx context.Context, model string) ([]verified, error) {
	age := s.cacheAge()
	if age < 0 {
		return s.candidates(ctx, model)
	}
	s.mu.Lock()
	e := s.cands[model]
	if e != nil && time.Since(e.at) < age {
		ws := e.ws
		if !e.refreshing && time.Since(e.at) >= age/4 {
			e.refreshing = true
			go s.refreshCandidates(context.WithoutCancel(ctx), model, s.candGen)
		}
		s.mu.Unlock()
		return ws, nil
	}
	gen := s.candGen
	s.mu.Unlock()
	ws, err := s.candidates(ctx, model)
	if err == nil {
		s.storeCandidates(model, gen, ws, nil)
	}
	return ws, err
}

// refreshCandidates fetches model's candidates for the cache; a failure
// drops the entry, so the next job asks the broker itself.
func (s *Submitter) refreshCandidates(ctx context.Context, model string, gen uint64) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, err := s.candidates(ctx, model)
	s.storeCandidates(model, gen, ws, err)
}

// storeCandidates caches a fetch's outcome, unless the cache was dropped
// since the fetch began (gen: a list from before a reseal is stale).
func (s *Submitter) storeCandidates(model string, gen uint64, ws []verified, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.candGen {
		return
	}
	if err != nil {
		delete(s.cands, model)
		return
	}
	if s.cands == nil {
		s.cands = map[string]*candidateEntry{}
	}
	s.cands[model] = &candidateEntry{ws: ws, at: time.Now()}
}

// forgetCandidates drops model's cached candidates (the broker said the
// job must be sealed again: a worker it was sealed to left).
func (s *Submitter) forgetCandidates(model string) {
	s.mu.Lock()
	delete(s.cands, model)
	s.candGen++
	s.mu.Unlock()
}
