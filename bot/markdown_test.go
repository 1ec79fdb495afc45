package bot

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cocoon-network/cocoon/submit"
)

func TestRenderHTML(t *testing.T) {
	cases := []struct {
		name, md, want string
	}{
		{"plain", "hello", "hello"},
		{"escape", "a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"},
		{"bold", "a **b** c", "a <b>b</b> c"},
		{"bold underscores", "__b__", "<b>b</b>"},
		{"italic", "an *it* and _it_", "an <i>it</i> and <i>it</i>"},
		{"snake case", "snake_case_name", "snake_case_name"},
		{"strike", "~~no~~", "<s>no</s>"},
		{"nested", "**bold *it***", "<b>bold <i>it</i></b>"},
		{"inline code", "use `a<b>` here", "use <code>a&lt;b&gt;</code> here"},
		{"code keeps stars", "`**x**`", "<code>**x**</code>"},
		{"double backtick", "``a`b``", "<code>a`b</code>"},
		{"unclosed bold", "**open", "**open"},
		{"lone star", "2 * 3 = 6", "2 * 3 = 6"},
		{"space after star", "* not a list? no: list", "• not a list? no: list"},
		{"link", "[site](https://example.com/a?b=1&c=2)", `<a href="https://example.com/a?b=1&amp;c=2">site</a>`},
		{"js link refused", "[x](javascript:alert(1))", "[x](javascript:alert(1))"},
		{"quote in link", `[x](https://e.com/"onmouseover=)`, `[x](https://e.com/"onmouseover=)`},
		{"heading", "## Title *x*", "<b>Title <i>x</i></b>"},
		{"list", "- one\n- two\n1. three", "• one\n• two\n1. three"},
		{"quote", "> a\n> b\nc", "<blockquote>a\nb</blockquote>\nc"},
		{"fence", "```go\nfunc <T>() {}\n```\nafter", "<pre><code class=\"language-go\">func &lt;T&gt;() {}</code></pre>\nafter"},
		{"fence no lang", "```\nx\n```", "<pre>x</pre>"},
		{"unclosed fence", "```py\nprint(1)", "<pre><code class=\"language-py\">print(1)</code></pre>"},
		{"bad lang", "```a\"b\nx\n```", "<pre>x</pre>"},
		{"tags escaped", "<b>not bold</b>", "&lt;b&gt;not bold&lt;/b&gt;"},
		{"across lines", "**a\nb**", "**a\nb**"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := RenderHTML(c.md)
			if got != c.want {
				t.Errorf("RenderHTML(%q)\n got %q\nwant %q", c.md, got, c.want)
			}
			if _, err := parseTelegramHTML(got); err != nil {
				t.Errorf("Telegram would refuse %q: %v", got, err)
			}
		})
	}
}

// FuzzRenderHTML: whatever the model writes, the HTML is well-formed for
// Telegram and shows no more than the Markdown's length.
func FuzzRenderHTML(f *testing.F) {
	for _, s := range []string{"**a** _b_ `c` [d](https://e.f)", "```go\nx\n```", "> q\n- l\n# h",
		"***x***", "[a](tg://user?id=1)", "~~s~~ <&>", "\xff\xfe", "*_`[", "**" + strings.Repeat("*a", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		md = strings.ToValidUTF8(md, "\uFFFD")
		h := RenderHTML(md)
		vis, err := parseTelegramHTML(h)
		if err != nil {
			t.Fatalf("RenderHTML(%q) = %q: %v", md, h, err)
		}
		if vis != htmlVisible(h) {
			t.Fatalf("htmlVisible disagrees with Telegram: %q vs %q", htmlVisible(h), vis)
		}
		if len16(vis) > len16(md) {
			t.Fatalf("visible text longer than the Markdown: %d > %d for %q", len16(vis), len16(md), md)
		}
	})
}

func TestSplitAnswer(t *testing.T) {
	para := strings.Repeat("word ", 30) // 150 bytes
	code := "```go\n" + strings.Repeat("fmt.Println(\"line\")\n", 40) + "```"
	cases := []struct {
		name  string
		md    string
		limit int
		check func(t *testing.T, parts []string)
	}{
		{"fits", "short", 100, func(t *testing.T, p []string) {
			if len(p) != 1 || p[0] != "short" {
				t.Errorf("got %q", p)
			}
		}},
		{"paragraphs", para + "\n\n" + para + "\n\n" + para, 400, func(t *testing.T, p []string) {
			if len(p) != 2 || !strings.HasSuffix(p[0], "\n\n") && !strings.HasSuffix(p[0], "\n") {
				t.Errorf("want a cut at the blank line, got %q", p)
			}
		}},
		{"code block", para + "\n\n" + code, 500, func(t *testing.T, p []string) {
			for i, s := range p[1:] {
				if !strings.HasPrefix(s, "```go\n") && i > 0 {
					t.Errorf("part %d does not reopen the code block: %q", i+1, s[:20])
				}
			}
			for _, s := range p {
				if strings.Count(s, "```")%2 != 0 {
					t.Errorf("unbalanced fences in %q", s)
				}
			}
		}},
		{"one long line", strings.Repeat("x", 1000), 300, func(t *testing.T, p []string) {
			if strings.Join(p, "") != strings.Repeat("x", 1000) { // a cut inside a line drops nothing
				t.Errorf("text lost")
			}
		}},
		{"emoji", strings.Repeat("😀", 500), 301, func(t *testing.T, p []string) {
			for _, s := range p {
				if !utf8.ValidString(s) {
					t.Errorf("cut inside a character")
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parts := splitAnswer(c.md, c.limit)
			for i, p := range parts {
				if len16(p) > c.limit {
					t.Errorf("part %d is %d units, limit %d", i, len16(p), c.limit)
				}
			}
			if !containsInOrder(strings.Join(parts, "\n"), c.md) {
				t.Errorf("text lost")
			}
			c.check(t, parts)
		})
	}
}

func nonSpace(s string) string {
	return strings.Join(strings.Fields(s), "")
}

// FuzzSplitAnswer: parts fit, and no text is lost.
func FuzzSplitAnswer(f *testing.F) {
	f.Add("a\n\nb\n```x\nc\nd\n```\ne", 64)
	f.Add(strings.Repeat("ab ", 100), 70)
	f.Add("```\n"+strings.Repeat("z", 300), 64)
	f.Fuzz(func(t *testing.T, md string, limit int) {
		md = strings.ToValidUTF8(md, "\uFFFD")
		limit = 64 + abs(limit)%4000
		parts := splitAnswer(md, limit)
		var all strings.Builder
		for i, p := range parts {
			if len16(p) > limit {
				t.Fatalf("part %d is %d units, limit %d", i, len16(p), limit)
			}
			all.WriteString(p)
			all.WriteByte('\n') // the newline at a cut between lines is the message boundary
		}
		if !containsInOrder(all.String(), md) {
			t.Fatalf("text lost splitting %q at %d: %q", md, limit, parts)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == -n { // math.MinInt
			return 0
		}
		return -n
	}
	return n
}

// containsInOrder reports whether every byte of sub appears in s in order
// (the parts may add fences and keep everything else).
func containsInOrder(s, sub string) bool {
	i := 0
	for j := 0; j < len(sub); j++ {
		for i < len(s) && s[i] != sub[j] {
			i++
		}
		if i == len(s) {
			return false
		}
		i++
	}
	return true
}

func TestLongAnswerArrivesSplitAndComplete(t *testing.T) {
	h := newHarness(t, realLimits)
	var b strings.Builder
	for i := 0; b.Len() < 10000; i++ {
		switch i % 5 {
		case 3:
			b.WriteString("```python\n")
			for k := range 40 {
				b.WriteString("print('line " + string(rune('a'+k%26)) + "', 1 < 2)\n")
			}
			b.WriteString("```\n\n")
		default:
			b.WriteString("Paragraph **" + strings.Repeat("text ", 20) + "** with `code` & more.\n- item one\n- item two\n\n")
		}
	}
	full := b.String()
	chunks := splitEvery(full, 97)
	h.asker.answer = func(*submit.Request) script { return script{Chunks: chunks, Every: 10 * time.Millisecond} }
	h.api.say(alice.ID, alice, "long please")
	ms := h.api.waitFinal(alice.ID, 60*time.Second)
	if len(ms) < 3 {
		t.Fatalf("a %d-character answer came in %d messages", len(full), len(ms))
	}
	var got strings.Builder
	for i, m := range ms {
		if len16(m.Visible) > MaxMessage {
			t.Errorf("message %d is %d characters", i, len16(m.Visible))
		}
		if m.ParseMode != "HTML" {
			t.Errorf("message %d went as plain text", i)
		}
		got.WriteString(body(m.Visible))
	}
	if a, b := nonSpace(got.String()), nonSpace(htmlVisible(RenderHTML(full))); a != b {
		t.Errorf("the split answer differs from the whole: %d vs %d non-space characters", len(a), len(b))
	}
	checkLimits(t, h.api.log(), time.Second, 30)
}

func splitEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func TestRefusedMarkupFallsBackToPlainText(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Drafts = "off" }) // the final message's fallback; drafts refuse markup too
	ans := "Some **bold** and `code` <tag>"
	h.asker.answer = func(*submit.Request) script { return script{Chunks: []string{ans}} }
	h.api.setRejectHTML(true)
	h.api.say(alice.ID, alice, "hi")
	ms := h.api.waitFinal(alice.ID, 10*time.Second)
	m := ms[0]
	if m.ParseMode != "" || body(m.Visible) != ans {
		t.Errorf("want the raw answer as plain text, got mode %q body %q", m.ParseMode, body(m.Visible))
	}
	refused := 0
	for _, c := range h.api.log() {
		if c.Code == 400 && str(c.Params, "parse_mode") == "HTML" {
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("the fake never refused HTML")
	}
}
