package submit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
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

// candidates fetches and verifies up to k workers for model. A candidate's
// evidence is verified once per quote: a verification is cached by the
// candidate's exact bytes, so the same worker costs nothing the next time
// and any change the broker makes is verified afresh.
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
		attested, err := s.verifyCached(&c)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		out = append(out, verified{cand: c, attested: attested})
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

// verifyCached verifies a candidate, remembering successes by a hash of
// everything the check covers (bounded; cleared when full).
func (s *Submitter) verifyCached(c *wire.Candidate) (bool, error) {
	h := sha256.New()
	for _, b := range [][]byte{[]byte(c.WorkerID), c.Nonce, []byte(c.Evidence.Type), c.Evidence.Quote, c.SigningKey, c.HPKEKey} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, m := range c.Models {
		h.Write([]byte(m.Name + "\x00" + m.Digest + "\x00"))
	}
	var key [32]byte
	copy(key[:], h.Sum(nil))
	s.mu.Lock()
	attested, ok := s.verified[key]
	s.mu.Unlock()
	if ok {
		return attested, nil
	}
	rep, err := trust.VerifyCandidate(s.Policy, c)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	if s.verified == nil || len(s.verified) > 4096 {
		s.verified = map[[32]byte]bool{}
	}
	s.verified[key] = !rep.Insecure
	s.mu.Unlock()
	return !rep.Insecure, nil
}
