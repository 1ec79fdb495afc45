package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cocoon-network/cocoon/apikey"
	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// Error types, as OpenAI names them.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypeInsufficient   = "insufficient_quota"
	TypeRateLimit      = "rate_limit_error"
	TypeServer         = "server_error"
)

// APIError is an error answer in OpenAI's shape:
// {"error": {"message", "type", "param", "code"}} with an HTTP status.
type APIError struct {
	Status     int
	Message    string
	Type       string
	Param      string // "" is null
	Code       string // "" is null
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

type errorBody struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (e *APIError) body() errorBody {
	return errorBody{errorObject{Message: e.Message, Type: e.Type, Param: nullable(e.Param), Code: nullable(e.Code)}}
}

// write sends e as the whole response.
func (e *APIError) write(w http.ResponseWriter) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e.body())
}

func invalid(param, code, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Param: param, Code: code,
		Message: fmt.Sprintf(format, args...)}
}

func retryAfter(ms int64, def time.Duration) time.Duration {
	if ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return def
}

// fromSubmit maps what submit.Run and the broker client return to the
// answer the API client gets.
func fromSubmit(err error) *APIError {
	var we *wire.Error
	var tl *submit.ErrPromptTooLong
	switch {
	case errors.As(err, &tl):
		return &APIError{Status: http.StatusRequestEntityTooLarge, Type: TypeInvalidRequest, Param: "messages",
			Code: "prompt_too_long", Message: tl.Error()}
	case errors.As(err, &we):
		return fromWire(we)
	case errors.Is(err, client.ErrUnavailable):
		return &APIError{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "unavailable",
			Message: "the Cocoon broker is unreachable; retry later", RetryAfter: time.Second}
	case errors.Is(err, submit.ErrNoVerifiedWorker):
		return &APIError{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "no_capacity",
			Message: "no worker that passed attestation can run this model right now; retry later", RetryAfter: 5 * time.Second}
	case errors.Is(err, submit.ErrJobFailed):
		return &APIError{Status: http.StatusBadGateway, Type: TypeServer, Code: "job_failed",
			Message: "the job failed on the workers (" + err.Error() + "); nothing more was generated"}
	}
	return &APIError{Status: http.StatusInternalServerError, Type: TypeServer, Code: "internal",
		Message: "internal error"}
}

// fromWire maps a broker refusal.
func fromWire(we *wire.Error) *APIError {
	switch we.Code {
	case wire.CodeUnknownModel:
		return &APIError{Status: http.StatusNotFound, Type: TypeInvalidRequest, Param: "model", Code: "model_not_found",
			Message: we.Message}
	case wire.CodeInsufficient:
		return &APIError{Status: http.StatusPaymentRequired, Type: TypeInsufficient, Code: "insufficient_balance",
			Message: we.Message}
	case wire.CodeBusy:
		return &APIError{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: "busy",
			Message: we.Message, RetryAfter: retryAfter(we.RetryAfterMs, 2*time.Second)}
	case wire.CodeNoCapacity:
		return &APIError{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "no_capacity",
			Message: we.Message, RetryAfter: retryAfter(we.RetryAfterMs, 5*time.Second)}
	case wire.CodeTooLarge:
		return &APIError{Status: http.StatusRequestEntityTooLarge, Type: TypeInvalidRequest, Param: "messages",
			Code: "request_too_large", Message: "the conversation is too large for one job: " + we.Message}
	case wire.CodeBadRequest:
		return &APIError{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Param: we.Field, Code: "invalid_value",
			Message: we.Message}
	case wire.CodeCancelled:
		return &APIError{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "cancelled",
			Message: "the job was cancelled", RetryAfter: time.Second}
	}
	// unauthorized (our service token), unavailable, internal, anything new.
	return &APIError{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "unavailable",
		Message: "Cocoon is temporarily unavailable; retry later", RetryAfter: retryAfter(we.RetryAfterMs, time.Second)}
}

// fromKey maps an API key lookup failure.
func fromKey(err error) *APIError {
	switch {
	case errors.Is(err, apikey.ErrRevoked):
		return &APIError{Status: http.StatusUnauthorized, Type: TypeAuthentication, Code: "revoked_api_key",
			Message: "this API key was revoked; create a new one with /apikey in the bot"}
	case errors.Is(err, apikey.ErrUnknown), errors.Is(err, apikey.ErrMalformed):
		return &APIError{Status: http.StatusUnauthorized, Type: TypeAuthentication, Code: "invalid_api_key",
			Message: "incorrect API key; create one with /apikey in the bot"}
	}
	return &APIError{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "unavailable",
		Message: "cannot check API keys right now; retry later", RetryAfter: time.Second}
}

var errMissingKey = &APIError{Status: http.StatusUnauthorized, Type: TypeAuthentication, Code: "missing_api_key",
	Message: "no API key: send Authorization: Bearer ck-... (create a key with /apikey in the bot)"}
