package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/ollama/ollama/api"

	"github.com/cocoon-network/cocoon/internal/jsonx"
)

// chatLine is what the worker reads of one line of Ollama's streamed
// /api/chat answer: the piece of text, and on the last line the counts.
type chatLine struct {
	Message struct {
		Content string `json:"content"`
	} `json:"message"`
	Done            bool   `json:"done"`
	DoneReason      string `json:"done_reason"`
	PromptEvalCount int    `json:"prompt_eval_count"`
	EvalCount       int    `json:"eval_count"`
	Error           string `json:"error"`
}

// maxChatLine bounds one line of Ollama's answer (a token's JSON is about
// 150 bytes; the last line carries timings).
const maxChatLine = 1 << 20

var chatReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

// chat posts req to Ollama's /api/chat and calls fn with each streamed
// line. It reads the stream itself rather than through api.Client.Chat,
// which allocates a 512 KiB buffer per request and decodes every line
// twice into its full response type: per token this is one small decode
// into a reused buffer.
func (o *ollama) chat(ctx context.Context, req *api.ChatRequest, fn func(*chatLine) error) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, o.base.JoinPath("/api/chat").String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/x-ndjson")
	resp, err := o.hc.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e chatLine
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	br := chatReaders.Get().(*bufio.Reader)
	br.Reset(resp.Body)
	defer func() {
		br.Reset(nil)
		chatReaders.Put(br)
	}()
	var long []byte // a line longer than the reader's buffer
	for {
		part, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long)+len(part) > maxChatLine {
				return fmt.Errorf("ollama: an answer line over %d bytes", maxChatLine)
			}
			long = append(long, part...)
			continue
		}
		if err != nil && err != io.EOF {
			// The connection broke (or ctx ended) mid-answer: an error,
			// not a short answer, so the job is retried.
			return err
		}
		line := part
		if long != nil {
			line = append(long, part...)
			long = nil
		}
		if line = bytes.TrimSpace(line); len(line) > maxChatLine {
			return fmt.Errorf("ollama: an answer line over %d bytes", maxChatLine)
		}
		if len(line) > 0 {
			var l chatLine
			if jsonx.Unmarshal(line, &l) != nil {
				// Not the decoder's message: it quotes the line, which
				// holds answer text, and this error becomes the job's
				// fail reason, stored by the broker in clear.
				return fmt.Errorf("ollama: a line of the answer does not decode (%d bytes)", len(line))
			}
			if l.Error != "" {
				return errors.New(l.Error)
			}
			if ferr := fn(&l); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}
