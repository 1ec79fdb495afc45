// Package trust joins the attestation, sealing and receipt packages to the
// wire types: it rebuilds a worker's attested claims from a join request or
// a candidate, verifies them under a policy, builds and checks answer
// receipts, and parses the measurement allowlist setting. The broker (at
// join) and every submitter (before sealing) call the same checks.
package trust

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/wire"
)

// JoinDomain separates join quotes from any other use of REPORTDATA.
const JoinDomain = "cocoon-worker-join-v1"

// Claims rebuilds what a worker's join quote attests.
func Claims(nonce, signingKey, hpkeKey []byte, models []wire.ModelDigest) (attest.Claims, error) {
	if len(nonce) != 32 {
		return attest.Claims{}, fmt.Errorf("nonce: %d bytes, want 32", len(nonce))
	}
	if len(signingKey) != ed25519.PublicKeySize {
		return attest.Claims{}, fmt.Errorf("signing_key: %d bytes, want %d", len(signingKey), ed25519.PublicKeySize)
	}
	if len(hpkeKey) == 0 {
		return attest.Claims{}, errors.New("hpke_key: missing")
	}
	c := attest.Claims{Domain: JoinDomain, SigningKey: ed25519.PublicKey(signingKey), HPKEKey: hpkeKey}
	copy(c.Nonce[:], nonce)
	for _, m := range models {
		c.Models = append(c.Models, attest.ModelDigest{Name: m.Name, Digest: m.Digest})
	}
	return c, nil
}

// VerifyJoin checks a join request's evidence against its own claims.
func VerifyJoin(p attest.Policy, req *wire.JoinRequest) (*attest.Report, error) {
	c, err := Claims(req.Nonce, req.SigningKey, req.HPKEKey, req.Models)
	if err != nil {
		return nil, err
	}
	return p.VerifyClaims(attest.Evidence{Type: req.Evidence.Type, Quote: req.Evidence.Quote}, c)
}

// VerifyCandidate is the submitter's own check of a worker the broker
// offers: the quote must bind exactly the keys the broker handed over, so a
// broker substituting a key of its own is caught here.
func VerifyCandidate(p attest.Policy, c *wire.Candidate) (*attest.Report, error) {
	cl, err := Claims(c.Nonce, c.SigningKey, c.HPKEKey, c.Models)
	if err != nil {
		return nil, fmt.Errorf("candidate %s: %w", c.WorkerID, err)
	}
	r, err := p.VerifyClaims(attest.Evidence{Type: c.Evidence.Type, Quote: c.Evidence.Quote}, cl)
	if err != nil {
		return nil, fmt.Errorf("candidate %s: %w", c.WorkerID, err)
	}
	return r, nil
}

// QuoteHash is the hash receipts carry to name the quote a worker joined with.
func QuoteHash(quote []byte) [32]byte { return sha256.Sum256(quote) }

// ParseAllowlist parses COCOON_TDX_ALLOW: entries separated by commas or
// whitespace, each "MRTD:RTMR0:RTMR1:RTMR2" in hex (48 bytes each).
func ParseAllowlist(s string) ([]attest.Measurement, error) {
	var out []attest.Measurement
	for _, e := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		parts := strings.Split(e, ":")
		if len(parts) != 4 {
			return nil, fmt.Errorf("COCOON_TDX_ALLOW: entry %.20q…: want MRTD:RTMR0:RTMR1:RTMR2 in hex", e)
		}
		var m attest.Measurement
		regs := []*attest.Register{&m.MRTD, &m.RTMR0, &m.RTMR1, &m.RTMR2}
		for i, p := range parts {
			r, err := attest.ParseRegister(p)
			if err != nil {
				return nil, fmt.Errorf("COCOON_TDX_ALLOW: entry %d register %d: %v", len(out), i, err)
			}
			*regs[i] = r
		}
		out = append(out, m)
	}
	return out, nil
}

// PolicyID names a policy's allowlist, so workers attested under another
// allowlist are made to attest again.
func PolicyID(p attest.Policy) string {
	h := sha256.New()
	for _, m := range p.Allow {
		h.Write([]byte(m.String()))
	}
	if p.AllowInsecureDev {
		h.Write([]byte("insecure-dev"))
	}
	return fmt.Sprintf("%x", h.Sum(nil)[:8])
}
