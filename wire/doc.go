// Package wire holds the types that cross process boundaries: the job
// envelope a submitter hands the broker, the leased job a worker receives,
// the chunks and events a follower reads, and the error shape every HTTP API
// answers with. It imports only the standard library.
//
// A submitter builds a job like this:
//
//	id := wire.NewJobID("tiny:latest")
//	req := wire.SubmitRequest{ID: id, Model: "tiny:latest", User: "tg:42",
//		MaxTokens: 256, PromptBytes: len(prompt), Payload: payload}
//
// The payload is opaque to the broker: it stores and hands it over but never
// parses it. Only the worker that leases the job decodes it (see Payload).
package wire
