package submit

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/cocoon-network/cocoon/seal"
	"github.com/cocoon-network/cocoon/trust"
	"github.com/cocoon-network/cocoon/wire"
)

// verified is a candidate whose evidence this submitter checked itself.
type verified struct {
	cand     wire.Candidate
	attested bool
}

// ErrNoVerifiedWorker means the broker offered workers but none passed this
// submitter's own evidence check (a broker substituting keys lands here).
var ErrNoVerifiedWorker = errors.New("no worker passed attestation checks")

// candidates fetches and verifies up to k workers for model.
func (s *Submitter) candidates(ctx context.Context, model string) ([]verified, error) {
	k := s.K
	if k <= 0 {
		k = 3
	}
	cands, err := s.C.CandidatesUpTo(ctx, model, k, s.maxCoef())
	if err != nil {
		return nil, err
	}
	var out []verified
	var problems []error
	for _, c := range cands {
		rep, err := trust.VerifyCandidate(s.Policy, &c)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		out = append(out, verified{cand: c, attested: !rep.Insecure})
	}
	if len(out) == 0 {
		if len(cands) == 0 {
			return nil, &wire.Error{Code: wire.CodeNoCapacity, Status: http.StatusServiceUnavailable,
				Message: fmt.Sprintf("no worker can run %q right now", model)}
		}
		return nil, fmt.Errorf("%w: %w", ErrNoVerifiedWorker, errors.Join(problems...))
	}
	return out, nil
}

// sealFor builds the sealed payload of job id for the verified workers.
func (s *Submitter) sealFor(id string, req *Request, ws []verified) (sealed []byte, chunkKey [32]byte, err error) {
	chunkKey = seal.JobKey(s.secret(), id)
	plain, err := json.Marshal(wire.Payload{Version: 1, Messages: req.Messages, Options: req.Options, ChunkKey: chunkKey[:]})
	if err != nil {
		return nil, chunkKey, err
	}
	rs := make([]seal.Recipient, len(ws))
	for i, w := range ws {
		rs[i] = seal.Recipient{ID: w.cand.WorkerID, PublicKey: w.cand.HPKEKey}
	}
	sealed, _, err = seal.Seal(plain, []byte(id), rs)
	return sealed, chunkKey, err
}

func (s *Submitter) secret() []byte {
	s.once.Do(func() {
		if len(s.Secret) < seal.MinSecretSize {
			s.Secret = make([]byte, 32)
			rand.Read(s.Secret)
		}
	})
	return s.Secret
}

func byWorker(ws []verified) map[string]wire.Candidate {
	m := make(map[string]wire.Candidate, len(ws))
	for _, w := range ws {
		m[w.cand.WorkerID] = w.cand
	}
	return m
}
