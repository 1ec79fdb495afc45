package attest_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/attest/attesttest"
)

// A worker attests to its keys with a test quoter; the verifier checks the
// evidence against the claims it expects, then against claims with another
// key, as a broker substituting a key of its own would present them.
func Example() {
	pki, err := attesttest.New()
	if err != nil {
		panic(err)
	}
	workerKey, _, _ := ed25519.GenerateKey(nil)
	claims := attest.Claims{
		Domain:     "cocoon-join:example",
		Nonce:      attest.NewNonce(),
		SigningKey: workerKey,
		HPKEKey:    []byte("worker HPKE public key"),
		Models:     []attest.ModelDigest{{Name: "qwen3:0.6b", Digest: "sha256:7df6b6e09427"}},
	}
	ev, err := attest.NewEvidence(pki.Quoter(attesttest.QuoteOptions{}), claims)
	if err != nil {
		panic(err)
	}

	policy := pki.Policy(attesttest.ShippedMeasurement())
	report, err := policy.VerifyClaims(ev, claims)
	fmt.Println(ev.Type, err, report.TCBStatus)

	brokerKey, _, _ := ed25519.GenerateKey(nil)
	swapped := claims
	swapped.SigningKey = brokerKey
	_, err = policy.VerifyClaims(ev, swapped)
	fmt.Println(errors.Is(err, attest.ErrReportData))

	_, err = attest.Policy{Allow: policy.Allow}.VerifyClaims(ev, claims)
	fmt.Println(errors.Is(err, attest.ErrChain))
	// Output:
	// tdx-quote-v4 <nil> Unknown
	// true
	// true
}
