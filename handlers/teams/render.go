package teams

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Cards: every appreg.Message the bot sends to Teams is an Adaptive Card
// (schema 1.5, which Teams supports), built so that what a person or a
// customer's tenant typed is shown literally, by construction:
//
//   - Text is RichTextBlocks of TextRuns, one block a line. Teams parses
//     Markdown in TextBlock text and in FactSet titles and values, and turns
//     "<at>…</at>" into a mention in TextBlock and FactSet; a TextRun's text
//     is not Markdown (the Adaptive Cards renderer sets it as the element's
//     plain text). The one expansion left in a TextRun is the card's date
//     functions ("{{DATE(…)}}", "{{TIME(…)}}"): a run is split between the
//     two braces of every "{{", so no run can hold one.
//   - Bold, italic and code spans are TextRun styles (weight, italic,
//     monospace). A link is a TextRun whose selectAction is Action.OpenUrl,
//     for https URLs only; any other link is shown as its label and target.
//   - A user mention is the user's display name in bold, not a Teams
//     @mention: a card mention needs the "<at>name</at>" text in a TextBlock
//     (or a FactSet), which would also render the rest of that text as
//     Markdown. Nothing the bot says needs to notify the person it names.
//   - Fields are ColumnSets of RichTextBlocks (never a FactSet), buttons
//     Action.Execute with verb = the button's action id and data
//     {"verb", "value"}, icons Unicode emoji.
//
// Cards stay under Teams' limit of about 28 KB: text and fields are clipped
// to a budget that shrinks until the card fits.

// Adaptive Card constants.
const (
	contentTypeCard    = "application/vnd.microsoft.card.adaptive"
	cardSchema         = "http://adaptivecards.io/schemas/adaptive-card.json"
	cardVersion        = "1.5"
	maxCardBytes       = 26 * 1024 // Teams refuses activities over ~28 KB
	maxButtons         = 6         // Teams shows at most six actions
	maxButtonTitle     = 60
	maxFieldLabel      = 200
	formVerb           = "teams.submit" // the verb of a form's submit button
	inputPrefix        = "in:"          // card input ids: "in:" + FormInput.ID
	dataVerb           = "verb"
	dataValue          = "value"
	dataForm           = "form"
	defaultInputLength = 500
)

// textBudgets are the successive rune budgets of a card's text and fields:
// the first that gives a card under maxCardBytes is used.
var textBudgets = []int{12000, 5000, 2000, 600}

// card is an Adaptive Card.
type card struct {
	Type    string   `json:"type"`
	Schema  string   `json:"$schema"`
	Version string   `json:"version"`
	Body    []any    `json:"body"`
	Actions []action `json:"actions,omitempty"`
	MSTeams *msteams `json:"msteams,omitempty"`
}

type msteams struct {
	Width string `json:"width,omitempty"`
}

type richTextBlock struct {
	Type    string    `json:"type"` // RichTextBlock
	Inlines []textRun `json:"inlines"`
	Spacing string    `json:"spacing,omitempty"`
}

type textRun struct {
	Type         string  `json:"type"` // TextRun
	Text         string  `json:"text"`
	Weight       string  `json:"weight,omitempty"`
	Italic       bool    `json:"italic,omitempty"`
	FontType     string  `json:"fontType,omitempty"`
	Color        string  `json:"color,omitempty"`
	IsSubtle     bool    `json:"isSubtle,omitempty"`
	SelectAction *action `json:"selectAction,omitempty"`
}

type columnSet struct {
	Type    string   `json:"type"` // ColumnSet
	Columns []column `json:"columns"`
	Spacing string   `json:"spacing,omitempty"`
}

type column struct {
	Type  string `json:"type"` // Column
	Width string `json:"width"`
	Items []any  `json:"items"`
}

type inputText struct {
	Type        string `json:"type"` // Input.Text
	ID          string `json:"id"`
	Placeholder string `json:"placeholder,omitempty"`
	MaxLength   int    `json:"maxLength,omitempty"`
	Value       string `json:"value,omitempty"`
}

type action struct {
	Type  string         `json:"type"`
	Title string         `json:"title,omitempty"`
	Verb  string         `json:"verb,omitempty"`
	Data  map[string]any `json:"data,omitempty"`
	URL   string         `json:"url,omitempty"`
	Style string         `json:"style,omitempty"`
}

// names resolves the display names of mentioned users and channels whose
// span carries only an id; a missing name shows the id.
type names map[string]string

// messageCard renders msg as a card that fits Teams' size limit.
func messageCard(msg appreg.Message, nm names) card {
	var c card
	for _, budget := range textBudgets {
		c = renderMessage(msg, nm, budget)
		if cardSize(c) <= maxCardBytes {
			return c
		}
	}
	return c
}

// renderMessage renders msg with at most budget runes of text and fields.
func renderMessage(msg appreg.Message, nm names, budget int) card {
	c := newCard()
	b := &budgeted{left: budget}
	c.Body = append(c.Body, b.text(msg.Text, nm)...)
	for _, f := range msg.Fields {
		if b.left <= 0 {
			break
		}
		label := b.runs(clip(f.Label, maxFieldLabel), textRun{Weight: "Bolder"})
		value := b.runs(f.Value, textRun{})
		c.Body = append(c.Body, columnSet{Type: "ColumnSet", Spacing: "Small", Columns: []column{
			{Type: "Column", Width: "1", Items: []any{paragraph(label, "")}},
			{Type: "Column", Width: "2", Items: []any{paragraph(value, "")}},
		}})
	}
	if b.left <= 0 {
		c.Body = append(c.Body, paragraph([]textRun{{Type: "TextRun", Text: "…", IsSubtle: true}}, ""))
	}
	for _, btn := range msg.Buttons[:min(len(msg.Buttons), maxButtons)] {
		c.Actions = append(c.Actions, action{
			Type: "Action.Execute", Title: clip(btn.Label, maxButtonTitle), Verb: btn.ActionID,
			Data: map[string]any{dataVerb: btn.ActionID, dataValue: btn.Value}, Style: buttonStyle(btn.Style),
		})
	}
	if len(c.Body) == 0 {
		c.Body = append(c.Body, paragraph([]textRun{{Type: "TextRun", Text: " "}}, ""))
	}
	return c
}

// formCard renders form as a card with a text input for each of its
// inputs, holding values, with errs (by input id) shown under them, and a
// submit button (Action.Execute, verb formVerb) whose data carries the
// form.
func formCard(form appreg.Form, values, errs map[string]string) card {
	c := newCard()
	b := &budgeted{left: textBudgets[0]}
	c.Body = append(c.Body, paragraph(b.runs(form.Title, textRun{Weight: "Bolder"}), ""))
	for _, in := range form.Inputs {
		c.Body = append(c.Body, paragraph(b.runs(cmp.Or(in.Label, in.ID), textRun{}), "Medium"))
		max := in.MaxLength
		if max <= 0 {
			max = defaultInputLength
		}
		c.Body = append(c.Body, inputText{Type: "Input.Text", ID: inputPrefix + in.ID,
			Placeholder: in.Placeholder, MaxLength: max, Value: clip(values[in.ID], max)})
		if e := errs[in.ID]; e != "" {
			c.Body = append(c.Body, paragraph(b.runs(iconGlyph(appreg.IconWarn)+" "+e, textRun{Color: "Attention"}), "Small"))
		}
		if in.Hint != "" {
			c.Body = append(c.Body, paragraph(b.runs(in.Hint, textRun{IsSubtle: true}), "Small"))
		}
	}
	c.Actions = []action{{
		Type: "Action.Execute", Title: clip(cmp.Or(form.Submit, "Submit"), maxButtonTitle), Verb: formVerb, Style: "positive",
		Data: map[string]any{dataVerb: formVerb, dataForm: form},
	}}
	return c
}

// submittedCard replaces a form once it is accepted: the title and what
// was entered.
func submittedCard(form appreg.Form, values map[string]string) card {
	c := newCard()
	b := &budgeted{left: textBudgets[1]}
	head := append([]textRun{{Type: "TextRun", Text: iconGlyph(appreg.IconOK) + " "}}, b.runs(form.Title, textRun{Weight: "Bolder"})...)
	head = append(head, b.runs(": sent.", textRun{})...)
	c.Body = append(c.Body, paragraph(head, ""))
	for _, in := range form.Inputs {
		runs := b.runs(cmp.Or(in.Label, in.ID)+": ", textRun{IsSubtle: true})
		runs = append(runs, b.runs(values[in.ID], textRun{Weight: "Bolder"})...)
		c.Body = append(c.Body, paragraph(runs, "Small"))
	}
	return c
}

func newCard() card {
	return card{Type: "AdaptiveCard", Schema: cardSchema, Version: cardVersion, MSTeams: &msteams{Width: "Full"}}
}

// cardAttachment wraps a card for an activity.
func cardAttachment(c card) Attachment {
	return Attachment{ContentType: contentTypeCard, Content: encode(c)}
}

// encode is JSON without HTML escaping: the card's text is the characters
// it holds, and "<" costs one byte, not six.
func encode(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("teams: encoding a card: " + err.Error()) // only plain data is encoded
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func cardSize(c card) int { return len(encode(c)) }

func paragraph(runs []textRun, spacing string) richTextBlock {
	if len(runs) == 0 {
		runs = []textRun{{Type: "TextRun", Text: " "}}
	}
	return richTextBlock{Type: "RichTextBlock", Inlines: runs, Spacing: spacing}
}

// budgeted renders text while a rune budget lasts.
type budgeted struct{ left int }

// text renders t as paragraphs: one RichTextBlock a line, an empty line
// turning into spacing before the next.
func (b *budgeted) text(t appreg.Text, nm names) []any {
	var out []any
	var line []textRun
	spacing := ""
	flush := func(end bool) {
		if len(line) > 0 {
			out = append(out, paragraph(line, spacing))
			spacing = ""
		} else if !end && len(out) > 0 {
			spacing = "Medium"
		}
		line = nil
	}
	add := func(s string, style textRun) {
		for i, part := range strings.Split(s, "\n") {
			if i > 0 {
				flush(false)
			}
			line = append(line, b.runs(part, style)...)
		}
	}
	for _, sp := range t {
		if b.left <= 0 {
			break
		}
		switch sp.Kind {
		case appreg.SpanBold:
			add(sp.Text, textRun{Weight: "Bolder"})
		case appreg.SpanItalic:
			add(sp.Text, textRun{Italic: true})
		case appreg.SpanCode:
			add(sp.Text, textRun{FontType: "Monospace"})
		case appreg.SpanLink:
			if !httpsURL(sp.URL) {
				add(appreg.T(sp).String(), textRun{})
				continue
			}
			label := cmp.Or(sp.Text, sp.URL)
			add(label, textRun{Color: "Accent", SelectAction: &action{Type: "Action.OpenUrl", URL: sp.URL}})
			b.left -= utf8.RuneCountInString(sp.URL)
		case appreg.SpanUser:
			add(cmp.Or(sp.Text, nm[sp.ID], sp.ID), textRun{Weight: "Bolder"})
		case appreg.SpanChannel:
			add("#"+cmp.Or(sp.Text, nm[sp.ID], sp.ID), textRun{Weight: "Bolder"})
		case appreg.SpanIcon:
			add(iconGlyph(sp.Icon)+" ", textRun{})
		default:
			add(sp.Text, textRun{})
		}
	}
	flush(true)
	if b.left <= 0 {
		out = append(out, paragraph([]textRun{{Type: "TextRun", Text: "…", IsSubtle: true}}, ""))
	}
	return out
}

// runs returns s, cut to the budget, as TextRuns of the given style, split
// so that no run holds "{{" (which would start a date function).
func (b *budgeted) runs(s string, style textRun) []textRun {
	if s == "" || b.left <= 0 {
		return nil
	}
	s = clip(s, b.left)
	b.left -= utf8.RuneCountInString(s)
	var out []textRun
	for s != "" {
		cut := len(s)
		if i := strings.Index(s, "{{"); i >= 0 {
			cut = i + 1
		}
		r := style
		r.Type, r.Text = "TextRun", s[:cut]
		out = append(out, r)
		s = s[cut:]
	}
	return out
}

// httpsURL reports whether a link may be a live link: an absolute https
// URL with a host and no credentials.
func httpsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}

func buttonStyle(s appreg.ButtonStyle) string {
	switch s {
	case appreg.ButtonPrimary:
		return "positive"
	case appreg.ButtonDanger:
		return "destructive"
	}
	return ""
}

// iconGlyph is the Unicode emoji of an icon.
func iconGlyph(i appreg.Icon) string {
	switch i {
	case appreg.IconOK:
		return "✅"
	case appreg.IconWarn:
		return "⚠️"
	case appreg.IconFail:
		return "❌"
	case appreg.IconWait:
		return "⏳"
	case appreg.IconKey:
		return "🔑"
	case appreg.IconLock:
		return "🔒"
	case appreg.IconInfo:
		return "ℹ️"
	case appreg.IconWork:
		return "⚙️"
	case appreg.IconAsk:
		return "✋"
	case appreg.IconStop:
		return "🚫"
	case appreg.IconPause:
		return "⏸️"
	case appreg.IconParty:
		return "🎉"
	case appreg.IconClean:
		return "🧹"
	case appreg.IconSearch:
		return "🔍"
	case appreg.IconRotate:
		return "🔄"
	case appreg.IconAlert:
		return "🚨"
	case appreg.IconSnooze:
		return "💤"
	case appreg.IconTest:
		return "🧪"
	case appreg.IconExpired:
		return "🔴"
	}
	return "🔹"
}

// plainText is msg as one line of plain text, for an invoke's short
// answer: icons as emoji, the rest as appreg.Text.String gives it.
func plainText(t appreg.Text) string {
	var b strings.Builder
	for _, sp := range t {
		if sp.Kind == appreg.SpanIcon {
			b.WriteString(iconGlyph(sp.Icon) + " ")
			continue
		}
		b.WriteString(appreg.T(sp).String())
	}
	return strings.TrimSpace(b.String())
}

// clip shortens s to at most n runes, marking the cut with an ellipsis.
func clip(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
