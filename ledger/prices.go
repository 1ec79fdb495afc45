package ledger

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// PricesSetting is the environment setting ParsePrices reads.
const PricesSetting = "COCOON_PRICES"

// Prices maps a model name to its price.
type Prices map[string]Price

// ParsePrices parses the COCOON_PRICES setting: comma-separated
// model=prompt/completion entries, prices in nanoTON per 1K tokens, e.g.
// "tiny:latest=100/200,llama3=1000/3000". Spaces around entries and numbers
// are ignored; an empty setting is an empty table. Errors name the setting
// and the entry.
func ParsePrices(s string) (Prices, error) {
	out := Prices{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for i, raw := range strings.Split(s, ",") {
		entry := strings.TrimSpace(raw)
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: entry %d (%q): %s", ErrInvalidPrices, i+1, entry, fmt.Sprintf(format, a...))
		}
		if entry == "" {
			return nil, bad("empty entry (want model=prompt/completion)")
		}
		eq := strings.IndexByte(entry, '=')
		if eq < 0 {
			return nil, bad("no '=' (want model=prompt/completion)")
		}
		model := strings.TrimSpace(entry[:eq])
		if err := validID("model", model); err != nil {
			return nil, bad("%v", err)
		}
		if _, dup := out[model]; dup {
			return nil, bad("model %q priced twice", model)
		}
		ps, cs, ok := strings.Cut(entry[eq+1:], "/")
		if !ok || strings.Contains(cs, "/") {
			return nil, bad("want prompt/completion nanoTON per 1K tokens after '='")
		}
		prompt, err := parsePrice(ps)
		if err != nil {
			return nil, bad("prompt price: %v", err)
		}
		completion, err := parsePrice(cs)
		if err != nil {
			return nil, bad("completion price: %v", err)
		}
		p := Price{PromptPer1K: prompt, CompletionPer1K: completion}
		if err := p.Validate(); err != nil {
			return nil, bad("%v", err)
		}
		out[model] = p
	}
	return out, nil
}

func parsePrice(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty")
	}
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return 0, fmt.Errorf("%q is not a non-negative integer of nanoTON", t)
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v > MaxAmount {
		return 0, fmt.Errorf("%q is above %d", t, MaxAmount)
	}
	return v, nil
}

// Lookup returns the price of model; "name" and "name:latest" are the same
// model, as in Ollama.
func (ps Prices) Lookup(model string) (Price, error) {
	if p, ok := ps[model]; ok {
		return p, nil
	}
	if base, ok := strings.CutSuffix(model, ":latest"); ok {
		if p, ok := ps[base]; ok {
			return p, nil
		}
	} else if !strings.Contains(model, ":") {
		if p, ok := ps[model+":latest"]; ok {
			return p, nil
		}
	}
	return Price{}, fmt.Errorf("%w %q (set it in %s)", ErrUnknownModel, model, PricesSetting)
}

// String renders the table in the setting's syntax, models sorted.
func (ps Prices) String() string {
	models := make([]string, 0, len(ps))
	for m := range ps {
		models = append(models, m)
	}
	sort.Strings(models)
	var b strings.Builder
	for i, m := range models {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%d/%d", m, ps[m].PromptPer1K, ps[m].CompletionPer1K)
	}
	return b.String()
}
