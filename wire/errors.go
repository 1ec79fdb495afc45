package wire

import "fmt"

// Error codes shared by every API.
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeNotFound     = "not_found"
	CodeUnknownModel = "unknown_model"
	CodeNoCapacity   = "no_capacity"
	CodeBusy         = "busy"
	CodeTooLarge     = "too_large"
	CodeInsufficient = "insufficient_balance"
	CodeConflict     = "conflict" // stale lease, not the holder, sequence gap
	CodeCancelled    = "cancelled"
	CodeReseal       = "reseal" // none of the job's eligible workers is left: seal again
	CodeUnavailable  = "unavailable"
	CodeInternal     = "internal"
)

// Error is the JSON error body of every API.
type Error struct {
	Code         string   `json:"code"`
	Message      string   `json:"message"`
	Field        string   `json:"field,omitempty"`
	RetryAfterMs int64    `json:"retry_after_ms,omitempty"`
	Models       []string `json:"models,omitempty"` // for unknown_model: what the pool serves
	Status       int      `json:"-"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// ErrorBody wraps Error on the wire: {"error": {...}}.
type ErrorBody struct {
	Error *Error `json:"error"`
}
