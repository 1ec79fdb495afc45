package wire

// Message is one conversation turn inside a payload.
type Message struct {
	Role    string `json:"role"` // system | user | assistant
	Content string `json:"content"`
}

// Payload is what a submitter puts in SubmitRequest.Payload (before sealing)
// and what a worker decodes after leasing. The broker never parses it.
type Payload struct {
	Version  int            `json:"v"`
	Messages []Message      `json:"messages"`
	Options  map[string]any `json:"options,omitempty"` // Ollama options (temperature, seed, num_thread, ...)
	// ChunkKey seals the answer's chunks (seal.SealChunk). The submitter
	// derives it from its secret and the job id; every eligible worker
	// learns it, so a failover worker can read the streamed prefix.
	ChunkKey []byte `json:"chunk_key"`
}
