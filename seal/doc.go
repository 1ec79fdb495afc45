// Package seal encrypts prompts to attested workers so the broker stays blind.
//
// A request is sealed once under a fresh content key, and that key is sealed
// with HPKE (RFC 9180; KEM MLKEM768X25519, KDF HKDF-SHA256, AEAD
// ChaCha20Poly1305) to each eligible worker's public key. Answer chunks are
// sealed with XChaCha20-Poly1305 under a per-job key the submitter derives
// from its own secret ([JobKey]) and places inside the sealed request. [AtRest]
// encrypts records the bot keeps in Redis. Every format starts with a version
// byte and is laid out byte by byte beside the function that writes it.
//
// Submitter side:
//
//	jobKey := seal.JobKey(secret, jobID)
//	req := append(jobKey[:], prompt...) // the caller's own payload format
//	sealed, _, err := seal.Seal(req, []byte(jobID), []seal.Recipient{
//		{ID: "w1", PublicKey: w1Pub}, {ID: "w2", PublicKey: w2Pub},
//	})
//	...
//	text, err := seal.OpenChunk(jobKey, jobID, seq, chunk)
//
// Worker side:
//
//	req, err := seal.Open(sealed, []byte(jobID), "w1", priv)
//	jobKey := [32]byte(req[:32])
//	chunk := seal.SealChunk(jobKey, jobID, seq, []byte("Hello"))
//
// Errors are matched with errors.Is against ErrMalformed, ErrNotRecipient,
// ErrAuth and ErrInvalidKey.
package seal
