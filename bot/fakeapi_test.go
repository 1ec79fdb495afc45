package bot

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tele "gopkg.in/telebot.v3"
)

// fakeAPI is a Bot API server for tests. It implements the methods the bot
// calls, keeps the chats' messages, records every request with its arrival
// time, validates HTML the way Telegram does (allowed tags, nesting,
// entities, 4096 visible characters, "message is not modified"), and can
// answer 429 with retry_after or refuse all HTML on demand. sendMessageDraft
// keeps every draft per chat (private chats only); setNoDrafts makes it
// answer 404 "Not Found" like a server without the method.
type fakeAPI struct {
	t     testing.TB
	srv   *httptest.Server
	token string
	me    tele.User

	mu         sync.Mutex
	calls      []apiCall
	updates    []json.RawMessage
	nextUpdate int
	arrived    chan struct{} // closed and replaced when an update is pushed
	chatTypes  map[int64]string
	nextMsg    map[int64]int
	msgs       map[int64][]*fakeMsg
	floods     []*floodRule
	rejectHTML bool
	status     map[[2]int64]string // chat, user -> getChatMember status
	commands   map[string][]tele.Command
	unknown    []string
	refunded   map[string]bool // telegram_payment_charge_id refunded
	drafts     map[int64][]fakeDraft
	noDrafts   bool // sendMessageDraft answers 404 Not Found
}

// fakeDraft is one accepted sendMessageDraft.
type fakeDraft struct {
	At        time.Time
	ID        int64
	Thread    int
	Text      string
	ParseMode string
	Visible   string
}

// apiCall is one request the fake received.
type apiCall struct {
	At     time.Time
	Method string
	Params map[string]any
	Code   int    // HTTP status answered
	Error  string // the description of a refusal
}

// fakeMsg is a message in a fake chat, as the bot last set it.
type fakeMsg struct {
	ID        int
	Chat      int64
	Thread    int
	FromBot   bool
	Text      string // as sent (HTML when ParseMode is HTML)
	ParseMode string
	Visible   string
	Markup    string
	ReplyTo   int
	History   []string // every visible text it had, in order
	Deleted   bool
	Photo     []byte         // sendPhoto: the uploaded file
	Invoice   map[string]any // sendInvoice: its parameters
}

// floodRule answers 429 to a matching request after skip matching ones.
type floodRule struct {
	method string
	chat   int64
	skip   int
	retry  int
	fired  bool
}

const fakeToken = "123456:TEST-token-never-logged"

func newFakeAPI(t testing.TB) *fakeAPI {
	f := &fakeAPI{t: t, token: fakeToken, arrived: make(chan struct{}),
		me:        tele.User{ID: 777, IsBot: true, FirstName: "Cocoon", Username: "cocoon_test_bot"},
		chatTypes: map[int64]string{}, nextMsg: map[int64]int{}, msgs: map[int64][]*fakeMsg{},
		status: map[[2]int64]string{}, commands: map[string][]tele.Command{}, nextUpdate: 1, refunded: map[string]bool{},
		drafts: map[int64][]fakeDraft{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// checkClean fails the test if the bot sent an edit that changed nothing,
// a text Telegram would call too long, or called an unknown method.
func (f *fakeAPI) checkClean() {
	f.t.Helper()
	lastDraft := map[[2]int64]string{} // chat, draft_id -> text
	for _, c := range f.log() {
		if strings.Contains(c.Error, "not modified") || strings.Contains(c.Error, "too long") || strings.Contains(c.Error, "text is empty") {
			f.t.Errorf("%s refused: %s", c.Method, c.Error)
		}
		if c.Method != "sendMessageDraft" {
			continue
		}
		if c.Code != 200 && c.Code != 429 && c.Error != "Not Found" {
			f.t.Errorf("sendMessageDraft refused: %s", c.Error)
		}
		if c.Code == 200 {
			k := [2]int64{num(c.Params, "chat_id"), num(c.Params, "draft_id")}
			t := str(c.Params, "parse_mode") + "|" + str(c.Params, "text")
			if prev, ok := lastDraft[k]; ok && prev == t {
				f.t.Errorf("chat %d: an unchanged draft was sent again", k[0])
			}
			lastDraft[k] = t
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.unknown) > 0 {
		f.t.Errorf("the bot called methods the fake does not know: %v", f.unknown)
	}
}

// URL is the Bot API base URL (Config.APIURL).
func (f *fakeAPI) URL() string { return f.srv.URL }

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	path := strings.TrimPrefix(r.URL.Path, "/bot"+f.token+"/")
	if path == r.URL.Path {
		writeAPI(w, 401, map[string]any{"ok": false, "error_code": 401, "description": "Unauthorized"})
		return
	}
	method := path
	params := map[string]any{}
	body, _ := io.ReadAll(r.Body)
	if len(body) > 0 {
		if err := json.Unmarshal(body, &params); err != nil {
			if mr, err := parseMultipart(r, body); err == nil {
				params = mr
			}
		}
	}
	if method == "getUpdates" {
		f.getUpdates(w, r, params, at)
		return
	}
	f.mu.Lock()
	code, resp := f.dispatch(method, params)
	desc := ""
	if m, ok := resp.(map[string]any); ok {
		desc, _ = m["description"].(string)
	}
	f.calls = append(f.calls, apiCall{At: at, Method: method, Params: params, Code: code, Error: desc})
	f.mu.Unlock()
	writeAPI(w, code, resp)
}

func parseMultipart(r *http.Request, body []byte) (map[string]any, error) {
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(strings.NewReader(string(body)))
	if err := r2.ParseMultipartForm(1 << 20); err != nil {
		return nil, err
	}
	out := map[string]any{}
	for k, v := range r2.MultipartForm.Value {
		out[k] = v[0]
	}
	for k, fhs := range r2.MultipartForm.File { // uploads: their bytes, as a string
		fh, err := fhs[0].Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(fh)
		fh.Close()
		if err != nil {
			return nil, err
		}
		out[k] = string(b)
	}
	return out, nil
}

func writeAPI(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func ok(result any) (int, any) { return 200, map[string]any{"ok": true, "result": result} }

func apiErr(code int, desc string) (int, any) {
	return code, map[string]any{"ok": false, "error_code": code, "description": desc}
}

// str reads a parameter as a string (telebot sends strings, our poller numbers).
func str(p map[string]any, k string) string {
	switch v := p[k].(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatInt(int64(v), 10)
	case bool:
		return strconv.FormatBool(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func num(p map[string]any, k string) int64 {
	n, _ := strconv.ParseInt(str(p, k), 10, 64)
	return n
}

// dispatch answers one method (mu held).
func (f *fakeAPI) dispatch(method string, p map[string]any) (int, any) {
	for _, fr := range f.floods {
		if fr.fired || fr.method != method || (fr.chat != 0 && fr.chat != num(p, "chat_id")) {
			continue
		}
		if fr.skip > 0 {
			fr.skip--
			continue
		}
		fr.fired = true
		return 429, map[string]any{"ok": false, "error_code": 429,
			"description": fmt.Sprintf("Too Many Requests: retry after %d", fr.retry),
			"parameters":  map[string]any{"retry_after": fr.retry}}
	}
	switch method {
	case "getMe":
		return ok(f.me)
	case "deleteWebhook", "setWebhook", "sendChatAction", "answerCallbackQuery", "deleteMyCommands":
		return ok(true)
	case "setMyCommands":
		var cmds []tele.Command
		b, _ := json.Marshal(p["commands"])
		json.Unmarshal(b, &cmds)
		f.commands[str(p, "scope")+"|"+str(p, "language_code")] = cmds
		return ok(true)
	case "getChatMember":
		st := f.status[[2]int64{num(p, "chat_id"), num(p, "user_id")}]
		if st == "" {
			st = "member"
		}
		return ok(map[string]any{"status": st, "user": map[string]any{"id": num(p, "user_id"), "is_bot": false, "first_name": "U"}})
	case "sendMessage":
		return f.sendMessage(p)
	case "editMessageText":
		return f.editMessageText(p)
	case "sendMessageDraft":
		return f.sendMessageDraft(p)
	case "sendPhoto":
		return f.sendPhoto(p)
	case "sendInvoice":
		return f.sendInvoice(p)
	case "answerPreCheckoutQuery":
		if str(p, "pre_checkout_query_id") == "" || (str(p, "ok") != "true" && str(p, "error_message") == "") {
			return apiErr(400, "Bad Request: PRE_CHECKOUT_QUERY_ID_INVALID")
		}
		return ok(true)
	case "refundStarPayment":
		charge := str(p, "telegram_payment_charge_id")
		if num(p, "user_id") == 0 || charge == "" {
			return apiErr(400, "Bad Request: invalid refund")
		}
		if f.refunded[charge] {
			return apiErr(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
		}
		f.refunded[charge] = true
		return ok(true)
	case "deleteMessage":
		m := f.find(num(p, "chat_id"), int(num(p, "message_id")))
		if m == nil {
			return apiErr(400, "Bad Request: message to delete not found")
		}
		m.Deleted = true
		return ok(true)
	}
	f.unknown = append(f.unknown, method)
	return apiErr(404, "Not Found: method not found")
}

// check validates a text as Telegram would and returns what it shows.
func (f *fakeAPI) check(p map[string]any) (visible string, code int, resp any) {
	text, mode := str(p, "text"), str(p, "parse_mode")
	visible = text
	if strings.EqualFold(mode, "HTML") {
		if f.rejectHTML {
			code, resp = apiErr(400, "Bad Request: can't parse entities: Unsupported start tag \"b\" at byte offset 0")
			return
		}
		v, err := parseTelegramHTML(text)
		if err != nil {
			code, resp = apiErr(400, "Bad Request: can't parse entities: "+err.Error())
			return
		}
		visible = v
	}
	if strings.TrimSpace(visible) == "" {
		code, resp = apiErr(400, "Bad Request: message text is empty")
		return
	}
	if len16(visible) > MaxMessage {
		code, resp = apiErr(400, "Bad Request: message is too long")
		return
	}
	return visible, 0, nil
}

func (f *fakeAPI) sendMessage(p map[string]any) (int, any) {
	chat := num(p, "chat_id")
	visible, code, resp := f.check(p)
	if code != 0 {
		return code, resp
	}
	f.nextMsg[chat]++
	m := &fakeMsg{ID: f.nextMsg[chat], Chat: chat, Thread: int(num(p, "message_thread_id")), FromBot: true,
		Text: str(p, "text"), ParseMode: str(p, "parse_mode"), Visible: visible, Markup: str(p, "reply_markup"),
		ReplyTo: int(num(p, "reply_to_message_id")), History: []string{visible}}
	f.msgs[chat] = append(f.msgs[chat], m)
	return ok(f.wire(m))
}

// sendPhoto takes an uploaded photo with a plain caption (≤ 1024 characters).
func (f *fakeAPI) sendPhoto(p map[string]any) (int, any) {
	chat, photo, caption := num(p, "chat_id"), str(p, "photo"), str(p, "caption")
	if photo == "" {
		return apiErr(400, "Bad Request: there is no photo in the request")
	}
	if len16(caption) > 1024 {
		return apiErr(400, "Bad Request: message caption is too long")
	}
	f.nextMsg[chat]++
	m := &fakeMsg{ID: f.nextMsg[chat], Chat: chat, Thread: int(num(p, "message_thread_id")), FromBot: true,
		Visible: caption, Photo: []byte(photo), History: []string{caption}}
	f.msgs[chat] = append(f.msgs[chat], m)
	out := f.wire(m)
	delete(out, "text")
	out["caption"] = caption
	out["photo"] = []map[string]any{{"file_id": fmt.Sprintf("ph%d", m.ID), "file_unique_id": fmt.Sprintf("u%d", m.ID), "width": 512, "height": 512}}
	return ok(out)
}

// sendInvoice checks an invoice as Telegram does for Stars: XTR with an
// empty provider token and one price; title 1–32, description 1–255,
// payload 1–128 bytes.
func (f *fakeAPI) sendInvoice(p map[string]any) (int, any) {
	chat := num(p, "chat_id")
	title, desc, payload := str(p, "title"), str(p, "description"), str(p, "payload")
	var prices []struct {
		Label  string `json:"label"`
		Amount int    `json:"amount"`
	}
	b, _ := json.Marshal(p["prices"])
	json.Unmarshal(b, &prices)
	tok, hasTok := p["provider_token"]
	switch {
	case len16(title) < 1 || len16(title) > 32, len16(desc) < 1 || len16(desc) > 255, len(payload) < 1 || len(payload) > 128:
		return apiErr(400, "Bad Request: invalid invoice text")
	case str(p, "currency") != "XTR":
		return apiErr(400, "Bad Request: CURRENCY_INVALID")
	case hasTok && tok != "":
		return apiErr(400, "Bad Request: PROVIDER_TOKEN_INVALID for Stars")
	case len(prices) != 1 || prices[0].Amount < 1:
		return apiErr(400, "Bad Request: STARS_INVOICE_INVALID")
	}
	f.nextMsg[chat]++
	m := &fakeMsg{ID: f.nextMsg[chat], Chat: chat, FromBot: true, Visible: title + "\n" + desc, Invoice: p,
		History: []string{title}}
	f.msgs[chat] = append(f.msgs[chat], m)
	out := f.wire(m)
	delete(out, "text")
	out["invoice"] = map[string]any{"title": title, "description": desc, "currency": "XTR", "total_amount": prices[0].Amount, "start_parameter": ""}
	return ok(out)
}

// sendMessageDraft takes a draft in a private chat: a non-zero draft_id and
// a text Telegram would accept; with noDrafts it is an unknown method.
func (f *fakeAPI) sendMessageDraft(p map[string]any) (int, any) {
	if f.noDrafts {
		return apiErr(404, "Not Found")
	}
	chat := num(p, "chat_id")
	if f.chatType(chat) != "private" {
		return apiErr(400, "Bad Request: TEXTDRAFT_PEER_INVALID")
	}
	if num(p, "draft_id") == 0 {
		return apiErr(400, "Bad Request: DRAFT_ID_INVALID")
	}
	visible, code, resp := f.check(p)
	if code != 0 {
		return code, resp
	}
	f.drafts[chat] = append(f.drafts[chat], fakeDraft{At: time.Now(), ID: num(p, "draft_id"),
		Thread: int(num(p, "message_thread_id")), Text: str(p, "text"), ParseMode: str(p, "parse_mode"), Visible: visible})
	return ok(true)
}

// setNoDrafts makes sendMessageDraft answer 404 "Not Found".
func (f *fakeAPI) setNoDrafts(v bool) {
	f.mu.Lock()
	f.noDrafts = v
	f.mu.Unlock()
}

// draftsIn returns the drafts accepted in chat, in order.
func (f *fakeAPI) draftsIn(chat int64) []fakeDraft {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeDraft(nil), f.drafts[chat]...)
}

func (f *fakeAPI) editMessageText(p map[string]any) (int, any) {
	chat := num(p, "chat_id")
	m := f.find(chat, int(num(p, "message_id")))
	if m == nil || !m.FromBot {
		return apiErr(400, "Bad Request: message to edit not found")
	}
	visible, code, resp := f.check(p)
	if code != 0 {
		return code, resp
	}
	if m.Text == str(p, "text") && m.ParseMode == str(p, "parse_mode") && m.Markup == str(p, "reply_markup") {
		return apiErr(400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")
	}
	m.Text, m.ParseMode, m.Visible, m.Markup = str(p, "text"), str(p, "parse_mode"), visible, str(p, "reply_markup")
	m.History = append(m.History, visible)
	return ok(f.wire(m))
}

func (f *fakeAPI) find(chat int64, id int) *fakeMsg {
	for _, m := range f.msgs[chat] {
		if m.ID == id {
			return m
		}
	}
	return nil
}

func (f *fakeAPI) chatType(chat int64) string {
	if t := f.chatTypes[chat]; t != "" {
		return t
	}
	if chat > 0 {
		return "private"
	}
	return "supergroup"
}

func (f *fakeAPI) wire(m *fakeMsg) map[string]any {
	out := map[string]any{"message_id": m.ID, "date": time.Now().Unix(), "text": m.Visible,
		"chat": map[string]any{"id": m.Chat, "type": f.chatType(m.Chat)}, "from": f.me}
	if m.Thread != 0 {
		out["message_thread_id"], out["is_topic_message"] = m.Thread, true
	}
	return out
}

// getUpdates long-polls the pushed updates.
func (f *fakeAPI) getUpdates(w http.ResponseWriter, r *http.Request, p map[string]any, at time.Time) {
	offset := int(num(p, "offset"))
	timeout := time.Duration(num(p, "timeout")) * time.Second
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		var out []json.RawMessage
		for i, u := range f.updates {
			if i+1 >= offset {
				out = append(out, u)
			}
		}
		arrived := f.arrived
		if len(out) > 0 || timeout == 0 {
			f.calls = append(f.calls, apiCall{At: at, Method: "getUpdates", Params: p, Code: 200})
			f.mu.Unlock()
			if out == nil {
				out = []json.RawMessage{}
			}
			writeAPI(w, 200, map[string]any{"ok": true, "result": out})
			return
		}
		f.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline.C:
			timeout = 0
		case <-r.Context().Done():
			return
		}
	}
}

// push queues an update (update_id is set here) and returns its id.
func (f *fakeAPI) push(u map[string]any) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := len(f.updates) + 1
	u["update_id"] = id
	b, err := json.Marshal(u)
	if err != nil {
		f.t.Fatalf("push: %v", err)
	}
	f.updates = append(f.updates, b)
	close(f.arrived)
	f.arrived = make(chan struct{})
	return id
}

// pushRaw queues a raw update JSON with the given id field filled in.
func (f *fakeAPI) pushRaw(raw string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := len(f.updates) + 1
	raw = strings.Replace(raw, `"update_id":0`, `"update_id":`+strconv.Itoa(id), 1)
	f.updates = append(f.updates, json.RawMessage(raw))
	close(f.arrived)
	f.arrived = make(chan struct{})
}

// user is a fake Telegram user.
type user struct {
	ID   int64
	Lang string
}

func (u user) json() map[string]any {
	return map[string]any{"id": u.ID, "is_bot": false, "first_name": "User" + strconv.FormatInt(u.ID, 10), "language_code": u.Lang}
}

// newUserMsg allocates a message id in chat for something a user sends.
func (f *fakeAPI) newUserMsg(chat int64, text string, thread int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextMsg[chat]++
	m := &fakeMsg{ID: f.nextMsg[chat], Chat: chat, Thread: thread, Text: text, Visible: text}
	f.msgs[chat] = append(f.msgs[chat], m)
	return m.ID
}

// message builds a message update from u in chat; extra fields are merged in.
func (f *fakeAPI) message(chat int64, u user, text string, extra map[string]any) map[string]any {
	thread := 0
	if extra != nil {
		if t, ok := extra["message_thread_id"].(int); ok {
			thread = t
		}
	}
	id := f.newUserMsg(chat, text, thread)
	f.mu.Lock()
	typ := f.chatType(chat)
	f.mu.Unlock()
	m := map[string]any{"message_id": id, "date": time.Now().Unix(), "from": u.json(),
		"chat": map[string]any{"id": chat, "type": typ, "title": "chat"}}
	if text != "" {
		m["text"] = text
	}
	for k, v := range extra {
		m[k] = v
	}
	return map[string]any{"message": m}
}

// preCheckout pushes a pre_checkout_query from u and returns its id.
func (f *fakeAPI) preCheckout(u user, payload, currency string, total int) string {
	f.mu.Lock()
	id := fmt.Sprintf("pcq%d", len(f.updates)+1)
	f.mu.Unlock()
	f.push(map[string]any{"pre_checkout_query": map[string]any{"id": id, "from": u.json(),
		"currency": currency, "total_amount": total, "invoice_payload": payload}})
	return id
}

// preCheckoutAnswer waits for the bot's answer to query id: ok, and the
// error message shown when not.
func (f *fakeAPI) preCheckoutAnswer(id string, timeout time.Duration) (bool, string) {
	f.t.Helper()
	var got apiCall
	f.waitFor("the answer to pre-checkout "+id, timeout, func() bool {
		for _, c := range f.callsTo("answerPreCheckoutQuery", 0) {
			if str(c.Params, "pre_checkout_query_id") == id && c.Code == 200 {
				got = c
				return true
			}
		}
		return false
	})
	return str(got.Params, "ok") == "true", str(got.Params, "error_message")
}

// paid pushes the successful_payment message Telegram sends after a payment.
func (f *fakeAPI) paid(u user, payload string, stars int, charge string) {
	f.push(f.message(u.ID, u, "", map[string]any{"successful_payment": map[string]any{
		"currency": "XTR", "total_amount": stars, "invoice_payload": payload,
		"telegram_payment_charge_id": charge, "provider_payment_charge_id": ""}}))
}

// pay does what Telegram does when u pays the invoice inv: a pre-checkout
// query, and the successful payment if the bot accepted it.
func (f *fakeAPI) pay(u user, inv fakeMsg, charge string) bool {
	f.t.Helper()
	payload := str(inv.Invoice, "payload")
	var prices []struct {
		Amount int `json:"amount"`
	}
	b, _ := json.Marshal(inv.Invoice["prices"])
	json.Unmarshal(b, &prices)
	if len(prices) != 1 {
		f.t.Fatalf("invoice prices: %s", b)
	}
	okd, _ := f.preCheckoutAnswer(f.preCheckout(u, payload, str(inv.Invoice, "currency"), prices[0].Amount), 10*time.Second)
	if okd {
		f.paid(u, payload, prices[0].Amount, charge)
	}
	return okd
}

// say pushes a text message from u in chat.
func (f *fakeAPI) say(chat int64, u user, text string) {
	f.push(f.message(chat, u, text, nil))
}

// setChatType declares a chat's type (private, group, supergroup).
func (f *fakeAPI) setChatType(chat int64, typ string) {
	f.mu.Lock()
	f.chatTypes[chat] = typ
	f.mu.Unlock()
}

// floodAfter makes the (skip+1)-th next request of method to chat (0: any)
// answer 429 with retry_after.
func (f *fakeAPI) floodAfter(method string, chat int64, skip, retry int) {
	f.mu.Lock()
	f.floods = append(f.floods, &floodRule{method: method, chat: chat, skip: skip, retry: retry})
	f.mu.Unlock()
}

func (f *fakeAPI) setRejectHTML(v bool) {
	f.mu.Lock()
	f.rejectHTML = v
	f.mu.Unlock()
}

func (f *fakeAPI) setStatus(chat, user int64, status string) {
	f.mu.Lock()
	f.status[[2]int64{chat, user}] = status
	f.mu.Unlock()
}

// botMessages returns copies of the bot's messages in chat, in order.
func (f *fakeAPI) botMessages(chat int64) []fakeMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeMsg
	for _, m := range f.msgs[chat] {
		if m.FromBot && !m.Deleted {
			c := *m
			c.History = append([]string(nil), m.History...)
			out = append(out, c)
		}
	}
	return out
}

// log returns a copy of the request log.
func (f *fakeAPI) log() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

// callsTo returns the requests of method (to chat, if not 0).
func (f *fakeAPI) callsTo(method string, chat int64) []apiCall {
	var out []apiCall
	for _, c := range f.log() {
		if c.Method == method && (chat == 0 || num(c.Params, "chat_id") == chat) {
			out = append(out, c)
		}
	}
	return out
}

// waitFor polls cond until it holds or the test times out.
func (f *fakeAPI) waitFor(what string, timeout time.Duration, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReply waits until the bot's messages in chat number at least n and
// the last one is final (has a footer or matches done) and returns them.
func (f *fakeAPI) waitFinal(chat int64, timeout time.Duration) []fakeMsg {
	f.t.Helper()
	var ms []fakeMsg
	f.waitFor(fmt.Sprintf("a final answer in chat %d", chat), timeout, func() bool {
		ms = f.botMessages(chat)
		return len(ms) > 0 && strings.Contains(ms[len(ms)-1].Visible, footerRule)
	})
	return ms
}

// waitText waits for a bot message in chat containing sub and returns it.
func (f *fakeAPI) waitText(chat int64, sub string, timeout time.Duration) fakeMsg {
	f.t.Helper()
	var got fakeMsg
	f.waitFor(fmt.Sprintf("a message containing %q in chat %d", sub, chat), timeout, func() bool {
		for _, m := range f.botMessages(chat) {
			if strings.Contains(m.Visible, sub) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// body is the answer part of a message (without the footer).
func body(visible string) string {
	b, _, _ := strings.Cut(visible, "\n\n"+footerRule+"\n")
	return b
}

// footer is the footer line of a message ("" if none).
func footer(visible string) string {
	_, f, _ := strings.Cut(visible, "\n\n"+footerRule+"\n")
	return f
}

// parseTelegramHTML checks HTML as Telegram's parser does and returns the
// visible text: only Telegram's tags, properly nested and closed, only
// known entities, a tags with href.
func parseTelegramHTML(s string) (string, error) {
	allowed := map[string]bool{"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true,
		"s": true, "strike": true, "del": true, "a": true, "code": true, "pre": true, "blockquote": true,
		"tg-spoiler": true, "span": true, "tg-emoji": true}
	var vis strings.Builder
	var stack []string
	for i := 0; i < len(s); {
		switch s[i] {
		case '<':
			j := strings.IndexByte(s[i:], '>')
			if j < 0 {
				return "", fmt.Errorf("can't find end of the tag starting at byte offset %d", i)
			}
			tag := s[i+1 : i+j]
			if strings.HasPrefix(tag, "/") {
				name := tag[1:]
				if len(stack) == 0 || stack[len(stack)-1] != name {
					return "", fmt.Errorf("can't find start tag corresponding to end tag %q at byte offset %d", name, i)
				}
				stack = stack[:len(stack)-1]
			} else {
				name, attrs, _ := strings.Cut(tag, " ")
				if !allowed[name] {
					return "", fmt.Errorf("unsupported start tag %q at byte offset %d", name, i)
				}
				switch {
				case name == "a":
					if !strings.HasPrefix(attrs, `href="`) || !strings.HasSuffix(attrs, `"`) || strings.Count(attrs, `"`) != 2 {
						return "", fmt.Errorf("bad a tag at byte offset %d", i)
					}
				case name == "code" && attrs != "":
					if !strings.HasPrefix(attrs, `class="language-`) || !strings.HasSuffix(attrs, `"`) {
						return "", fmt.Errorf("bad code tag at byte offset %d", i)
					}
				case attrs != "" && name != "span" && name != "tg-emoji" && name != "blockquote":
					return "", fmt.Errorf("unexpected attributes of %q at byte offset %d", name, i)
				}
				stack = append(stack, name)
			}
			i += j + 1
		case '&':
			j := strings.IndexByte(s[i:], ';')
			if j < 0 || j > 12 {
				return "", fmt.Errorf("unterminated entity at byte offset %d", i)
			}
			ent := s[i : i+j+1]
			switch {
			case ent == "&lt;":
				vis.WriteByte('<')
			case ent == "&gt;":
				vis.WriteByte('>')
			case ent == "&amp;":
				vis.WriteByte('&')
			case ent == "&quot;":
				vis.WriteByte('"')
			case strings.HasPrefix(ent, "&#"):
				n, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSuffix(ent[2:], ";"), "x"), 10, 32)
				if err != nil {
					return "", fmt.Errorf("bad entity %q", ent)
				}
				vis.WriteRune(rune(n))
			default:
				return "", fmt.Errorf("unsupported HTML entity %q at byte offset %d", ent, i)
			}
			i += j + 1
		case '>':
			vis.WriteByte('>')
			i++
		default:
			vis.WriteByte(s[i])
			i++
		}
	}
	if len(stack) > 0 {
		return "", fmt.Errorf("can't find end tag corresponding to start tag %q", stack[len(stack)-1])
	}
	return vis.String(), nil
}
