package slackbot

import (
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

// blocks renders msg as Block Kit: a section with the text, sections of at
// most ten fields, and one actions block with the buttons.
func blocks(msg appreg.Message) []slack.Block {
	var out []slack.Block
	if msg.Text != "" {
		out = append(out, slack.NewSectionBlock(mrkdwn(clip(msg.Text, maxSectionText)), nil, nil))
	}
	for chunk := range slices.Chunk(msg.Fields, maxFieldsPerSect) {
		fields := make([]*slack.TextBlockObject, 0, len(chunk))
		for _, f := range chunk {
			fields = append(fields, mrkdwn(clip("*"+f.Label+"*\n"+f.Value, maxFieldText)))
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

// fallback is the plain text of msg for notifications and clients that
// cannot show blocks.
func fallback(msg appreg.Message) string {
	if msg.Text != "" || len(msg.Fields) == 0 {
		return msg.Text
	}
	lines := make([]string, 0, len(msg.Fields))
	for _, f := range msg.Fields {
		lines = append(lines, f.Label+": "+f.Value)
	}
	return strings.Join(lines, "\n")
}

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

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
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
