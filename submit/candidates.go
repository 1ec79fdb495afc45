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

// candidateEntry is one model's verified candidates and when their fetch
// began. refreshing is set while a background fetch runs.
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
			go s.refreshCandidates(context.WithoutCancel(ctx), model, e)
		}
		s.mu.Unlock()
		return ws, nil
	}
	gen, began := s.candGen, time.Now()
	s.mu.Unlock()
	ws, err := s.candidates(ctx, model)
	if err == nil {
		s.mu.Lock()
		// Unless the cache was dropped meanwhile (a reseal) or holds a
		// list fetched since.
		if cur := s.cands[model]; gen == s.candGen && (cur == nil || cur.at.Before(began)) {
			s.putCandidates(model, ws, began)
		}
		s.mu.Unlock()
	}
	return ws, err
}

// refreshCandidates fetches model's candidates to replace entry e; a
// failure drops e, so the next job asks the broker itself. If e is no
// longer the cached entry when the fetch ends (dropped by a reseal, or
// replaced by a newer fetch), the outcome is thrown away.
func (s *Submitter) refreshCandidates(ctx context.Context, model string, e *candidateEntry) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	began := time.Now()
	ws, err := s.candidates(ctx, model)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.cands[model] != e:
	case err != nil:
		delete(s.cands, model)
	default:
		s.putCandidates(model, ws, began)
	}
}

// putCandidates caches ws for model as fetched at began; s.mu is held.
func (s *Submitter) putCandidates(model string, ws []verified, began time.Time) {
	if s.cands == nil {
		s.cands = map[string]*candidateEntry{}
	}
	s.cands[model] = &candidateEntry{ws: ws, at: began}
}

// forgetCandidates drops model's cached candidates (the broker said the
// job must be sealed again: a worker it was sealed to left).
func (s *Submitter) forgetCandidates(model string) {
	s.mu.Lock()
	delete(s.cands, model)
	s.candGen++
	s.mu.Unlock()
}
