package bot

import (
	"regexp"
	"strconv"
	"strings"

	tele "gopkg.in/telebot.v3"

	"github.com/cocoon-network/cocoon/submit"
)

// kind is what the bot does with an incoming message.
type kind int

const (
	ignore  kind = iota // say nothing (channel posts, bots, service messages, groups not addressing the bot)
	reply               // answer with a catalogue string (Key)
	command             // run a command (Command, Args)
	prompt              // ask the model (Prompt)
)

// incoming is an update reduced to what the bot acts on. classify makes it
// without any I/O, so it can be fuzzed.
type incoming struct {
	Kind    kind
	Key     string // reply: catalogue key
	Command string // command: lower-case name without the slash
	Args    string // command: the rest, untrusted
	Prompt  string // prompt: the user's text, valid UTF-8, the bot's mention removed

	Conv     conv
	Place    place
	User     int64  // the sender; for an anonymous group admin, the group
	UserLang string // the sender's language_code
	MsgID    int    // the user's message
	ReplyTo  int    // the bot's message it replies to (continues that branch), else 0
	Private  bool
	// AnonAdmin is a group admin writing as the group: an admin for the
	// group's settings.
	AnonAdmin bool
}

// cmdRe matches "/name", "/name@bot" and "/name@bot args" (args may span lines).
var cmdRe = regexp.MustCompile(`(?s)^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+(.*))?$`)

// classify decides what to do with a new message sent to the bot (edited
// messages and channel posts never get here: they are ignored).
func classify(m *tele.Message, me *tele.User) incoming {
	in := incoming{Kind: ignore}
	if m == nil || m.Chat == nil || me == nil {
		return in
	}
	switch m.Chat.Type {
	case tele.ChatPrivate, tele.ChatGroup, tele.ChatSuperGroup:
	default:
		return in // channels
	}
	in.Private = m.Chat.Type == tele.ChatPrivate
	in.Place = place{Chat: m.Chat.ID, Group: !in.Private}
	in.Conv = conv{Chat: m.Chat.ID}
	if m.TopicMessage && m.ThreadID != 0 {
		in.Conv.Thread, in.Place.Thread = m.ThreadID, m.ThreadID
	}
	in.MsgID = m.ID
	switch {
	case m.SenderChat != nil && !in.Private && m.SenderChat.ID == m.Chat.ID:
		in.User, in.AnonAdmin = m.Chat.ID, true
	case m.SenderChat != nil, m.Sender == nil, m.Sender.IsBot, m.AutomaticForward:
		return in // a channel writing into a group, a bot, an automatic forward
	default:
		in.User, in.UserLang = m.Sender.ID, m.Sender.LanguageCode
	}
	if in.Private && in.User != m.Chat.ID {
		return in
	}
	if m.ReplyTo != nil && m.ReplyTo.Sender != nil && m.ReplyTo.Sender.ID == me.ID && m.ReplyTo.TopicCreated == nil {
		in.ReplyTo = m.ReplyTo.ID
	}

	txt := strings.ToValidUTF8(m.Text, "\uFFFD")
	if strings.HasPrefix(txt, "/") {
		sm := cmdRe.FindStringSubmatch(txt)
		if sm == nil {
			sm = commandEntity(m, txt) // "/help!!!": junk glued to a command
		}
		if sm != nil {
			if sm[2] != "" && !strings.EqualFold(sm[2], me.Username) {
				return in // another bot's command
			}
			if !in.Private && sm[2] == "" && !addressed(m, me, txt) && in.ReplyTo == 0 && !knownCommand(sm[1]) {
				return in // someone else's command in a group
			}
			in.Kind, in.Command, in.Args = command, strings.ToLower(sm[1]), strings.TrimSpace(sm[3])
			return in
		}
	}
	if !in.Private && !addressed(m, me, txt) && in.ReplyTo == 0 {
		return in // group chatter not meant for the bot
	}
	if !hasContent(m) {
		return in // a service message (members, pins, topics, ...)
	}
	if m.Text == "" {
		in.Kind, in.Key = reply, "non_text"
		return in
	}
	p := txt
	if !in.Private {
		p = stripMention(p, me)
	}
	p = strings.TrimSpace(p)
	if p == "" {
		in.Kind, in.Key = reply, "empty"
		return in
	}
	in.Kind, in.Prompt = prompt, p
	return in
}

// cmdHeadRe is a whole bot_command entity: "/name" or "/name@bot".
var cmdHeadRe = regexp.MustCompile(`^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?$`)

// commandEntity reads a command Telegram marked (a bot_command entity at
// offset 0) when cmdRe does not match because junk follows the name
// without a space ("/help!!!", "/start,"): the submatches of cmdRe, the
// rest of the text as the arguments, or nil. Such a text is a command, not
// a prompt billed to the user.
func commandEntity(m *tele.Message, txt string) []string {
	for _, e := range m.Entities {
		if e.Type != tele.EntityCommand || e.Offset != 0 || e.Length < 2 || e.Length > len(txt) {
			continue
		}
		// The head is ASCII when it is a command at all, so UTF-16 units
		// and bytes agree; anything else fails the match.
		if sm := cmdHeadRe.FindStringSubmatch(txt[:e.Length]); sm != nil {
			return []string{txt, sm[1], sm[2], txt[e.Length:]}
		}
	}
	return nil
}

// addressed reports whether a group message mentions the bot.
func addressed(m *tele.Message, me *tele.User, txt string) bool {
	for _, e := range m.Entities {
		if e.Type == tele.EntityTMention && e.User != nil && e.User.ID == me.ID {
			return true
		}
	}
	if me.Username != "" && containsFold(txt, "@"+me.Username) {
		return true
	}
	return me.Username != "" && containsFold(m.Caption, "@"+me.Username)
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// stripMention removes "@botname" (any case) from a group prompt.
func stripMention(s string, me *tele.User) string {
	if me.Username == "" {
		return s
	}
	at := "@" + me.Username
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '@' && i+len(at) <= len(s) && strings.EqualFold(s[i:i+len(at)], at) {
			i += len(at)
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// hasContent reports whether m carries something a person sent (text or
// media), as opposed to a service message.
func hasContent(m *tele.Message) bool {
	return m.Text != "" || m.Caption != "" || m.Photo != nil || m.Sticker != nil || m.Voice != nil ||
		m.Audio != nil || m.Video != nil || m.VideoNote != nil || m.Animation != nil || m.Document != nil ||
		m.Location != nil || m.Contact != nil || m.Poll != nil || m.Dice != nil || m.Venue != nil
}

// userID is the user a job is billed to.
func userID(user int64) string { return "tg:" + strconv.FormatInt(user, 10) }

// requestFor is the job for a prompt: the user, the model, and the
// conversation so far fitted to the history budget.
func requestFor(in incoming, model, system string, turns []Turn, cfg *Config) *submit.Request {
	budget := int(float64(cfg.ContextTokens) * cfg.HistoryShare)
	return &submit.Request{
		Model:     model,
		User:      userID(in.User),
		Messages:  buildMessages(system, turns, in.Prompt, budget),
		MaxTokens: cfg.MaxTokens,
		Options:   cfg.Options,
	}
}
