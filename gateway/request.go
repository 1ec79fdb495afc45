package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/cocoon-network/cocoon/wire"
)

// ChatRequest is a validated POST /v1/chat/completions body.
type ChatRequest struct {
	Model        string
	Messages     []wire.Message
	MaxTokens    int
	Stream       bool
	IncludeUsage bool           // stream_options.include_usage
	Options      map[string]any // Ollama options the request sets (temperature, top_p, seed, stop, penalties)
}

// Limits bound a request. The zero value of a field means its default.
type Limits struct {
	MaxPromptBytes   int // newest user message; default 16384 (COCOON_MAX_PROMPT_BYTES)
	MaxTokens        int // largest max_tokens; default 8192 (COCOON_MAX_TOKENS)
	DefaultMaxTokens int // when the request sets none; default 1024, at most MaxTokens
}

func (l Limits) withDefaults() Limits {
	if l.MaxPromptBytes <= 0 {
		l.MaxPromptBytes = 16384
	}
	if l.MaxTokens <= 0 {
		l.MaxTokens = 8192
	}
	if l.DefaultMaxTokens <= 0 {
		l.DefaultMaxTokens = 1024
	}
	l.DefaultMaxTokens = min(l.DefaultMaxTokens, l.MaxTokens)
	return l
}

// modelRe is the broker's model name syntax.
var modelRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)

// unsupported are OpenAI parameters Cocoon cannot honour: refused unless
// absent, null, false or empty, so a client never silently gets less than
// it asked for.
var unsupported = map[string]string{
	"tools":               "tool calling is not supported",
	"tool_choice":         "tool calling is not supported",
	"parallel_tool_calls": "tool calling is not supported",
	"functions":           "function calling is not supported",
	"function_call":       "function calling is not supported",
	"logit_bias":          "logit_bias is not supported",
	"logprobs":            "logprobs are not supported",
	"top_logprobs":        "logprobs are not supported",
	"audio":               "audio is not supported",
	"modalities":          "only text is supported",
	"prediction":          "predicted outputs are not supported",
	"web_search_options":  "web search is not supported",
	"reasoning_effort":    "reasoning_effort is not supported",
	"service_tier":        "service tiers are not supported",
	"store":               "stored completions are not supported",
	"metadata":            "stored completions are not supported",
}

// member is one "key": value of a JSON object, in document order.
type member struct {
	key string
	val json.RawMessage
}

// object reads a JSON object strictly: keys match exactly (encoding/json
// alone folds case) and appear once.
func object(data []byte, path string) ([]member, *APIError) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxErr(path, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, invalid(path, "invalid_type", "%s must be a JSON object", nameOf(path, "the body"))
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxErr(path, err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, invalid(join(path, key), "duplicate_parameter", "%s appears twice", join(path, key))
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, syntaxErr(path, err)
		}
		out = append(out, member{key, v})
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, syntaxErr(path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid(path, "invalid_json", "trailing data after the JSON object")
	}
	return out, nil
}

func syntaxErr(path string, err error) *APIError {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return invalid(path, "invalid_json", "malformed JSON at byte %d: %v", se.Offset, se)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return invalid(path, "invalid_json", "malformed JSON: unexpected end")
	}
	return invalid(path, "invalid_json", "malformed JSON: %v", err)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func nameOf(path, def string) string {
	if path == "" {
		return def
	}
	return path
}

func isNull(v json.RawMessage) bool { return string(v) == "null" }

// isEmpty: null, false, [] or {} (with any whitespace).
func isEmpty(v json.RawMessage) bool {
	s := string(bytes.Join(bytes.Fields(v), nil))
	return s == "null" || s == "false" || s == "[]" || s == "{}"
}

// value decodes v into dst (a pointer to a string, bool, int or float),
// naming param on a type mismatch.
func value(v json.RawMessage, param, want string, dst any) *APIError {
	if err := json.Unmarshal(v, dst); err != nil {
		return invalid(param, "invalid_type", "%s must be %s", param, want)
	}
	return nil
}

func number(v json.RawMessage, param string, lo, hi float64) (float64, *APIError) {
	var f float64
	if e := value(v, param, "a number", &f); e != nil {
		return 0, e
	}
	if f < lo || f > hi {
		return 0, invalid(param, "invalid_value", "%s must be between %g and %g", param, lo, hi)
	}
	return f, nil
}

// DecodeChatRequest parses and validates a chat completion body. Anything
// it does not know, or knows and cannot honour, is refused; so is invalid
// UTF-8. Errors are 400, or 413 for a newest user message over
// MaxPromptBytes.
func DecodeChatRequest(body []byte, lim Limits) (*ChatRequest, *APIError) {
	lim = lim.withDefaults()
	if !utf8.Valid(body) {
		return nil, invalid("", "invalid_json", "the body is not valid UTF-8")
	}
	ms, apiErr := object(body, "")
	if apiErr != nil {
		return nil, apiErr
	}
	req := &ChatRequest{Options: map[string]any{}}
	var (
		haveModel, haveMessages bool
		maxTokens, maxCompl     int
		streamOptions           json.RawMessage
	)
	for _, m := range ms {
		v := m.val
		if why, ok := unsupported[m.key]; ok {
			if !isEmpty(v) {
				return nil, invalid(m.key, "unsupported_parameter", "%s: %s by Cocoon", m.key, why)
			}
			continue
		}
		if isNull(v) && m.key != "model" && m.key != "messages" {
			continue // null means "not set" for every optional parameter
		}
		var e *APIError
		switch m.key {
		case "model":
			haveModel = true
			if e = value(v, "model", "a string", &req.Model); e == nil && !modelRe.MatchString(req.Model) {
				e = invalid("model", "invalid_value", "model must be a model name like tiny:latest (GET /v1/models lists them)")
			}
		case "messages":
			haveMessages = true
			req.Messages, e = messages(v)
		case "max_tokens":
			e = tokens(v, "max_tokens", lim.MaxTokens, &maxTokens)
		case "max_completion_tokens":
			e = tokens(v, "max_completion_tokens", lim.MaxTokens, &maxCompl)
		case "stream":
			e = value(v, "stream", "true or false", &req.Stream)
		case "stream_options":
			streamOptions = v
		case "temperature":
			req.Options["temperature"], e = number(v, "temperature", 0, 2)
		case "top_p":
			req.Options["top_p"], e = number(v, "top_p", 0, 1)
		case "presence_penalty":
			req.Options["presence_penalty"], e = number(v, "presence_penalty", -2, 2)
		case "frequency_penalty":
			req.Options["frequency_penalty"], e = number(v, "frequency_penalty", -2, 2)
		case "seed":
			var seed int64
			if e = value(v, "seed", "an integer", &seed); e == nil {
				req.Options["seed"] = seed
			}
		case "stop":
			var stop []string
			if stop, e = stops(v); e == nil && len(stop) > 0 {
				req.Options["stop"] = stop
			}
		case "n":
			var n int
			if e = value(v, "n", "an integer", &n); e == nil && n != 1 {
				e = invalid("n", "unsupported_value", "n must be 1: Cocoon returns one choice")
			}
		case "response_format":
			e = responseFormat(v)
		case "user":
			var u string
			if e = value(v, "user", "a string", &u); e == nil && len(u) > 256 {
				e = invalid("user", "invalid_value", "user must be at most 256 bytes")
			}
		default:
			e = invalid(m.key, "unknown_parameter", "unknown parameter %q", m.key)
		}
		if e != nil {
			return nil, e
		}
	}
	switch {
	case !haveModel:
		return nil, invalid("model", "missing_required_parameter", "model is required")
	case !haveMessages:
		return nil, invalid("messages", "missing_required_parameter", "messages is required")
	case maxTokens > 0 && maxCompl > 0 && maxTokens != maxCompl:
		return nil, invalid("max_completion_tokens", "invalid_value", "max_tokens and max_completion_tokens differ; set one")
	}
	req.MaxTokens = firstPositive(maxCompl, maxTokens, lim.DefaultMaxTokens)
	if streamOptions != nil {
		if !req.Stream {
			return nil, invalid("stream_options", "invalid_value", "stream_options is only allowed when stream is true")
		}
		so, e := object(streamOptions, "stream_options")
		if e != nil {
			return nil, e
		}
		for _, m := range so {
			if m.key != "include_usage" {
				return nil, invalid("stream_options."+m.key, "unknown_parameter", "unknown parameter %q", "stream_options."+m.key)
			}
			if !isNull(m.val) {
				if e := value(m.val, "stream_options.include_usage", "true or false", &req.IncludeUsage); e != nil {
					return nil, e
				}
			}
		}
	}
	last := req.Messages[len(req.Messages)-1]
	if n := len(last.Content); n > lim.MaxPromptBytes {
		return nil, &APIError{Status: http.StatusRequestEntityTooLarge, Type: TypeInvalidRequest,
			Param: fmt.Sprintf("messages[%d].content", len(req.Messages)-1), Code: "prompt_too_long",
			Message: fmt.Sprintf("the newest user message is %d bytes; the limit is %d", n, lim.MaxPromptBytes)}
	}
	return req, nil
}

// firstPositive is the first positive value (0 if none).
func firstPositive(vs ...int) int {
	for _, v := range vs {
		if v > 0 {
			return v
		}
	}
	return 0
}

func tokens(v json.RawMessage, param string, hi int, dst *int) *APIError {
	if e := value(v, param, "an integer", dst); e != nil {
		return e
	}
	if *dst < 1 || *dst > hi {
		return invalid(param, "invalid_value", "%s must be between 1 and %d", param, hi)
	}
	return nil
}

func stops(v json.RawMessage) ([]string, *APIError) {
	var one string
	if json.Unmarshal(v, &one) == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var many []string
	if json.Unmarshal(v, &many) != nil {
		return nil, invalid("stop", "invalid_type", "stop must be a string or an array of strings")
	}
	if len(many) > 4 {
		return nil, invalid("stop", "invalid_value", "at most 4 stop sequences")
	}
	for _, s := range many {
		if s == "" || len(s) > 256 {
			return nil, invalid("stop", "invalid_value", "stop sequences must be 1..256 bytes")
		}
	}
	return many, nil
}

func responseFormat(v json.RawMessage) *APIError {
	ms, e := object(v, "response_format")
	if e != nil {
		return e
	}
	for _, m := range ms {
		var t string
		if m.key != "type" || json.Unmarshal(m.val, &t) != nil || t != "text" {
			return invalid("response_format", "unsupported_parameter", `only response_format {"type":"text"} is supported`)
		}
	}
	return nil
}

// messages validates the conversation: roles system, user and assistant
// only, text content, and a user message last (the turn to answer).
func messages(v json.RawMessage) ([]wire.Message, *APIError) {
	var raws []json.RawMessage
	if json.Unmarshal(v, &raws) != nil {
		return nil, invalid("messages", "invalid_type", "messages must be an array of messages")
	}
	if len(raws) == 0 {
		return nil, invalid("messages", "invalid_value", "messages must not be empty")
	}
	out := make([]wire.Message, 0, len(raws))
	for i, raw := range raws {
		path := fmt.Sprintf("messages[%d]", i)
		ms, e := object(raw, path)
		if e != nil {
			return nil, e
		}
		var msg wire.Message
		var haveRole, haveContent bool
		for _, m := range ms {
			p := path + "." + m.key
			switch m.key {
			case "role":
				haveRole = true
				if e := value(m.val, p, "a string", &msg.Role); e != nil {
					return nil, e
				}
				if msg.Role != "system" && msg.Role != "user" && msg.Role != "assistant" {
					return nil, invalid(p, "invalid_value", "role %q is not supported: use system, user or assistant", msg.Role)
				}
			case "content":
				if isNull(m.val) {
					continue
				}
				haveContent = true
				c, e := content(m.val, p)
				if e != nil {
					return nil, e
				}
				msg.Content = c
			case "name", "tool_calls", "tool_call_id", "function_call", "refusal", "audio":
				if !isEmpty(m.val) {
					return nil, invalid(p, "unsupported_parameter", "%s is not supported by Cocoon", p)
				}
			default:
				return nil, invalid(p, "unknown_parameter", "unknown parameter %q", p)
			}
		}
		if !haveRole {
			return nil, invalid(path+".role", "missing_required_parameter", "%s.role is required", path)
		}
		if !haveContent {
			return nil, invalid(path+".content", "missing_required_parameter", "%s.content is required", path)
		}
		out = append(out, msg)
	}
	if last := out[len(out)-1]; last.Role != "user" || strings.TrimSpace(last.Content) == "" {
		return nil, invalid(fmt.Sprintf("messages[%d]", len(out)-1), "invalid_value",
			"the last message must be a non-empty user message (the turn to answer)")
	}
	return out, nil
}

// content is a string, or an array of text parts joined by newlines.
func content(v json.RawMessage, path string) (string, *APIError) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s, nil
	}
	var parts []json.RawMessage
	if json.Unmarshal(v, &parts) != nil {
		return "", invalid(path, "invalid_type", "%s must be a string or an array of text parts", path)
	}
	texts := make([]string, 0, len(parts))
	for i, raw := range parts {
		pp := fmt.Sprintf("%s[%d]", path, i)
		ms, e := object(raw, pp)
		if e != nil {
			return "", e
		}
		var typ, text string
		var haveText bool
		for _, m := range ms {
			switch m.key {
			case "type":
				if e := value(m.val, pp+".type", "a string", &typ); e != nil {
					return "", e
				}
			case "text":
				haveText = true
				if e := value(m.val, pp+".text", "a string", &text); e != nil {
					return "", e
				}
			default:
				if _, known := map[string]bool{"image_url": true, "input_audio": true, "file": true}[m.key]; known {
					return "", invalid(pp, "unsupported_parameter", "only text content is supported")
				}
				return "", invalid(pp+"."+m.key, "unknown_parameter", "unknown parameter %q", pp+"."+m.key)
			}
		}
		if typ != "text" || !haveText {
			return "", invalid(pp, "unsupported_parameter", `only {"type":"text","text":...} parts are supported`)
		}
		texts = append(texts, text)
	}
	return strings.Join(texts, "\n"), nil
}
