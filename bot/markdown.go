package bot

import (
	"net/url"
	"strings"
)

// RenderHTML turns the model's Markdown into Telegram HTML: fenced code
// blocks, inline code, bold, italics, strike-through, links (http, https,
// tg), headings (bold), bullet lists and block quotes. Everything else is
// text, escaped. The result is always well-formed (every tag closed, in
// order) and its visible text is never longer than md, so a part that fits
// as plain text fits as HTML too. Inline markup never spans lines, so an
// answer cut at a line boundary renders the same in pieces; an unclosed
// code fence (a streaming answer) is closed at the end.
func RenderHTML(md string) string {
	var b strings.Builder
	b.Grow(len(md) + len(md)/8)
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		if i > 0 {
			b.WriteByte('\n')
		}
		line := lines[i]
		if fence, lang, ok := fenceOpen(line); ok {
			j := i + 1
			for j < len(lines) && !fenceClose(lines[j], fence) {
				j++
			}
			if lang != "" {
				b.WriteString(`<pre><code class="language-` + lang + `">`)
			} else {
				b.WriteString("<pre>")
			}
			b.WriteString(escapeHTML(strings.Join(lines[i+1:min(j, len(lines))], "\n")))
			if lang != "" {
				b.WriteString("</code>")
			}
			b.WriteString("</pre>")
			if j < len(lines) {
				i = j // the closing fence line renders as nothing
			} else {
				i = len(lines)
			}
			continue
		}
		if q, ok := quoteLine(line); ok {
			var qs []string
			qs = append(qs, q)
			for i+1 < len(lines) {
				q, ok := quoteLine(lines[i+1])
				if !ok {
					break
				}
				qs = append(qs, q)
				i++
			}
			b.WriteString("<blockquote>")
			for k, q := range qs {
				if k > 0 {
					b.WriteByte('\n')
				}
				b.WriteString(renderLine(q))
			}
			b.WriteString("</blockquote>")
			continue
		}
		b.WriteString(renderLine(line))
	}
	return b.String()
}

// fenceOpen reports whether line opens a fenced code block (``` or ~~~,
// up to three spaces of indent) and returns the fence and a safe language.
func fenceOpen(line string) (fence, lang string, ok bool) {
	t := strings.TrimLeft(line, " ")
	if len(line)-len(t) > 3 {
		return "", "", false
	}
	for _, f := range []string{"```", "~~~"} {
		if strings.HasPrefix(t, f) {
			n := len(f)
			for n < len(t) && t[n] == f[0] {
				n++
			}
			info := strings.TrimSpace(t[n:])
			if f[0] == '`' && strings.Contains(info, "`") {
				return "", "", false // inline code like ```x``` on one line
			}
			return t[:n], safeLang(info), true
		}
	}
	return "", "", false
}

// fenceClose reports whether line closes a block opened with fence.
func fenceClose(line, fence string) bool {
	t := strings.TrimSpace(line)
	if len(t) < len(fence) || len(line)-len(strings.TrimLeft(line, " ")) > 3 {
		return false
	}
	return strings.Trim(t, fence[:1]) == ""
}

// safeLang keeps the first word of a fence's info string if it looks like
// a language name.
func safeLang(info string) string {
	if i := strings.IndexAny(info, " \t{"); i >= 0 {
		info = info[:i]
	}
	if len(info) > 32 {
		return ""
	}
	for i := 0; i < len(info); i++ {
		c := info[i]
		if !(isAlnum(c) || c == '_' || c == '-' || c == '+' || c == '.' || c == '#') {
			return ""
		}
	}
	return info
}

func quoteLine(line string) (string, bool) {
	if !strings.HasPrefix(line, ">") {
		return "", false
	}
	return strings.TrimPrefix(line[1:], " "), true
}

// renderLine renders one line outside code blocks: headings become bold,
// "- x" / "* x" / "+ x" become "• x", the rest is inline markup.
func renderLine(line string) string {
	t := strings.TrimLeft(line, " ")
	indent := line[:len(line)-len(t)]
	if h := headingLevel(t); h > 0 {
		return indent + "<b>" + renderInline(strings.TrimSpace(t[h:]), 0, true) + "</b>"
	}
	if len(t) >= 2 && (t[0] == '-' || t[0] == '*' || t[0] == '+') && t[1] == ' ' {
		return indent + "• " + renderInline(t[2:], 0, true)
	}
	return renderInline(line, 0, true)
}

func headingLevel(t string) int {
	n := 0
	for n < len(t) && n < 6 && t[n] == '#' {
		n++
	}
	if n == 0 || n >= len(t) || t[n] != ' ' {
		return 0
	}
	return n
}

// maxDepth bounds nested emphasis; deeper markup is shown as text.
const maxDepth = 8

// renderInline renders inline markup of one line. links is false inside a
// link's text (Telegram does not nest links).
func renderInline(s string, depth int, links bool) string {
	st := inline{s: s, noClose: map[closeKey]int{}, noLink: map[int]int{}}
	return st.render(0, len(s), depth, links)
}

// inline renders one line. It remembers searches that failed: a closing
// delimiter not found after position p is not found after any later
// position either, which keeps rendering linear on pathological input.
type inline struct {
	s       string
	noClose map[closeKey]int // earliest position a search from failed
	noLink  map[int]int      // span end -> earliest position no "](...)" follows
}

// closeKey names one kind of search within a span ending at to.
type closeKey struct {
	c  byte
	w  int
	to int
}

func (st *inline) render(from, to, depth int, links bool) string {
	s := st.s[:to]
	var b strings.Builder
	for i := from; i < to; {
		c := s[i]
		switch {
		case c == '`':
			n := run(s, i, '`')
			if end := st.findRun(s, i+n, n); end >= 0 && end > i+n {
				b.WriteString("<code>" + escapeHTML(s[i+n:end]) + "</code>")
				i = end + n
				continue
			}
			b.WriteString(s[i : i+n])
			i += n
			continue
		case (c == '*' || c == '_' || c == '~') && depth < maxDepth:
			if out, next, ok := st.emphasis(s, i, depth, links); ok {
				b.WriteString(out)
				i = next
				continue
			}
			n := run(s, i, c)
			b.WriteString(escapeHTML(s[i : i+n]))
			i += n
			continue
		case c == '[' && links:
			if out, next, ok := st.link(s, i, depth); ok {
				b.WriteString(out)
				i = next
				continue
			}
		case c == '<':
			b.WriteString("&lt;")
			i++
			continue
		case c == '>':
			b.WriteString("&gt;")
			i++
			continue
		case c == '&':
			b.WriteString("&amp;")
			i++
			continue
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

// emphasis renders **bold**, __bold__, *italic*, _italic_ or ~~strike~~
// starting at s[i], if it closes on the same line.
func (st *inline) emphasis(s string, i, depth int, links bool) (string, int, bool) {
	c := s[i]
	n := run(s, i, c)
	type form struct {
		width int
		open  string
		close string
	}
	var forms []form
	switch {
	case c == '~':
		if n == 2 {
			forms = []form{{2, "<s>", "</s>"}}
		}
	case n >= 2:
		forms = []form{{2, "<b>", "</b>"}, {1, "<i>", "</i>"}}
	default:
		forms = []form{{1, "<i>", "</i>"}}
	}
	if c == '_' && i > 0 && isWordByte(s[i-1]) {
		return "", 0, false // snake_case
	}
	for _, f := range forms {
		start := i + f.width
		if start >= len(s) || s[start] == ' ' {
			continue
		}
		end := st.findClose(s, start, c, f.width)
		if end < 0 {
			continue
		}
		return f.open + st.render(start, end, depth+1, links) + f.close, end + f.width, true
	}
	return "", 0, false
}

// findClose finds a closing delimiter of width w of byte c at or after
// from: not preceded by a space, and for '_' not followed by a word byte.
func (st *inline) findClose(s string, from int, c byte, w int) int {
	key := closeKey{c, w, len(s)}
	if p, ok := st.noClose[key]; ok && from >= p {
		return -1
	}
	delim := strings.Repeat(string(c), w)
	for k := from; k < len(s); {
		j := strings.Index(s[k:], delim)
		if j < 0 {
			break
		}
		j += k
		ok := j > from && s[j-1] != ' '
		if ok && w == 1 && j+1 < len(s) && s[j+1] == c {
			ok = false // part of a longer run: not a single delimiter
		}
		if ok && c == '_' && j+w < len(s) && isWordByte(s[j+w]) {
			ok = false
		}
		if ok {
			if m := run(s, j, c); m > w && w > 1 {
				j += m - w // "**bold *it***" closes the bold at the end of the run
			}
			return j
		}
		k = j + run(s, j, c)
	}
	if p, ok := st.noClose[key]; !ok || from < p {
		st.noClose[key] = from
	}
	return -1
}

// findRun finds a run of exactly n backticks at or after from.
func (st *inline) findRun(s string, from, n int) int {
	key := closeKey{'`', n, len(s)}
	if p, ok := st.noClose[key]; ok && from >= p {
		return -1
	}
	for k := from; k < len(s); {
		j := strings.IndexByte(s[k:], '`')
		if j < 0 {
			break
		}
		j += k
		m := run(s, j, '`')
		if m == n {
			return j
		}
		k = j + m
	}
	if p, ok := st.noClose[key]; !ok || from < p {
		st.noClose[key] = from
	}
	return -1
}

// link renders [text](url) at s[i] if url is http(s) or tg.
func (st *inline) link(s string, i, depth int) (string, int, bool) {
	if p, ok := st.noLink[len(s)]; ok && i >= p {
		return "", 0, false
	}
	mid := strings.Index(s[i:], "](")
	if mid < 0 {
		st.noLink[len(s)] = i
		return "", 0, false
	}
	mid += i
	end := strings.IndexByte(s[mid+2:], ')')
	if end < 0 {
		st.noLink[len(s)] = i
		return "", 0, false
	}
	end += mid + 2
	text, target := s[i+1:mid], s[mid+2:end]
	if text == "" || strings.ContainsAny(text, "[]") || strings.ContainsAny(target, " \t<>\"") {
		return "", 0, false
	}
	u, err := url.Parse(target)
	if err != nil || !(u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "tg") || (u.Scheme != "tg" && u.Host == "") {
		return "", 0, false
	}
	return `<a href="` + escapeAttr(target) + `">` + st.render(i+1, mid, depth+1, false) + "</a>", end + 1, true
}

func run(s string, i int, c byte) int {
	n := 0
	for i+n < len(s) && s[i+n] == c {
		n++
	}
	return n
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isWordByte counts any non-ASCII byte as part of a word (Cyrillic, ...).
func isWordByte(c byte) bool { return isAlnum(c) || c >= 0x80 }

var (
	htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
)

func escapeHTML(s string) string { return htmlEscaper.Replace(s) }
func escapeAttr(s string) string { return attrEscaper.Replace(s) }

// htmlVisible is the text Telegram shows for HTML made by RenderHTML:
// tags dropped, the entities RenderHTML writes unescaped.
func htmlVisible(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); {
		switch h[i] {
		case '<':
			j := strings.IndexByte(h[i:], '>')
			if j < 0 {
				b.WriteString(h[i:])
				return b.String()
			}
			i += j + 1
			continue
		case '&':
			matched := false
			for _, e := range [...][2]string{{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}, {"&quot;", `"`}} {
				if strings.HasPrefix(h[i:], e[0]) {
					b.WriteString(e[1])
					i += len(e[0])
					matched = true
					break
				}
			}
			if matched {
				continue
			}
		}
		b.WriteByte(h[i])
		i++
	}
	return b.String()
}
