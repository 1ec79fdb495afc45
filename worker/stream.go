package worker

import (
	"sync"
	"time"

	"github.com/cocoon-network/cocoon/seal"
	"github.com/cocoon-network/cocoon/wire"
)

const (
	// chunkLinger is how long a stream's tokens may wait to join one chunk
	// after its last chunk went out. A stream's first chunk and its last
	// (before the completion) never wait. 25 ms (40 chunks/s at most per
	// stream, faster than a screen needs) rather than 10: a fast model's
	// answer costs the broker ~2.5 × fewer chunk writes, and the bench's
	// stream_ratio went from 0.93–0.95 to 0.96–0.98 on a 2-core host, where
	// Ollama had run 3 % slower for the worker's requests than for direct
	// ones (its own logged time) and no longer did.
	chunkLinger = 25 * time.Millisecond
	// chunkMaxBytes and chunkMaxTokens bound one chunk (the broker takes
	// 64 KiB and 4,096 tokens).
	chunkMaxBytes  = 16 << 10
	chunkMaxTokens = 1024
)

// chunkStream turns one job's tokens into sealed chunks: tokens that arrive
// while the stream's previous chunk waits for the reporter (a report in
// flight), or within chunkLinger of it, join that chunk. A fast model then
// costs one chunk per report round trip instead of one per token, and a
// slow one still shows every token at once. The token that uses up the
// job's budget does not wait either: it is the answer's last. Sequence
// numbers are given when a chunk is sealed, so they have no gaps.
type chunkStream struct {
	rep   *reporter
	job   *wire.LeasedJob
	key   [32]byte
	mu    sync.Mutex
	toks  []string      // tokens not yet sealed
	queue bool          // the reporter holds an entry for them
	seq   uint64        // next sequence number
	count int           // tokens seen
	limit int           // the segment's token budget (num_predict)
	wait  time.Duration // chunkLinger
	last  time.Time
	timer *time.Timer
}

func newChunkStream(rep *reporter, j *wire.LeasedJob, key [32]byte) *chunkStream {
	return &chunkStream{rep: rep, job: j, key: key, seq: j.NextSeq, wait: chunkLinger, limit: segmentBudget(j)}
}

// add takes one token's text.
func (s *chunkStream) add(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.toks = append(s.toks, text)
	s.count++
	if s.queue {
		return
	}
	if wait := s.wait - time.Since(s.last); wait > 0 && !s.last.IsZero() && s.count < s.limit {
		if s.timer == nil {
			s.timer = time.AfterFunc(wait, s.flush)
		}
		return
	}
	s.queueLocked()
}

// flush hands what the stream holds to the reporter now.
func (s *chunkStream) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.queue && len(s.toks) > 0 {
		s.queueLocked()
	}
}

func (s *chunkStream) queueLocked() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.queue = true
	s.last = time.Now()
	s.rep.addStream(s)
}

// take seals the tokens held as chunks (the reporter calls it when it
// sends them).
func (s *chunkStream) take() []wire.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []wire.Report
	for len(s.toks) > 0 {
		n, size := 0, 0
		for n < len(s.toks) && n < chunkMaxTokens && (n == 0 || size+len(s.toks[n]) <= chunkMaxBytes) {
			size += len(s.toks[n])
			n++
		}
		text := make([]byte, 0, size)
		for _, t := range s.toks[:n] {
			text = append(text, t...)
		}
		out = append(out, wire.Report{Kind: wire.ReportChunk, Job: s.job.ID, Lease: s.job.Lease, Seq: s.seq,
			Data: seal.SealChunk(s.key, s.job.ID, s.seq, text), Tokens: n})
		s.seq++
		s.toks = s.toks[n:]
	}
	s.toks, s.queue = nil, false
	return out
}

// tokens is how many tokens the stream has seen.
func (s *chunkStream) tokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}
