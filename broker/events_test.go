package broker

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestDecodeDoneEvent: a done event's packed value and the field-by-field
// form written before it decode to the same event; a receipt may hold
// spaces; a value cut short leaves the counts unset instead of guessing.
func TestDecodeDoneEvent(t *testing.T) {
	receipt := `{"sig": "a b"}`
	packed := decodeEvent(redis.XMessage{ID: "1-0", Values: map[string]any{"t": "done", "v": "12 34 2 w-7 " + receipt}})
	legacy := decodeEvent(redis.XMessage{ID: "1-0", Values: map[string]any{"t": "done", "pt": "12", "ct": "34", "g": "2", "w": "w-7", "r": receipt}})
	for name, e := range map[string]struct {
		pt, ct, seg int
		w, r        string
	}{
		"packed": {packed.PromptTokens, packed.CompletionTokens, packed.Segment, packed.Worker, string(packed.Receipt)},
		"legacy": {legacy.PromptTokens, legacy.CompletionTokens, legacy.Segment, legacy.Worker, string(legacy.Receipt)},
	} {
		if e.pt != 12 || e.ct != 34 || e.seg != 2 || e.w != "w-7" || e.r != receipt {
			t.Errorf("%s: %+v", name, e)
		}
	}
	if e := decodeEvent(redis.XMessage{Values: map[string]any{"t": "done", "v": "12 34 2 w-7 "}}); e.Worker != "w-7" || e.Receipt != nil {
		t.Errorf("no receipt: %+v", e)
	}
	if e := decodeEvent(redis.XMessage{Values: map[string]any{"t": "done", "v": "12 34"}}); e.PromptTokens != 0 || e.Worker != "" {
		t.Errorf("cut short: %+v", e)
	}
}
