package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// receiptSummary is what /verify shows of an answer: the receipts of its
// segments as this bot's submitter checked them (trust.CheckReceipt against
// the evidence it verified before sealing), not what the broker says.
// Stored sealed per conversation (receiptsKey).
type receiptSummary struct {
	JobID    string           `json:"job"`
	Model    string           `json:"model"`
	State    string           `json:"state"`
	Attested bool             `json:"attested"` // submit.Result.Attested: every segment attested and verified
	Segments []segmentSummary `json:"segments"`
}

// segmentSummary is one segment's checked receipt.
type segmentSummary struct {
	Verified         bool      `json:"verified"`
	Problem          string    `json:"problem,omitempty"`
	HasReceipt       bool      `json:"has_receipt"`
	Attested         bool      `json:"attested"` // the receipt claims TDX (and, if Verified, the evidence agrees)
	Evidence         string    `json:"evidence,omitempty"`
	MRTD             string    `json:"mrtd,omitempty"`
	Model            string    `json:"model,omitempty"`
	Digest           string    `json:"digest,omitempty"`
	Worker           string    `json:"worker,omitempty"`
	PromptTokens     int       `json:"prompt_tokens"`
	CompletionTokens int       `json:"completion_tokens"`
	Time             time.Time `json:"time,omitzero"`
}

// summarize takes what /verify needs from a finished job.
func summarize(res *submit.Result) receiptSummary {
	s := receiptSummary{JobID: res.JobID, Model: res.Model, State: res.State, Attested: res.Attested}
	for _, cr := range res.Receipts {
		r := cr.Receipt
		seg := segmentSummary{Verified: cr.Verified, Problem: cr.Problem, HasReceipt: r.WorkerID != "",
			Attested: r.Attested, MRTD: r.Measurements.MRTD, Model: r.Model, Digest: r.ModelDigest,
			Worker: r.WorkerID, PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, Time: r.Time}
		if c, ok := res.Evidence[r.WorkerID]; ok {
			seg.Evidence = c.Evidence.Type
		}
		s.Segments = append(s.Segments, seg)
	}
	return s
}

// saveReceipts stores the receipts of the answer just shown in c.
func (b *Bot) saveReceipts(ctx context.Context, c conv, res *submit.Result) {
	data, err := json.Marshal(summarize(res))
	if err == nil {
		err = b.st.setReceipts(ctx, c, data)
	}
	if err != nil {
		b.log.Warn("store receipts", "chat", c.Chat, "job", res.JobID, "err", err)
	}
}

// cmdVerify answers /verify with the last answer's receipts in this
// conversation.
func (b *Bot) cmdVerify(ctx context.Context, in incoming, lang string) {
	data, err := b.st.receipts(ctx, in.Conv)
	if err != nil {
		b.say(ctx, in, b.internal(lang, "read receipts", err))
		return
	}
	if len(data) == 0 {
		b.say(ctx, in, T(lang, "verify_none"))
		return
	}
	var s receiptSummary
	if err := json.Unmarshal(data, &s); err != nil {
		b.say(ctx, in, b.internal(lang, "read receipts", err))
		return
	}
	b.say(ctx, in, truncate16(renderReceipts(lang, s), MaxMessage-10))
}

// renderReceipts writes a summary for the chat.
func renderReceipts(lang string, s receiptSummary) string {
	var sb strings.Builder
	overall := T(lang, "not_attested")
	if s.Attested {
		overall = T(lang, "attested")
	}
	sb.WriteString(T(lang, "verify_title", s.Model, s.JobID, overall))
	if len(s.Segments) == 0 {
		sb.WriteString("\n\n" + T(lang, "verify_no_receipts"))
	}
	for i, g := range s.Segments {
		sb.WriteString("\n\n")
		check := "✅ " + T(lang, "verify_ok")
		if !g.Verified {
			check = "❌ " + T(lang, "verify_bad", g.Problem)
		}
		fmt.Fprintf(&sb, "%s %d: %s", T(lang, "verify_segment"), i+1, check)
		if !g.HasReceipt {
			continue
		}
		att := T(lang, "verify_attested_tdx")
		switch {
		case !g.Attested && (g.Evidence == "" || g.Evidence == wire.EvidenceInsecureDev):
			att = T(lang, "verify_not_attested_dev")
		case !g.Attested:
			att = T(lang, "not_attested")
		}
		mrtd := g.MRTD
		if mrtd == "" {
			mrtd = "—"
		}
		fmt.Fprintf(&sb, "\n%s\nMRTD %s\n%s %s · %s %s\n%s %s\n%s",
			att, shorten(mrtd, 16), T(lang, "verify_model"), g.Model, T(lang, "verify_digest"), shorten(g.Digest, 19),
			T(lang, "verify_worker"), g.Worker, T(lang, "footer.tokens", g.PromptTokens, g.CompletionTokens))
		if !g.Time.IsZero() {
			sb.WriteString(" · " + g.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
		}
	}
	sb.WriteString("\n\n" + T(lang, "verify_how"))
	return sb.String()
}

// shorten keeps the start and end of a long hex value.
func shorten(s string, n int) string {
	if len(s) <= n || n < 8 {
		return s
	}
	h := (n - 1) / 2
	return s[:h] + "…" + s[len(s)-h:]
}
