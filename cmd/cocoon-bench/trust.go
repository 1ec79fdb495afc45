package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/verify"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/attest/attesttest"
	"github.com/cocoon-network/cocoon/seal"
	"github.com/cocoon-network/cocoon/trust"
	"github.com/cocoon-network/cocoon/wire"
)

// trustBench measures the trust layer's costs: join_verify_ratio, the
// broker's whole join check (trust.VerifyJoin: claims, REPORTDATA, the
// policy's checks) over a bare verify.TdxQuote with the same roots on the
// same quote, the two alternated in one loop; and seal_open_us, sealing a
// 4 KiB prompt for 3 recipients and opening it once.
func (b *bench) trustBench(ctx context.Context) error {
	pki, err := attesttest.New()
	if err != nil {
		return err
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	hk, err := seal.GenerateKey()
	if err != nil {
		return err
	}
	nonce := attest.NewNonce()
	models := []wire.ModelDigest{{Name: "tiny:latest", Digest: "sha256:0"}}
	claims, err := trust.Claims(nonce[:], pub, hk.PublicKey().Bytes(), models)
	if err != nil {
		return err
	}
	quote, err := pki.Quote(attesttest.QuoteOptions{ReportData: attest.ReportData(claims)})
	if err != nil {
		return err
	}
	req := &wire.JoinRequest{Nonce: nonce[:], Evidence: wire.Evidence{Type: wire.EvidenceTDX, Quote: quote},
		SigningKey: pub, HPKEKey: hk.PublicKey().Bytes(), Models: models, MaxJobs: 1}
	policy := pki.Policy()
	parsed, err := abi.QuoteToProto(quote)
	if err != nil {
		return err
	}
	const rounds = 300
	var full, bare time.Duration
	for i := 0; i < rounds; i++ {
		t0 := time.Now()
		if _, err := trust.VerifyJoin(policy, req); err != nil {
			return fmt.Errorf("join verification: %w", err)
		}
		t1 := time.Now()
		if err := verify.TdxQuote(parsed, &verify.Options{TrustedRoots: pki.Roots, Now: time.Now()}); err != nil {
			return fmt.Errorf("bare verification: %w", err)
		}
		full += t1.Sub(t0)
		bare += time.Since(t1)
	}
	b.note("trust: join verification %.0f µs, bare verify.TdxQuote %.0f µs (mean of %d alternated)",
		float64(full.Microseconds())/rounds, float64(bare.Microseconds())/rounds, rounds)
	b.add("join_verify_ratio", float64(full)/float64(bare), "x", 3)

	prompt := bytes.Repeat([]byte("a"), 4096)
	var keys []*seal.PrivateKey
	var rs []seal.Recipient
	for i := 0; i < 3; i++ {
		k, err := seal.GenerateKey()
		if err != nil {
			return err
		}
		keys = append(keys, k)
		rs = append(rs, seal.Recipient{ID: fmt.Sprintf("w%d", i), PublicKey: k.PublicKey().Bytes()})
	}
	var total time.Duration
	for i := 0; i < rounds; i++ {
		t0 := time.Now()
		sealed, _, err := seal.Seal(prompt, []byte("job"), rs)
		if err != nil {
			return err
		}
		if _, err := seal.Open(sealed, []byte("job"), "w1", keys[1]); err != nil {
			return err
		}
		total += time.Since(t0)
	}
	b.add("seal_open_us", float64(total.Microseconds())/rounds, "us", 0)
	return nil
}
