// Package slackfake is a recording fake of the Slack Web API for tests.
//
// A Server is an httptest server that answers the methods appreg-bot uses
// (chat.postMessage, chat.postEphemeral, chat.update, views.open, users.info,
// usergroups.users.list, auth.test) the way Slack does, so that the real
// slack-go client can be pointed at it with
// slack.OptionAPIURL(server.URL()+"/"). Every call is recorded with its
// parameters, its text and its decoded Block Kit blocks or view, so tests
// assert on what reached "Slack" rather than on what the adapter meant to
// send. Tests seed users and user groups, inject failures (rate limits,
// Slack error codes) for the next calls of a method, and wait for calls made
// by background goroutines with WaitFor.
//
// The package does not import slack-go: it speaks the wire protocol only,
// so the Slack adapter remains the one package that imports the SDK. Sign
// produces Slack's request-signing headers for tests of inbound endpoints.
package slackfake

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/fakes/calls"
)

// Call is one recorded Web API call.
type Call struct {
	Method string // e.g. "chat.postMessage"
	Token  string // the token presented (form field or bearer), for assertions
	// Params holds the scalar parameters: the form values, or the top-level
	// string values of a JSON body. "blocks" and "view" are decoded below.
	Params map[string]string
	Text   string  // the "text" parameter
	Blocks []Block // the decoded "blocks", if any
	View   *View   // the decoded "view" of views.open, if any
	Error  string  // the error code answered; "" for ok, "ratelimited" for a 429
	At     time.Time
}

// Param returns one scalar parameter ("" when absent).
func (c Call) Param(name string) string { return c.Params[name] }

// Text is a Block Kit text object.
type Text struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// Element is the subset of Block Kit elements the bot sends: buttons,
// plain-text inputs and the sections of a rich_text block.
type Element struct {
	Type        string `json:"type"`
	ActionID    string `json:"action_id,omitempty"`
	Text        *Text  `json:"text,omitempty"`
	Value       string `json:"value,omitempty"`
	Style       string `json:"style,omitempty"`
	Placeholder *Text  `json:"placeholder,omitempty"`
	MaxLength   int    `json:"max_length,omitempty"`
	Multiline   bool   `json:"multiline,omitempty"`
	// Elements are the contents of a rich_text_section.
	Elements []RichElement `json:"elements,omitempty"`
}

// RichElement is an element of a rich_text_section: text with a style, a
// link, a mention of a user, a channel, a user group or everyone
// (broadcast), or an emoji.
type RichElement struct {
	Type      string     `json:"type"`
	Text      string     `json:"text,omitempty"`
	URL       string     `json:"url,omitempty"`
	UserID    string     `json:"user_id,omitempty"`
	ChannelID string     `json:"channel_id,omitempty"`
	GroupID   string     `json:"usergroup_id,omitempty"`
	Range     string     `json:"range,omitempty"` // broadcast: here, channel, everyone
	Name      string     `json:"name,omitempty"`  // emoji
	Style     *RichStyle `json:"style,omitempty"`
}

// RichStyle is the style of a rich text element.
type RichStyle struct {
	Bold   bool `json:"bold,omitempty"`
	Italic bool `json:"italic,omitempty"`
	Code   bool `json:"code,omitempty"`
}

// Block is the subset of Block Kit blocks the bot sends: rich_text,
// section, actions and input blocks.
type Block struct {
	Type     string    `json:"type"`
	BlockID  string    `json:"block_id,omitempty"`
	Text     *Text     `json:"text,omitempty"`     // section
	Fields   []Text    `json:"fields,omitempty"`   // section
	Elements []Element `json:"elements,omitempty"` // actions
	Label    *Text     `json:"label,omitempty"`    // input
	Hint     *Text     `json:"hint,omitempty"`     // input
	Element  *Element  `json:"element,omitempty"`  // input
	Optional bool      `json:"optional,omitempty"` // input
}

// View is a modal as sent to views.open.
type View struct {
	Type            string  `json:"type"`
	CallbackID      string  `json:"callback_id,omitempty"`
	PrivateMetadata string  `json:"private_metadata,omitempty"`
	Title           *Text   `json:"title,omitempty"`
	Submit          *Text   `json:"submit,omitempty"`
	Close           *Text   `json:"close,omitempty"`
	Blocks          []Block `json:"blocks"`
}

// Plain is what a person reads in the block: the text of a rich_text block
// (a user as @id, a channel as #id, an emoji as :name:, a link as its
// text), of a section and its fields, or of the buttons of an actions
// block.
func (b Block) Plain() string {
	var out strings.Builder
	switch b.Type {
	case "rich_text":
		for _, sec := range b.Elements {
			for _, el := range sec.Elements {
				switch el.Type {
				case "user":
					out.WriteString("@" + el.UserID)
				case "channel":
					out.WriteString("#" + el.ChannelID)
				case "usergroup":
					out.WriteString("@" + el.GroupID)
				case "broadcast":
					out.WriteString("@" + el.Range)
				case "emoji":
					out.WriteString(":" + el.Name + ":")
				case "link":
					out.WriteString(cmp.Or(el.Text, el.URL))
				default:
					out.WriteString(el.Text)
				}
			}
		}
	case "section":
		var parts []string
		if b.Text != nil {
			parts = append(parts, b.Text.Text)
		}
		for _, f := range b.Fields {
			parts = append(parts, f.Text)
		}
		out.WriteString(strings.Join(parts, "\n"))
	case "actions":
		var labels []string
		for _, el := range b.Elements {
			if el.Text != nil {
				labels = append(labels, "["+el.Text.Text+"]")
			}
		}
		out.WriteString(strings.Join(labels, " "))
	}
	return out.String()
}

// Shown is what a person reads in the call's blocks, one block a line.
func (c Call) Shown() string {
	lines := make([]string, 0, len(c.Blocks))
	for _, b := range c.Blocks {
		lines = append(lines, b.Plain())
	}
	return strings.Join(lines, "\n")
}

// liveMarkup finds, in text Slack reads as mrkdwn, what Slack would turn
// into a mention, a broadcast or a link: <@U…>, <#C…>, <!…>, <http…>.
var liveMarkup = regexp.MustCompile(`<[@#!][^>]*>|<(?:https?|mailto):[^>]*>`)

// Live lists what Slack would act on in the call: the mentions, broadcasts
// and links of its rich text, and the markup of the same kinds in its
// mrkdwn texts (the text parameter, mrkdwn sections and fields). A test of
// escaping expects only the mentions and links the bot meant.
func (c Call) Live() []string {
	var live []string
	mrkdwn := []string{c.Text}
	for _, b := range c.Blocks {
		if b.Text != nil && b.Text.Type == "mrkdwn" {
			mrkdwn = append(mrkdwn, b.Text.Text)
		}
		for _, f := range b.Fields {
			if f.Type == "mrkdwn" {
				mrkdwn = append(mrkdwn, f.Text)
			}
		}
		if b.Type != "rich_text" {
			continue
		}
		for _, sec := range b.Elements {
			for _, el := range sec.Elements {
				switch el.Type {
				case "user":
					live = append(live, "user:"+el.UserID)
				case "channel":
					live = append(live, "channel:"+el.ChannelID)
				case "usergroup":
					live = append(live, "usergroup:"+el.GroupID)
				case "broadcast":
					live = append(live, "broadcast:"+el.Range)
				case "link":
					live = append(live, "link:"+el.URL)
				}
			}
		}
	}
	for _, t := range mrkdwn {
		live = append(live, liveMarkup.FindAllString(t, -1)...)
	}
	return live
}

// User is a workspace member answered by users.info.
type User struct {
	ID          string
	Name        string // the handle
	RealName    string
	DisplayName string
}

// Message is the current state of a message the fake has seen posted.
type Message struct {
	Channel string
	TS      string
	Thread  string
	Text    string
	Blocks  []Block
	Updates int // how many chat.update calls changed it
}

// failure is an injected answer to the next call of a method.
type failure struct {
	retryAfter int    // seconds; > 0 means HTTP 429
	code       string // Slack error code for ok:false
	status     int    // HTTP status other than 200 and 429
}

// Server is the fake Slack Web API. Its methods are safe for concurrent use.
type Server struct {
	token string
	srv   *httptest.Server

	calls calls.Log[Call] // every call answered, oldest first; it has its own lock

	mu       sync.Mutex
	users    map[string]User
	groups   map[string][]string
	failures map[string][]failure
	messages map[string]*Message // by channel + "/" + ts
	seq      int64
	limits   map[string]limit   // by method
	buckets  map[string]*bucket // by method + "/" + channel
}

// limit is a per-channel rate limit of one method.
type limit struct {
	perSecond float64
	burst     float64
}

// bucket is the token bucket of one method in one channel.
type bucket struct {
	tokens float64
	last   time.Time
}

// New starts a fake that accepts only token (a bot token such as
// "xoxb-test"). Close it when done.
func New(token string) *Server {
	s := &Server{
		token:    token,
		users:    map[string]User{},
		groups:   map[string][]string{},
		failures: map[string][]failure{},
		messages: map[string]*Message{},
		limits:   map[string]limit{},
		buckets:  map[string]*bucket{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base URL of the fake, without a trailing slash; slack-go wants
// URL()+"/".
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the fake down.
func (s *Server) Close() { s.srv.Close() }

// AddUser seeds a user for users.info.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// AddUserGroup seeds a user group (a "subteam") and its members for
// usergroups.users.list.
func (s *Server) AddUserGroup(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = append([]string(nil), members...)
}

// RateLimit answers the next times calls of method with HTTP 429 and a
// Retry-After header of retryAfter seconds.
func (s *Server) RateLimit(method string, times, retryAfter int) {
	s.inject(method, times, failure{retryAfter: max(retryAfter, 1)})
}

// Fail answers the next times calls of method with {"ok":false,"error":code},
// e.g. "channel_not_found" or "expired_trigger_id".
func (s *Server) Fail(method, code string, times int) {
	s.inject(method, times, failure{code: code})
}

// FailStatus answers the next times calls of method with an HTTP status
// such as 503, with no JSON body.
func (s *Server) FailStatus(method string, status, times int) {
	s.inject(method, times, failure{status: status})
}

// LimitPerChannel rate-limits method in each channel the way Slack does:
// a token bucket per channel of burst calls refilled at perSecond; a call
// beyond it is answered with HTTP 429 and a Retry-After header of the whole
// seconds until the next token (at least 1), and is recorded with Error
// "ratelimited". perSecond <= 0 removes the limit. Injected failures
// (RateLimit, Fail, FailStatus) are answered first.
func (s *Server) LimitPerChannel(method string, perSecond float64, burst int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.buckets {
		if strings.HasPrefix(k, method+"/") {
			delete(s.buckets, k)
		}
	}
	if perSecond <= 0 {
		delete(s.limits, method)
		return
	}
	s.limits[method] = limit{perSecond: perSecond, burst: float64(max(burst, 1))}
}

// limited takes a token from the bucket of the call's method and channel,
// and returns the Retry-After in seconds when there is none. s.mu is held.
func (s *Server) limited(call *Call) int {
	l, ok := s.limits[call.Method]
	if !ok {
		return 0
	}
	key := call.Method + "/" + call.Params["channel"]
	now := time.Now()
	b := s.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		s.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.perSecond)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return max(1, int(math.Ceil((1-b.tokens)/l.perSecond)))
}

func (s *Server) inject(method string, times int, f failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range times {
		s.failures[method] = append(s.failures[method], f)
	}
}

// Calls returns the recorded calls of method, oldest first; all calls when
// method is "".
func (s *Server) Calls(method string) []Call {
	return s.calls.Matching(ofMethod(method, nil))
}

// WaitFor waits until a call of method ("" for any) satisfying pred (nil for
// any) has been recorded, and returns the first such call. It returns
// ctx's error when ctx ends first.
func (s *Server) WaitFor(ctx context.Context, method string, pred func(Call) bool) (Call, error) {
	c, err := s.calls.WaitFor(ctx, ofMethod(method, pred))
	if err != nil {
		return Call{}, fmt.Errorf("slackfake: waiting for %s: %w", method, err)
	}
	return c, nil
}

// ofMethod matches the calls of method ("" for any) that satisfy pred (nil
// for any).
func ofMethod(method string, pred func(Call) bool) func(Call) bool {
	return func(c Call) bool {
		return (method == "" || c.Method == method) && (pred == nil || pred(c))
	}
}

// Message returns the current state of a message posted with
// chat.postMessage (and changed by chat.update).
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[channel+"/"+ts]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Sign returns the headers Slack adds to a request it sends with body at
// ts: X-Slack-Request-Timestamp and X-Slack-Signature, the v0 HMAC-SHA256
// of "v0:{ts}:{body}" keyed with the signing secret.
func Sign(secret string, ts time.Time, body []byte) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", stamp)
	mac.Write(body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", stamp)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/")
	call, err := parseCall(method, r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	answer, f := s.answer(&call)
	s.calls.Record(call)

	switch {
	case f.retryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
		w.WriteHeader(http.StatusTooManyRequests)
		return
	case f.status != 0:
		w.WriteHeader(f.status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(answer)
}

// answer decides the response to call, sets call.Error and applies the
// call's effect. s.mu is held.
func (s *Server) answer(call *Call) (map[string]any, failure) {
	fail := func(code string) map[string]any {
		call.Error = code
		return map[string]any{"ok": false, "error": code}
	}
	switch {
	case call.Token == "":
		return fail("not_authed"), failure{}
	case call.Token != s.token:
		return fail("invalid_auth"), failure{}
	}
	if q := s.failures[call.Method]; len(q) > 0 {
		f := q[0]
		s.failures[call.Method] = q[1:]
		switch {
		case f.retryAfter > 0:
			call.Error = "ratelimited"
			return nil, f
		case f.status != 0:
			call.Error = strconv.Itoa(f.status)
			return nil, f
		}
		return fail(f.code), failure{}
	}
	if wait := s.limited(call); wait > 0 {
		call.Error = "ratelimited"
		return nil, failure{retryAfter: wait}
	}

	p := call.Params
	ok := map[string]any{"ok": true}
	switch call.Method {
	case "auth.test":
		ok["url"], ok["team"], ok["user"], ok["team_id"], ok["user_id"], ok["bot_id"] =
			"https://fake.slack.com/", "Fake", "appreg", "T0FAKE", "U0BOT", "B0BOT"
	case "chat.postMessage":
		if p["channel"] == "" {
			return fail("channel_not_found"), failure{}
		}
		ts := s.nextTS()
		s.messages[p["channel"]+"/"+ts] = &Message{Channel: p["channel"], TS: ts, Thread: p["thread_ts"], Text: call.Text, Blocks: call.Blocks}
		ok["channel"], ok["ts"] = p["channel"], ts
		ok["message"] = map[string]any{"text": call.Text, "ts": ts, "thread_ts": p["thread_ts"]}
	case "chat.postEphemeral":
		if p["channel"] == "" {
			return fail("channel_not_found"), failure{}
		}
		if p["user"] == "" {
			return fail("user_not_in_channel"), failure{}
		}
		ok["message_ts"] = s.nextTS()
	case "chat.update":
		m, found := s.messages[p["channel"]+"/"+p["ts"]]
		if !found {
			return fail("message_not_found"), failure{}
		}
		m.Text, m.Blocks = call.Text, call.Blocks
		m.Updates++
		ok["channel"], ok["ts"], ok["text"] = m.Channel, m.TS, m.Text
	case "views.open":
		if p["trigger_id"] == "" {
			return fail("invalid_trigger_id"), failure{}
		}
		if call.View == nil {
			return fail("invalid_arguments"), failure{}
		}
		s.seq++
		ok["view"] = map[string]any{"id": fmt.Sprintf("V%08d", s.seq), "type": call.View.Type,
			"callback_id": call.View.CallbackID, "private_metadata": call.View.PrivateMetadata}
	case "users.info":
		u, found := s.users[p["user"]]
		if !found {
			return fail("user_not_found"), failure{}
		}
		ok["user"] = map[string]any{"id": u.ID, "name": u.Name, "real_name": u.RealName,
			"profile": map[string]any{"real_name": u.RealName, "display_name": u.DisplayName}}
	case "usergroups.users.list":
		members, found := s.groups[p["usergroup"]]
		if !found {
			return fail("no_such_subteam"), failure{}
		}
		ok["users"] = append([]string{}, members...)
	default:
		return fail("unknown_method"), failure{}
	}
	return ok, failure{}
}

// nextTS returns a new message timestamp, unique and increasing.
func (s *Server) nextTS() string {
	s.seq++
	micro := s.seq * 100
	return fmt.Sprintf("%d.%06d", 1700000000+micro/1e6, micro%1e6)
}

// parseCall reads a form or JSON request into a Call.
func parseCall(method string, r *http.Request) (Call, error) {
	call := Call{Method: method, Params: map[string]string{}, At: time.Now()}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return call, err
	}
	call.Token, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))

	var blocks, view json.RawMessage
	if ctype == "application/json" {
		var top map[string]json.RawMessage
		if len(body) > 0 {
			if err := json.Unmarshal(body, &top); err != nil {
				return call, fmt.Errorf("invalid JSON body: %w", err)
			}
		}
		for k, v := range top {
			var s string
			if json.Unmarshal(v, &s) == nil {
				call.Params[k] = s
			}
		}
		blocks, view = top["blocks"], top["view"]
	} else {
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return call, fmt.Errorf("invalid form body: %w", err)
		}
		for k := range values {
			call.Params[k] = values.Get(k)
		}
		if b := values.Get("blocks"); b != "" {
			blocks = json.RawMessage(b)
		}
		if v := values.Get("view"); v != "" {
			view = json.RawMessage(v)
		}
	}
	if tok, ok := call.Params["token"]; ok {
		call.Token = tok
		delete(call.Params, "token")
	}
	call.Text = call.Params["text"]
	if len(blocks) > 0 {
		if err := json.Unmarshal(blocks, &call.Blocks); err != nil {
			return call, fmt.Errorf("invalid blocks: %w", err)
		}
	}
	if len(view) > 0 {
		call.View = &View{}
		if err := json.Unmarshal(view, call.View); err != nil {
			return call, fmt.Errorf("invalid view: %w", err)
		}
	}
	return call, nil
}
