package trust

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/attest/attesttest"
	"github.com/cocoon-network/cocoon/seal"
	"github.com/cocoon-network/cocoon/wire"
)

func TestParseAllowlist(t *testing.T) {
	m := attesttest.ShippedMeasurement()
	entry := m.MRTD.String() + ":" + m.RTMR0.String() + ":" + m.RTMR1.String() + ":" + m.RTMR2.String()
	got, err := ParseAllowlist(entry + ", " + entry)
	if err != nil || len(got) != 2 || got[0] != m {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"abc", entry + ":00", strings.Replace(entry, m.MRTD.String(), "zz", 1)} {
		if _, err := ParseAllowlist(bad); err == nil || !strings.Contains(err.Error(), "COCOON_TDX_ALLOW") {
			t.Errorf("%.30q: %v", bad, err)
		}
	}
}

// candidate makes a worker identity attested under pki.
func candidate(t *testing.T, pki *attesttest.PKI) (wire.Candidate, ed25519.PrivateKey) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	hk, _ := seal.GenerateKey()
	nonce := attest.NewNonce()
	models := []wire.ModelDigest{{Name: "tiny:latest", Digest: "sha256:abc"}}
	c, err := Claims(nonce[:], pub, hk.PublicKey().Bytes(), models)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := attest.NewEvidence(pki.Quoter(attesttest.QuoteOptions{}), c)
	if err != nil {
		t.Fatal(err)
	}
	return wire.Candidate{WorkerID: "w1", Nonce: nonce[:], Evidence: wire.Evidence{Type: ev.Type, Quote: ev.Quote},
		SigningKey: pub, HPKEKey: hk.PublicKey().Bytes(), Models: models}, priv
}

func TestVerifyCandidateCatchesEverySubstitution(t *testing.T) {
	pki := attesttest.MustNew(t)
	p := pki.Policy()
	good, _ := candidate(t, pki)
	if _, err := VerifyCandidate(p, &good); err != nil {
		t.Fatalf("genuine candidate: %v", err)
	}
	other, _ := candidate(t, pki)
	tamper := map[string]func(c *wire.Candidate){
		"hpke key":    func(c *wire.Candidate) { c.HPKEKey = other.HPKEKey },
		"signing key": func(c *wire.Candidate) { c.SigningKey = other.SigningKey },
		"nonce":       func(c *wire.Candidate) { c.Nonce = other.Nonce },
		"models":      func(c *wire.Candidate) { c.Models = []wire.ModelDigest{{Name: "tiny:latest", Digest: "sha256:evil"}} },
		"quote":       func(c *wire.Candidate) { c.Evidence = other.Evidence },
	}
	for name, f := range tamper {
		c := good
		f(&c)
		if _, err := VerifyCandidate(p, &c); err == nil {
			t.Errorf("substituted %s accepted", name)
		}
	}
	// The production policy (Intel root) refuses the test PKI's quotes.
	if _, err := VerifyCandidate(attest.Policy{Allow: p.Allow}, &good); err == nil {
		t.Error("test PKI quote accepted under the Intel root")
	}
}

func TestReceiptsVerifyAndCatchChanges(t *testing.T) {
	pki := attesttest.MustNew(t)
	cand, priv := candidate(t, pki)
	sealed := []byte("sealed request bytes")
	seg := Segment{JobID: "0-abcdefghijklmnopqrstuvwxyz", Index: 1, WorkerID: "w1", SealedRequest: sealed, Text: "the answer",
		Model: "tiny:latest", Digest: "sha256:abc", PromptTokens: 3, CompletionTokens: 2, Evidence: cand.Evidence}
	raw, err := SignReceipt(priv, seg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cr := CheckReceipt(raw, &cand, "w1", seg.JobID, sealed, seg.Text); !cr.Verified || !cr.Receipt.Attested {
		t.Fatalf("genuine receipt: %+v", cr)
	}
	otherCand, _ := candidate(t, pki)
	otherCand.WorkerID = "w1"
	devCand := cand
	devCand.Evidence = wire.Evidence{Type: wire.EvidenceInsecureDev}
	cases := map[string]CheckedReceipt{
		"other text":      CheckReceipt(raw, &cand, "w1", seg.JobID, sealed, "another answer"),
		"other job":       CheckReceipt(raw, &cand, "w1", "1-abcdefghijklmnopqrstuvwxyz", sealed, seg.Text),
		"other request":   CheckReceipt(raw, &cand, "w1", seg.JobID, []byte("x"), seg.Text),
		"other key":       CheckReceipt(raw, &otherCand, "w1", seg.JobID, sealed, seg.Text),
		"unknown worker":  CheckReceipt(raw, nil, "w1", seg.JobID, sealed, seg.Text),
		"other runner":    CheckReceipt(raw, &cand, "w2", seg.JobID, sealed, seg.Text),
		"claims attested": CheckReceipt(raw, &devCand, "w1", seg.JobID, sealed, seg.Text),
		"garbage":         CheckReceipt([]byte("{"), &cand, "w1", seg.JobID, sealed, seg.Text),
	}
	for name, cr := range cases {
		if cr.Verified || cr.Problem == "" {
			t.Errorf("%s: verified", name)
		}
	}
}
