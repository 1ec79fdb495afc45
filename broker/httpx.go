package broker

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cocoon-network/cocoon/internal/jsonx"
	"github.com/cocoon-network/cocoon/wire"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = jsonx.Write(w, v)
}

func writeErr(w http.ResponseWriter, status int, e *wire.Error) {
	if e.RetryAfterMs > 0 {
		w.Header().Set("Retry-After", fmt.Sprint((e.RetryAfterMs+999)/1000))
	}
	writeJSON(w, status, wire.ErrorBody{Error: e})
}

func badRequest(w http.ResponseWriter, field, format string, args ...any) {
	writeErr(w, http.StatusBadRequest, &wire.Error{Code: wire.CodeBadRequest, Field: field, Message: fmt.Sprintf(format, args...)})
}

// decodeBody reads a JSON body of at most limit bytes into v, rejecting
// unknown fields and trailing data, and answers 400/413 itself on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	size := 0
	err := jsonx.ReadAll(http.MaxBytesReader(w, r.Body, limit), func(b []byte) error {
		size = len(b)
		return jsonx.DecodeStrict(b, v)
	})
	if err == nil {
		return true
	}
	var (
		maxErr  *http.MaxBytesError
		typeErr *jsonx.UnmarshalTypeError
		synErr  *jsonx.SyntaxError
	)
	switch {
	case errors.As(err, &maxErr):
		writeErr(w, http.StatusRequestEntityTooLarge, &wire.Error{Code: wire.CodeTooLarge, Message: fmt.Sprintf("body over %d bytes", limit)})
	case errors.As(err, &typeErr):
		badRequest(w, typeErr.Field, "wrong type: want %s", typeErr.Type)
	case errors.As(err, &synErr):
		// Not the decoder's message, which quotes the body (a client may
		// log the answer).
		badRequest(w, "", "malformed JSON in a %d-byte body", size)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		badRequest(w, f, "unknown field")
	case errors.Is(err, io.EOF):
		badRequest(w, "", "empty body")
	default:
		badRequest(w, "", "malformed body: %v", err)
	}
	return false
}

// bearer extracts the bearer token of a request.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

func unauthorized(w http.ResponseWriter, msg string) {
	writeErr(w, http.StatusUnauthorized, &wire.Error{Code: wire.CodeUnauthorized, Message: msg})
}

// writeJSONErr writes v as a 200 JSON body with its length and sends it at
// once; it reports whether the body reached the connection. With the
// length known the response goes in one write and is complete when sent
// (a flushed body without it is chunked: a second write at the handler's
// end, which the reader waits for).
func writeJSONErr(w http.ResponseWriter, v any) error {
	b, err := jsonx.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(b); err != nil {
		return err
	}
	return http.NewResponseController(w).Flush()
}
