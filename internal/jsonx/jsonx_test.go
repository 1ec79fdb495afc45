package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/cocoon-network/cocoon/wire"
)

// The hot-path types encode to the same bytes as encoding/json and decode
// back to the same values (including embedded structs, omitempty, base64).
func TestSameAsEncodingJSON(t *testing.T) {
	values := []any{
		&wire.SubmitBatchRequest{Jobs: []wire.SubmitRequest{
			{ID: wire.NewJobID("m:1"), Model: "m:1", User: "tg:1", MaxTokens: 5, Payload: []byte{0, 1, 2, 0xff}, Eligible: []string{"w1", "w<2>"}},
			{Model: "m:1", User: "u & v", Payload: nil}}},
		&wire.SubmitBatchResponse{Results: []wire.SubmitResult{
			{SubmitResponse: wire.SubmitResponse{JobID: "j", Position: 3}},
			{Error: &wire.Error{Code: wire.CodeBusy, Message: "queue is full", RetryAfterMs: 250}, Status: 429}}},
		&wire.LeaseRequest{Max: 10, WaitMs: 20000, Reports: []wire.Report{
			{Kind: wire.ReportComplete, Job: "j1", Lease: "l.0", PromptTokens: 3, CompletionTokens: 7, Receipt: []byte("sig")},
			{Kind: wire.ReportChunk, Job: "j2", Lease: "l.1", Seq: 4, Data: []byte("\x00chunk"), Tokens: 2}}},
		&wire.LeaseResponse{Jobs: []wire.LeasedJob{{ID: "j1", Model: "m:1", User: "u", MaxTokens: 1, Payload: []byte("p"),
			Lease: "l.0", LeaseUntil: 1_800_000_000_000, Attempt: 2, Segment: 1, NextSeq: 3, Tokens: 9,
			Prefix: []wire.Chunk{{Seq: 0, Data: []byte("a"), Tokens: 1}}}},
			Results: []wire.ReportResult{{}, {Code: "conflict", Message: "stale lease"}}},
		&wire.Event{ID: "1700000000000-0", Type: "chunk", Seq: 2, Data: []byte("sealed\x00"), Tokens: 30},
		&wire.Event{ID: "1700000000000-1", Type: "done", Worker: "w1", Segment: 1, PromptTokens: 5, CompletionTokens: 256,
			Receipt: []byte("receipt"), Error: "<none> & \u2028"},
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Marshal(v)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Marshal(%T) = %s, %v; encoding/json: %s", v, got, err, want)
		}
		var buf bytes.Buffer
		if err := Write(&buf, v); err != nil || buf.String() != string(want)+"\n" {
			t.Errorf("Write(%T) = %q, %v", v, buf.String(), err)
		}
		back := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := DecodeStrict(want, back); err != nil {
			t.Fatalf("DecodeStrict(%T): %v", v, err)
		}
		std := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := json.Unmarshal(want, std); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, std) {
			t.Errorf("DecodeStrict(%T) = %+v; encoding/json: %+v", v, back, std)
		}
	}
}

// Bad bodies fail as encoding/json with DisallowUnknownFields fails, which
// is what the broker's error answers are built from.
func TestDecodeStrictErrors(t *testing.T) {
	var r wire.SubmitRequest
	var typeErr *UnmarshalTypeError
	if err := DecodeStrict([]byte(`{"model":"m","max_tokens":"many"}`), &r); !errors.As(err, &typeErr) || typeErr.Field != "max_tokens" {
		t.Errorf("wrong type: %v (%#v)", err, typeErr)
	}
	var synErr *SyntaxError
	if err := DecodeStrict([]byte(`{"model":`), &r); !errors.As(err, &synErr) {
		t.Errorf("cut short: %v, want a syntax error", err)
	}
	if err := DecodeStrict([]byte(`{"modle":"x"}`), &r); err == nil || err.Error() != `json: unknown field "modle"` {
		t.Errorf("unknown field: %v", err)
	}
	if err := DecodeStrict([]byte(`{"model":"x"} {}`), &r); !errors.Is(err, ErrTrailing) {
		t.Errorf("trailing data: %v", err)
	}
	if err := DecodeStrict([]byte(`{"model":"x"}`+" \n"), &r); err != nil || r.Model != "x" {
		t.Errorf("trailing space: %v, model %q", err, r.Model)
	}
	if err := DecodeStrict([]byte(" \n"), &r); !errors.Is(err, io.EOF) {
		t.Errorf("empty: %v, want io.EOF", err)
	}
}

// ReadAll hands over the whole body, and a decoded value keeps no
// reference to the pooled buffer.
func TestReadAllCopies(t *testing.T) {
	var r wire.SubmitRequest
	err := ReadAll(bytes.NewReader([]byte(`{"model":"abc","payload":"AQI="}`)), func(b []byte) error {
		err := DecodeStrict(b, &r)
		for i := range b {
			b[i] = 'x'
		}
		return err
	})
	if err != nil || r.Model != "abc" || !bytes.Equal(r.Payload, []byte{1, 2}) {
		t.Errorf("got %+v, %v", r, err)
	}
}

// BenchmarkDecodeLeaseResponse: a worker's lease answer of 10 jobs, as the
// c10 bench's worker gets it, with encoding/json and with this package.
func BenchmarkDecodeLeaseResponse(b *testing.B) {
	var lr wire.LeaseResponse
	for i := 0; i < 10; i++ {
		lr.Jobs = append(lr.Jobs, wire.LeasedJob{ID: wire.NewJobID("noop:latest"), Model: "noop:latest", User: "bench:12",
			MaxTokens: 1, Payload: make([]byte, 16), Lease: "0123456789abcdef.3", LeaseUntil: 1_800_000_000_000, Attempt: 1})
		lr.Results = append(lr.Results, wire.ReportResult{})
	}
	raw, _ := json.Marshal(&lr)
	for _, c := range []struct {
		name string
		dec  func([]byte, any) error
	}{{"encoding-json", json.Unmarshal}, {"jsonx", Unmarshal}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var out wire.LeaseResponse
				if err := c.dec(raw, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzDecodeStrict: on any body, DecodeStrict accepts what encoding/json
// (with DisallowUnknownFields, nothing after the value) accepts, and
// decodes it to the same value.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{
		`{"jobs":[{"id":"6-aaaaaaaaaaaaaaaaaaaaaaaaaa","model":"m:1","user":"tg:1","max_tokens":5,"payload":"AAEC/w==","eligible":["w1"]}]}`,
		`{"max":10,"wait_ms":20000,"reports":[{"kind":"complete","job":"j","lease":"l.0","receipt":"c2ln"}]}`,
		`{"jobs":[{"MODEL":"m","payload":null}]}`, `{"jobs":[{"model":"\ud800x"}]}`, `{"max":1e3}`, `{"max":-0}`,
		`{"jobs":[]} x`, `{"jobs":[{"payload":"AA"}]}`, `{"jobs":[{"model":"a","model":"b"}]}`, "{\"jobs\":[{\"user\":\"\xff\"}]}",
		`{"jobs":[{"model":"m","follow":true}]}`, `{"jobs":[{"model":"m","follow":1}]}`, `{"jobs":[{"follow":null}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, newV := range []func() any{
			func() any { return new(wire.SubmitBatchRequest) },
			func() any { return new(wire.LeaseRequest) },
		} {
			std, got := newV(), newV()
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			stdErr := dec.Decode(std)
			if stdErr == nil {
				if _, err := dec.Token(); err != io.EOF {
					stdErr = ErrTrailing
				}
			}
			err := DecodeStrict(b, got)
			if (err == nil) != (stdErr == nil) {
				t.Fatalf("%T from %q: jsonx %v, encoding/json %v", got, b, err, stdErr)
			}
			if err == nil && !reflect.DeepEqual(got, std) {
				t.Fatalf("%T from %q: jsonx %+v, encoding/json %+v", got, b, got, std)
			}
		}
	})
}
