package appreg

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Text is what the bot says, as structure rather than markup: a sequence of
// spans, each plain text, bold, italic, code, a link, a mention of a user or
// a channel, or a status icon. Line breaks are "\n" inside plain spans.
//
// Every adapter renders Text its own way (Slack as rich text, Teams as
// Adaptive Card text, the console as plain text) and must show the Text of
// every span literally: a value from a person or a customer's tenant that
// looks like markup, a mention or a link ("<!channel>", "*x*",
// "<https://x|y>") reaches chat as those characters, never as what they
// would mean in the platform's markup. Nothing platform-specific is in a
// Text, so it may be stored (Conversation.Reason is one).
type Text []Span

// Span is one run of Text. Which fields matter depends on Kind.
type Span struct {
	Kind SpanKind `json:"k,omitempty"`
	// Text is the span's literal text (plain, bold, italic, code, the label
	// of a link, and the display name of a mentioned user when known).
	Text string `json:"t,omitempty"`
	// URL is a link's target (SpanLink).
	URL string `json:"u,omitempty"`
	// ID is the platform's id of a mentioned user or channel (SpanUser,
	// SpanChannel).
	ID string `json:"id,omitempty"`
	// Icon is the status icon (SpanIcon).
	Icon Icon `json:"i,omitempty"`
}

// SpanKind says what a Span is.
type SpanKind string

// The kinds of span.
const (
	SpanPlain   SpanKind = ""
	SpanBold    SpanKind = "b"
	SpanItalic  SpanKind = "i"
	SpanCode    SpanKind = "c"
	SpanLink    SpanKind = "a"
	SpanUser    SpanKind = "user"
	SpanChannel SpanKind = "channel"
	SpanIcon    SpanKind = "icon"
)

// Icon is a status icon from a fixed set; each adapter picks its own glyph
// and renders it followed by a space, so T(IconOK, "Done") reads "✅ Done".
type Icon string

// The status icons.
const (
	IconOK      Icon = "ok"      // done, valid, present
	IconWarn    Icon = "warn"    // attention, drift, a failed step that can be retried
	IconFail    Icon = "fail"    // stopped, rejected, expired for good
	IconWait    Icon = "wait"    // waiting for someone or something
	IconKey     Icon = "key"     // a sign-in code
	IconLock    Icon = "lock"    // a secret
	IconInfo    Icon = "info"    // a note
	IconWork    Icon = "work"    // working on it
	IconAsk     Icon = "ask"     // waiting for a person's decision
	IconStop    Icon = "stop"    // cancelled, refused
	IconPause   Icon = "pause"   // paused until someone acts
	IconParty   Icon = "party"   // a registration created
	IconClean   Icon = "clean"   // a cleanup done
	IconSearch  Icon = "search"  // a check's findings
	IconRotate  Icon = "rotate"  // a rotation
	IconAlert   Icon = "alert"   // a final alert
	IconSnooze  Icon = "snooze"  // snoozed
	IconTest    Icon = "test"    // the simulated tenant
	IconExpired Icon = "expired" // a secret past its expiry
)

// Icons lists every icon, for adapters' tests.
func Icons() []Icon {
	return []Icon{IconOK, IconWarn, IconFail, IconWait, IconKey, IconLock, IconInfo, IconWork, IconAsk, IconStop,
		IconPause, IconParty, IconClean, IconSearch, IconRotate, IconAlert, IconSnooze, IconTest, IconExpired}
}

// Plain is a plain span.
func Plain(s string) Span { return Span{Text: s} }

// Bold is a bold span.
func Bold(s string) Span { return Span{Kind: SpanBold, Text: s} }

// Italic is an italic span.
func Italic(s string) Span { return Span{Kind: SpanItalic, Text: s} }

// Code is a span of code: an id, a command, a value to copy.
func Code(s string) Span { return Span{Kind: SpanCode, Text: s} }

// Link is a link to url with a label ("" shows the url).
func Link(url, label string) Span { return Span{Kind: SpanLink, URL: url, Text: label} }

// Mention mentions a user of the platform the message goes to.
func Mention(u User) Span { return Span{Kind: SpanUser, ID: u.ID, Text: u.Name} }

// MentionID mentions a user known only by id.
func MentionID(id string) Span { return Span{Kind: SpanUser, ID: id} }

// Channel refers to a channel of the platform the message goes to.
func Channel(id string) Span { return Span{Kind: SpanChannel, ID: id} }

// Span returns the icon as a span.
func (i Icon) Span() Span { return Span{Kind: SpanIcon, Icon: i} }

// T composes Text from parts: a string is a plain span; a Span, a Text and
// an Icon are themselves; anything else is formatted with fmt.Sprint as
// plain text. Adjacent plain strings are merged.
func T(parts ...any) Text {
	var t Text
	for _, p := range parts {
		t = t.add(p)
	}
	return t
}

// Textf formats like fmt.Sprintf, except that an argument that is a Span,
// a Text or an Icon is inserted as it is, whatever its verb: the format's
// literal parts and the other arguments become plain text.
//
//	Textf("Starting the onboarding of %s.", Bold(tenant))
func Textf(format string, args ...any) Text {
	var t Text
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t = t.add(lit.String())
			lit.Reset()
		}
	}
	next := 0
	for i := 0; i < len(format); i++ {
		ch := format[i]
		if ch != '%' {
			lit.WriteByte(ch)
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("+-# 0123456789.", format[j]) >= 0 {
			j++
		}
		if j >= len(format) {
			lit.WriteString(format[i:])
			break
		}
		verb := format[i : j+1]
		i = j
		if format[j] == '%' {
			lit.WriteByte('%')
			continue
		}
		if next >= len(args) {
			lit.WriteString("%!" + string(format[j]) + "(MISSING)")
			continue
		}
		arg := args[next]
		next++
		switch arg.(type) {
		case Span, Text, Icon:
			flush()
			t = t.add(arg)
		default:
			lit.WriteString(fmt.Sprintf(verb, arg))
		}
	}
	flush()
	return t
}

func (t Text) add(p any) Text {
	switch v := p.(type) {
	case string:
		if v == "" {
			return t
		}
		if n := len(t); n > 0 && t[n-1].Kind == SpanPlain {
			out := append(Text(nil), t...)
			out[n-1].Text += v
			return out
		}
		return append(t, Plain(v))
	case Span:
		if v.Kind == SpanPlain {
			return t.add(v.Text)
		}
		return append(t, v)
	case Text:
		for _, s := range v {
			t = t.add(s)
		}
		return t
	case Icon:
		return append(t, v.Span())
	case nil:
		return t
	}
	return t.add(fmt.Sprint(p))
}

// Append returns t followed by parts, composed as by T.
func (t Text) Append(parts ...any) Text {
	out := append(Text(nil), t...)
	for _, p := range parts {
		out = out.add(p)
	}
	return out
}

// Join composes texts with sep between them.
func Join(texts []Text, sep string) Text {
	var out Text
	for i, t := range texts {
		if i > 0 {
			out = out.add(sep)
		}
		out = out.add(t)
	}
	return out
}

// IsEmpty reports whether t says nothing.
func (t Text) IsEmpty() bool {
	for _, s := range t {
		if s.Text != "" || s.Kind != SpanPlain {
			return false
		}
	}
	return true
}

// String is t as plain text, for logs, tests and fallbacks: icons are left
// out, mentions show the name (or "@id"), links their label and target.
func (t Text) String() string {
	var b strings.Builder
	for _, s := range t {
		switch s.Kind {
		case SpanIcon:
		case SpanUser:
			b.WriteString("@" + cmpOr(s.Text, s.ID))
		case SpanChannel:
			b.WriteString("#" + cmpOr(s.Text, s.ID))
		case SpanLink:
			if s.Text == "" || s.Text == s.URL {
				b.WriteString(s.URL)
			} else {
				b.WriteString(s.Text + " (" + s.URL + ")")
			}
		default:
			b.WriteString(s.Text)
		}
	}
	return b.String()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// UnmarshalJSON reads a Text, or a plain string as one plain span: records
// stored before Text existed held plain strings.
func (t *Text) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = T(s)
		return nil
	}
	var spans []Span
	if err := json.Unmarshal(b, &spans); err != nil {
		return err
	}
	*t = spans
	return nil
}
