package bot

import (
	"strings"
	"unicode/utf8"
)

// MaxMessage is Telegram's limit on one message's text, in UTF-16 units.
const MaxMessage = 4096

// len16 is the length of s as Telegram counts it (UTF-16 code units; an
// invalid byte becomes one U+FFFD).
func len16(s string) int {
	n := 0
	for _, r := range s {
		if r > 0xFFFF {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// splitAnswer cuts the Markdown md into parts of at most limit UTF-16 units
// each: at paragraph boundaries (a blank line, or the end of a code block)
// where it can, else at line boundaries, else inside a code block (the
// block is closed at the end of one part and reopened, with its language,
// at the start of the next), else inside a line (at a space if there is
// one). Every byte of md is in exactly one part, in order, except the
// newline at a cut between lines, which the message boundary replaces.
func splitAnswer(md string, limit int) []string {
	limit = max(limit, 64)
	if len16(md) <= limit {
		return []string{md}
	}
	lines := strings.Split(md, "\n")
	// openAfter[i] is the fence line that reopens the code block still open
	// after line i ("" outside code); fenceOf[i] the fence that closes it.
	openAfter := make([]string, len(lines))
	fenceOf := make([]string, len(lines))
	blank := make([]bool, len(lines))
	closes := make([]bool, len(lines))
	fence, reopen := "", ""
	for i, l := range lines {
		switch {
		case fence == "":
			if f, lang, ok := fenceOpen(l); ok {
				fence, reopen = f, f+lang
			}
			blank[i] = strings.TrimSpace(l) == ""
		case fenceClose(l, fence):
			fence, reopen = "", ""
			closes[i] = true
		}
		openAfter[i], fenceOf[i] = reopen, fence
	}

	var parts []string
	start := 0
	for start < len(lines) {
		prefix := ""
		if start > 0 {
			prefix = openAfter[start-1]
		}
		length := len16(prefix)
		type cut struct{ at, length, class int }
		var best cut
		best.at = -1
		end := start
		for end < len(lines) {
			add := len16(lines[end])
			if end > start || prefix != "" {
				add++ // the newline before it
			}
			reserve := 0
			if end+1 < len(lines) && openAfter[end] != "" {
				reserve = 1 + len(fenceOf[end]) // "\n```" if we cut after it
			}
			if length+add+reserve > limit {
				break
			}
			length += add
			end++
			if end == len(lines) {
				break
			}
			class := 2 // a line boundary
			switch {
			case blank[end-1] || closes[end-1]:
				class = 1 // a paragraph boundary
			case openAfter[end-1] != "" && (end-1 == 0 || openAfter[end-2] == ""):
				class = 4 // right after a fence opens: an empty block
			case openAfter[end-1] != "":
				class = 3 // inside a code block
			}
			// Prefer the better class once the part is a third full.
			if best.at < 0 || class <= best.class || best.length < limit/3 {
				best = cut{end, length, class}
			}
		}
		if end == len(lines) {
			parts = append(parts, joinPart(prefix, lines[start:], ""))
			break
		}
		if best.at < 0 { // the first line alone is too long: cut inside it
			inCode := start > 0 && openAfter[start-1] != "" && !closes[start]
			closing := ""
			if inCode {
				closing = fenceOf[start]
			}
			room := limit - len16(prefix) - 1 - len(closing) - 1
			head, rest := cutLine(lines[start], room)
			parts = append(parts, joinPart(prefix, []string{head}, closing))
			lines[start] = rest
			continue
		}
		closing := ""
		if openAfter[best.at-1] != "" {
			closing = fenceOf[best.at-1]
		}
		parts = append(parts, joinPart(prefix, lines[start:best.at], closing))
		start = best.at
	}
	return parts
}

// joinPart writes a part: an optional reopened fence, lines, an optional
// closing fence.
func joinPart(prefix string, lines []string, closing string) string {
	var b strings.Builder
	if prefix != "" {
		b.WriteString(prefix)
		b.WriteByte('\n')
	}
	b.WriteString(strings.Join(lines, "\n"))
	if closing != "" {
		b.WriteByte('\n')
		b.WriteString(closing)
	}
	return b.String()
}

// cutLine cuts line into a head of at most room UTF-16 units (at the last
// space in its second half if any, else at a rune boundary) and the rest.
// The head is never empty.
func cutLine(line string, room int) (string, string) {
	room = max(room, 2)
	n, at, space := 0, 0, -1
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRuneInString(line[i:])
		w := 1
		if r > 0xFFFF {
			w = 2
		}
		if n+w > room {
			break
		}
		n += w
		i += size
		at = i
		if r == ' ' && n > room/2 {
			space = at
		}
	}
	if at == 0 { // room smaller than the first rune: take it anyway
		_, size := utf8.DecodeRuneInString(line)
		at = max(size, 1)
	}
	if space > 0 {
		at = space
	}
	return line[:at], line[at:]
}
