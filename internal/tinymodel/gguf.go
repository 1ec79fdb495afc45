package tinymodel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
)

// Shape of the model. The key names and tensor names below are the ones
// llama.cpp's llama loader (vendored in Ollama v0.17.4) requires; it also
// rejects files holding tensors it does not use.
const (
	ContextLength = 2048
	embedding     = 64
	heads         = 4
	ffn           = 128
	layers        = 2
	alignment     = 32
)

// GGUF v3 value types.
const (
	ggufUint32  = 4
	ggufInt32   = 5
	ggufFloat32 = 6
	ggufBool    = 7
	ggufString  = 8
	ggufArray   = 9
)

// SentencePiece token types as llama.cpp reads them.
const (
	tokenNormal  = 1
	tokenUnknown = 2
	tokenControl = 3
	tokenByte    = 6
)

// Vocab returns the token strings of the model, all unique (a duplicate
// aborts `ollama serve`). Ids 0-2 are <unk>, <s>, </s>; ids 3-258 are the
// byte tokens <0x00>..<0xFF>; the rest are normal pieces.
func Vocab() []string {
	v := []string{"<unk>", "<s>", "</s>"}
	for b := range 256 {
		v = append(v, fmt.Sprintf("<0x%02X>", b))
	}
	seen := make(map[string]bool, 600)
	for _, t := range v {
		seen[t] = true
	}
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			v = append(v, t)
		}
	}
	add("▁")
	for c := byte('!'); c <= '~'; c++ {
		add(string(c))
	}
	for c := 'a'; c <= 'z'; c++ {
		add("▁" + string(c))
	}
	for _, w := range strings.Fields(pieces) {
		add(w)
		add("▁" + w)
	}
	return v
}

// firstNormal is the id of the first normal piece in Vocab.
const firstNormal = 3 + 256

const pieces = `th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng
se ha as ou io le ve co me de hi ri ro ic ne ea ra ce the and that was for
are with his they have this from had but what some can out other were all
there when use your how said each she which their time will way about many
then them write would like these her long make thing see him two has look
more day could come did number sound most people over know water than call
first who may down side been now find cocoon silk moth thread`

// Write writes the model as GGUF v3 to w. The bytes depend only on seed.
func Write(w io.Writer, seed int64) error {
	vocab := Vocab()
	var e encoder
	e.header(seed, vocab)

	rng := rand.New(rand.NewPCG(uint64(seed), 0x636f636f6f6e))
	uniform := func(n int, scale float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32((rng.Float64()*2 - 1) * scale)
		}
		return out
	}
	ones := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = 1
		}
		return out
	}
	lin := func(in, out int) []float32 { return uniform(in*out, math.Sqrt(3/float64(in))) }

	n := len(vocab)
	e.tensor("token_embd.weight", uniform(embedding*n, 1), embedding, n)
	for l := range layers {
		p := fmt.Sprintf("blk.%d.", l)
		e.tensor(p+"attn_norm.weight", ones(embedding), embedding)
		e.tensor(p+"attn_q.weight", lin(embedding, embedding), embedding, embedding)
		e.tensor(p+"attn_k.weight", lin(embedding, embedding), embedding, embedding)
		e.tensor(p+"attn_v.weight", lin(embedding, embedding), embedding, embedding)
		e.tensor(p+"attn_output.weight", lin(embedding, embedding), embedding, embedding)
		e.tensor(p+"ffn_norm.weight", ones(embedding), embedding)
		e.tensor(p+"ffn_gate.weight", lin(embedding, ffn), embedding, ffn)
		e.tensor(p+"ffn_up.weight", lin(embedding, ffn), embedding, ffn)
		e.tensor(p+"ffn_down.weight", lin(ffn, embedding), ffn, embedding)
	}
	e.tensor("output_norm.weight", ones(embedding), embedding)
	output := uniform(embedding*n, 2*math.Sqrt(3/float64(embedding)))
	// Special and byte tokens get all-zero logits, so greedy decoding of
	// random weights (almost surely some positive logit) never ends early
	// with </s> or emits raw bytes.
	clear(output[:embedding*firstNormal])
	e.tensor("output.weight", output, embedding, n)

	_, err := w.Write(e.bytes())
	return err
}

// encoder lays out a GGUF file in memory: metadata first, tensor data
// collected separately and appended after the tensor infos.
type encoder struct {
	meta  bytes.Buffer
	data  bytes.Buffer
	nkv   uint64
	infos bytes.Buffer
	ntens uint64
}

func (e *encoder) header(seed int64, vocab []string) {
	scores := make([]float32, len(vocab))
	types := make([]int32, len(vocab))
	for i := range vocab {
		switch {
		case i == 0:
			types[i] = tokenUnknown
		case i < 3:
			types[i] = tokenControl
		case i < firstNormal:
			types[i] = tokenByte
		default:
			types[i] = tokenNormal
			scores[i] = -float32(i - firstNormal)
		}
	}
	e.kvString("general.architecture", "llama")
	e.kvString("general.name", modelTitle(seed))
	e.kvUint32("general.alignment", alignment)
	e.kvUint32("general.file_type", 0) // all F32
	e.kvUint32("llama.context_length", ContextLength)
	e.kvUint32("llama.embedding_length", embedding)
	e.kvUint32("llama.block_count", layers)
	e.kvUint32("llama.feed_forward_length", ffn)
	e.kvUint32("llama.attention.head_count", heads)
	e.kvUint32("llama.attention.head_count_kv", heads)
	e.kvUint32("llama.rope.dimension_count", embedding/heads)
	e.kvFloat32("llama.rope.freq_base", 10000)
	e.kvFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5)
	e.kvUint32("llama.vocab_size", uint32(len(vocab)))
	e.kvString("tokenizer.ggml.model", "llama")
	e.kvStrings("tokenizer.ggml.tokens", vocab)
	kvArray(e, "tokenizer.ggml.scores", ggufFloat32, scores)
	kvArray(e, "tokenizer.ggml.token_type", ggufInt32, types)
	e.kvUint32("tokenizer.ggml.unknown_token_id", 0)
	e.kvUint32("tokenizer.ggml.bos_token_id", 1)
	e.kvUint32("tokenizer.ggml.eos_token_id", 2)
	e.kvBool("tokenizer.ggml.add_bos_token", true)
	e.kvBool("tokenizer.ggml.add_eos_token", false)
}

// modelTitle is general.name; Ensure uses it to tell seeds apart.
func modelTitle(seed int64) string { return fmt.Sprintf("cocoon-tiny-seed-%d", seed) }

func put(b *bytes.Buffer, v any) {
	_ = binary.Write(b, binary.LittleEndian, v) // writes to a Buffer cannot fail
}

func putString(b *bytes.Buffer, s string) {
	put(b, uint64(len(s)))
	b.WriteString(s)
}

func (e *encoder) key(k string, typ uint32) {
	e.nkv++
	putString(&e.meta, k)
	put(&e.meta, typ)
}

func (e *encoder) kvString(k, v string)        { e.key(k, ggufString); putString(&e.meta, v) }
func (e *encoder) kvUint32(k string, v uint32) { e.key(k, ggufUint32); put(&e.meta, v) }
func (e *encoder) kvFloat32(k string, v float32) {
	e.key(k, ggufFloat32)
	put(&e.meta, v)
}
func (e *encoder) kvBool(k string, v bool) { e.key(k, ggufBool); put(&e.meta, v) }

func kvArray[T float32 | int32](e *encoder, k string, elem uint32, v []T) {
	e.key(k, ggufArray)
	put(&e.meta, elem)
	put(&e.meta, uint64(len(v)))
	put(&e.meta, v)
}

func (e *encoder) kvStrings(k string, v []string) {
	e.key(k, ggufArray)
	put(&e.meta, uint32(ggufString))
	put(&e.meta, uint64(len(v)))
	for _, s := range v {
		putString(&e.meta, s)
	}
}

// tensor records an F32 tensor; dims are innermost first (GGUF ne order).
func (e *encoder) tensor(name string, data []float32, dims ...int) {
	pad(&e.data)
	e.ntens++
	putString(&e.infos, name)
	put(&e.infos, uint32(len(dims)))
	for _, d := range dims {
		put(&e.infos, uint64(d))
	}
	put(&e.infos, uint32(0)) // GGML_TYPE_F32
	put(&e.infos, uint64(e.data.Len()))
	put(&e.data, data)
}

func pad(b *bytes.Buffer) {
	if r := b.Len() % alignment; r != 0 {
		b.Write(make([]byte, alignment-r))
	}
}

func (e *encoder) bytes() []byte {
	var out bytes.Buffer
	out.WriteString("GGUF")
	put(&out, uint32(3))
	put(&out, e.ntens)
	put(&out, e.nkv)
	out.Write(e.meta.Bytes())
	out.Write(e.infos.Bytes())
	pad(&out)
	out.Write(e.data.Bytes())
	return out.Bytes()
}
