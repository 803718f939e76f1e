package slackbot

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
const (
	maxSectionText   = 3000
	maxFieldText     = 2000
	maxFieldsPerSect = 10
	maxButtonLabel   = 75
	maxButtonValue   = 2000
	maxActionButtons = 25
	maxModalTitle    = 24
	maxModalButton   = 24
	maxInputLabel    = 2000
	maxPlaceholder   = 150
)

// FormValueActionID is the action_id of the text input in every input block
// of a modal: a submission's value for input X is
// view.state.values[X][FormValueActionID].value.
const FormValueActionID = "value"

// blocks renders msg as Block Kit: a rich_text block with the text, plain
// text sections of at most ten fields, and one actions block with the
// buttons.
//
// Rich text rather than mrkdwn: each span becomes an element of its own
// (text with a style, link, user, channel, emoji), so a value from a person
// or a tenant is shown as the characters it holds. "<!channel>",
// "<https://x|y>" or "*x*" in a reason is text, never a mention, a link or
// bold; Slack parses no markup inside a rich_text text element. Fields are
// plain_text for the same reason.
func blocks(msg appreg.Message) []slack.Block {
	var out []slack.Block
	if !msg.Text.IsEmpty() {
		out = append(out, slack.NewRichTextBlock("", slack.NewRichTextSection(richText(msg.Text, maxSectionText)...)))
	}
	for chunk := range slices.Chunk(msg.Fields, maxFieldsPerSect) {
		fields := make([]*slack.TextBlockObject, 0, len(chunk))
		for _, f := range chunk {
			fields = append(fields, plain(clip(f.Label+"\n"+f.Value, maxFieldText)))
		}
		out = append(out, slack.NewSectionBlock(nil, fields, nil))
	}
	if len(msg.Buttons) > 0 {
		var elems []slack.BlockElement
		for _, b := range msg.Buttons[:min(len(msg.Buttons), maxActionButtons)] {
			btn := slack.NewButtonBlockElement(b.ActionID, clip(b.Value, maxButtonValue), plain(clip(b.Label, maxButtonLabel)))
			btn.Style = slack.Style(b.Style)
			elems = append(elems, btn)
		}
		out = append(out, slack.NewActionBlock("", elems...))
	}
	return out
}

// richText renders t as rich-text section elements, with at most limit
// characters of text in all.
func richText(t appreg.Text, limit int) []slack.RichTextSectionElement {
	var out []slack.RichTextSectionElement
	left := limit
	text := func(s string, style *slack.RichTextSectionTextStyle) {
		if s == "" || left <= 0 {
			return
		}
		s = clip(s, left)
		left -= utf8.RuneCountInString(s)
		out = append(out, slack.NewRichTextSectionTextElement(s, style))
	}
	for _, sp := range t {
		if left <= 0 {
			break
		}
		switch sp.Kind {
		case appreg.SpanBold:
			text(sp.Text, &slack.RichTextSectionTextStyle{Bold: true})
		case appreg.SpanItalic:
			text(sp.Text, &slack.RichTextSectionTextStyle{Italic: true})
		case appreg.SpanCode:
			text(sp.Text, &slack.RichTextSectionTextStyle{Code: true})
		case appreg.SpanLink:
			if !webURL(sp.URL) {
				text(appreg.T(sp).String(), nil)
				continue
			}
			out = append(out, slack.NewRichTextSectionLinkElement(sp.URL, clip(sp.Text, max(left, 1)), nil))
			left -= max(utf8.RuneCountInString(sp.Text), utf8.RuneCountInString(sp.URL))
		case appreg.SpanUser:
			if !userID(sp.ID) {
				text("@"+cmp.Or(sp.Text, sp.ID), nil)
				continue
			}
			out = append(out, slack.NewRichTextSectionUserElement(sp.ID, nil))
			left -= len(sp.ID)
		case appreg.SpanChannel:
			if !channelID(sp.ID) {
				text("#"+cmp.Or(sp.Text, sp.ID), nil)
				continue
			}
			out = append(out, slack.NewRichTextSectionChannelElement(sp.ID, nil))
			left -= len(sp.ID)
		case appreg.SpanIcon:
			out = append(out, slack.NewRichTextSectionEmojiElement(emoji(sp.Icon), 0, nil))
			text(" ", nil)
		default:
			text(sp.Text, nil)
		}
	}
	if left <= 0 {
		out = append(out, slack.NewRichTextSectionTextElement("…", nil))
	}
	return out
}

// emoji is Slack's name of an icon.
func emoji(i appreg.Icon) string {
	switch i {
	case appreg.IconOK:
		return "white_check_mark"
	case appreg.IconWarn:
		return "warning"
	case appreg.IconFail:
		return "x"
	case appreg.IconWait:
		return "hourglass_flowing_sand"
	case appreg.IconKey:
		return "key"
	case appreg.IconLock:
		return "lock"
	case appreg.IconInfo:
		return "information_source"
	case appreg.IconWork:
		return "gear"
	case appreg.IconAsk:
		return "raised_hand"
	case appreg.IconStop:
		return "no_entry_sign"
	case appreg.IconPause:
		return "double_vertical_bar"
	case appreg.IconParty:
		return "tada"
	case appreg.IconClean:
		return "broom"
	case appreg.IconSearch:
		return "mag"
	case appreg.IconRotate:
		return "arrows_counterclockwise"
	case appreg.IconAlert:
		return "rotating_light"
	case appreg.IconSnooze:
		return "zzz"
	case appreg.IconTest:
		return "test_tube"
	case appreg.IconExpired:
		return "red_circle"
	}
	return "small_blue_diamond"
}

// Slack's ids: a user (U…, W…) and a conversation (C…, G…, D…). A mention
// of anything else (a user of another platform, in an audit record) is
// shown as text.
var (
	userIDPattern    = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	channelIDPattern = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)
)

func userID(id string) bool    { return userIDPattern.MatchString(id) }
func channelID(id string) bool { return channelIDPattern.MatchString(id) }

func webURL(u string) bool {
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")
}

// fallback is the plain text of msg for notifications and clients that
// cannot show blocks. Slack reads it as mrkdwn, so &, < and > are escaped:
// a value that looks like a mention or a link stays text here too.
func fallback(msg appreg.Message) string {
	lines := []string{msg.Text.String()}
	if msg.Text.IsEmpty() {
		lines = lines[:0]
	}
	for _, f := range msg.Fields {
		lines = append(lines, f.Label+": "+f.Value)
	}
	return escape(strings.Join(lines, "\n"))
}

// escape escapes the three characters Slack's markup gives a meaning.
func escape(s string) string { return mrkdwnEscaper.Replace(s) }

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// modal renders form as a modal whose callback_id is the form's ID and whose
// private_metadata is its conversation: a submission carries both back.
// Each input is an input block with block_id = input ID holding a
// plain_text_input with action_id FormValueActionID.
func modal(form appreg.Form) slack.ModalViewRequest {
	v := slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      form.ID,
		PrivateMetadata: form.Conversation,
		Title:           plain(clip(orDefault(form.Title, "appreg"), maxModalTitle)),
		Submit:          plain(clip(orDefault(form.Submit, "Submit"), maxModalButton)),
		Close:           plain("Cancel"),
	}
	for _, in := range form.Inputs {
		el := slack.NewPlainTextInputBlockElement(nil, FormValueActionID)
		el.MaxLength = in.MaxLength
		if in.Placeholder != "" {
			el.Placeholder = plain(clip(in.Placeholder, maxPlaceholder))
		}
		var hint *slack.TextBlockObject
		if in.Hint != "" {
			hint = plain(clip(in.Hint, maxInputLabel))
		}
		v.Blocks.BlockSet = append(v.Blocks.BlockSet,
			slack.NewInputBlock(in.ID, plain(clip(orDefault(in.Label, in.ID), maxInputLabel)), hint, el))
	}
	return v
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

// clip shortens s to at most n runes, marking the cut with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
