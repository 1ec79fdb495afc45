package seal_test

import (
	"fmt"

	"github.com/cocoon-network/cocoon/seal"
)

func Example() {
	w1, _ := seal.GenerateKey()
	w2, _ := seal.GenerateKey()
	secret := []byte("submitter secret, 32 random bytes")
	jobID := "job-7"

	// Submitter: seal the job key and prompt to both eligible workers.
	jobKey := seal.JobKey(secret, jobID)
	req := append(jobKey[:], "What is TDX?"...)
	sealed, _, err := seal.Seal(req, []byte(jobID), []seal.Recipient{
		{ID: "w1", PublicKey: w1.PublicKey().Bytes()},
		{ID: "w2", PublicKey: w2.PublicKey().Bytes()},
	})
	if err != nil {
		panic(err)
	}

	// Worker w2: open the request, stream a sealed chunk back.
	got, err := seal.Open(sealed, []byte(jobID), "w2", w2)
	if err != nil {
		panic(err)
	}
	chunk := seal.SealChunk([32]byte(got[:32]), jobID, 0, []byte("A confidential VM."))

	// Submitter, even after a restart: derive the job key again and read it.
	text, err := seal.OpenChunk(seal.JobKey(secret, jobID), jobID, 0, chunk)
	fmt.Println(string(got[32:]), "->", string(text), err)
	// Output: What is TDX? -> A confidential VM. <nil>
}
