package bot

import "github.com/cocoon-network/cocoon/wire"

// conv is one conversation: a chat, or one forum topic of it.
type conv struct {
	Chat   int64
	Thread int // message_thread_id of a forum topic; 0 otherwise
}

// estimateTokens over-estimates the tokens of s: a token is rarely under
// three bytes (English ~4, Cyrillic ~2 characters of 2 bytes), plus a few
// for the role markers of a turn.
func estimateTokens(s string) int { return (len(s)+2)/3 + 4 }

// maxTurns bounds how many turns one prompt walks back through.
const maxTurns = 200

// buildMessages is the conversation sent with a prompt: the system prompt,
// as many earlier turns (newest first in turns) as fit in budget tokens
// together with the system prompt and the prompt, oldest dropped first, and
// the prompt.
func buildMessages(system string, turns []Turn, prompt string, budget int) []wire.Message {
	room := budget - estimateTokens(prompt)
	if system != "" {
		room -= estimateTokens(system)
	}
	n := 0
	for _, t := range turns {
		cost := estimateTokens(t.User) + estimateTokens(t.Answer)
		if cost > room {
			break
		}
		room -= cost
		n++
	}
	msgs := make([]wire.Message, 0, 2+2*n)
	if system != "" {
		msgs = append(msgs, wire.Message{Role: "system", Content: system})
	}
	for i := n - 1; i >= 0; i-- {
		msgs = append(msgs, wire.Message{Role: "user", Content: turns[i].User},
			wire.Message{Role: "assistant", Content: turns[i].Answer})
	}
	return append(msgs, wire.Message{Role: "user", Content: prompt})
}
