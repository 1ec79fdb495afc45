package receipt_test

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cocoon-network/cocoon/receipt"
)

func Example() {
	pub, priv, _ := ed25519.GenerateKey(nil)
	text := "A confidential VM."
	r := receipt.Receipt{
		Version: receipt.Version, JobID: "job-7", Segment: 0, WorkerID: "dev-1",
		RequestHash: receipt.HashRequest([]byte("sealed request")), TextHash: receipt.HashText(text),
		Model: "tiny", ModelDigest: "sha256:0123", PromptTokens: 5, CompletionTokens: 4,
		Attested: false, // an insecure-dev worker
		Time:     time.Now(),
	}
	if err := r.Sign(priv); err != nil {
		panic(err)
	}
	wire, _ := json.Marshal(r)

	var got receipt.Receipt
	if err := json.Unmarshal(wire, &got); err != nil {
		panic(err)
	}
	fmt.Println(got.Verify(pub), receipt.CheckSegment(&got, text), got.Attested)
	// Output: <nil> <nil> false
}
