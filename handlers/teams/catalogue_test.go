package teams

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/wizard"
)

// shown is what Teams would show of a card, and what in it is live: the
// text of every TextRun (the only text elements the renderer uses), the
// links, and the elements that would parse their text (TextBlock,
// FactSet) or mention someone (msteams.entities).
type shown struct {
	text     strings.Builder
	links    []string
	parsing  []string // element types whose text Teams would parse as Markdown
	runs     []string
	verbs    []string
	problems []string
}

// inspect walks a card's JSON as Teams would read it.
func inspect(t *testing.T, raw []byte) *shown {
	t.Helper()
	var card map[string]any
	if err := json.Unmarshal(raw, &card); err != nil {
		t.Fatalf("card is not JSON: %v\n%s", err, raw)
	}
	s := &shown{}
	if card["type"] != "AdaptiveCard" || card["version"] != "1.5" || card["$schema"] == nil {
		s.problems = append(s.problems, "not an Adaptive Card 1.5")
	}
	if ms, ok := card["msteams"].(map[string]any); ok && ms["entities"] != nil {
		s.parsing = append(s.parsing, "msteams.entities")
	}
	var walk func(v any)
	walk = func(v any) {
		switch n := v.(type) {
		case []any:
			for _, x := range n {
				walk(x)
			}
		case map[string]any:
			switch n["type"] {
			case "TextBlock", "FactSet", "Fact", "Media", "Image":
				s.parsing = append(s.parsing, n["type"].(string))
			case "TextRun":
				text, _ := n["text"].(string)
				s.text.WriteString(text)
				s.runs = append(s.runs, text)
				if sa, ok := n["selectAction"].(map[string]any); ok {
					s.links = append(s.links, sa["url"].(string))
				}
			case "RichTextBlock":
				defer s.text.WriteString("\n")
			case "Action.Execute":
				s.verbs = append(s.verbs, n["verb"].(string))
			case "Action.OpenUrl":
			default:
				if typ, ok := n["type"].(string); ok && !knownTypes[typ] {
					s.problems = append(s.problems, "unknown element "+typ)
				}
			}
			for k, x := range n {
				if k != "data" { // a button's data is not shown
					walk(x)
				}
			}
		}
	}
	walk(card["body"])
	walk(card["actions"])
	return s
}

var knownTypes = map[string]bool{"AdaptiveCard": true, "ColumnSet": true, "Column": true, "Input.Text": true, "RichTextBlock": true}

// TestEveryEngineMessageRendersInTeams renders every message of the engine
// as a card and checks what Teams would show: valid card JSON of schema
// 1.5 under the size limit, the values from people and tenants as typed,
// no element whose text Teams parses (TextBlock, FactSet) and no mention
// entity, only the links the engine meant, each button an Action.Execute
// with its action id, icons as emoji.
func TestEveryEngineMessageRendersInTeams(t *testing.T) {
	meantLinks := []string{"https://microsoft.com/devicelogin"}
	shortcode := regexp.MustCompile(`:[a-z_]+:`)
	for name, msg := range wizard.Catalogue() {
		t.Run(name, func(t *testing.T) {
			raw := encode(messageCard(msg, nil))
			if len(raw) > maxCardBytes {
				t.Errorf("card of %d bytes", len(raw))
			}
			s := inspect(t, raw)
			if len(s.problems) > 0 || len(s.parsing) > 0 {
				t.Errorf("problems %v, parsing elements %v", s.problems, s.parsing)
			}
			for _, l := range s.links {
				if !slicesContains(meantLinks, l) {
					t.Errorf("live link %q", l)
				}
			}
			for _, r := range s.runs {
				if strings.Contains(r, "{{") {
					t.Errorf("a run holds a date function's start: %q", r)
				}
			}
			want := 0
			for _, sp := range msg.Text {
				want += strings.Count(sp.Text, wizard.Hostile)
			}
			for _, f := range msg.Fields {
				want += strings.Count(f.Value, wizard.Hostile)
			}
			if got := strings.Count(s.text.String(), wizard.Hostile); got != want {
				t.Errorf("%d of %d values shown as typed:\n%s", got, want, s.text.String())
			}
			if len(s.verbs) != min(len(msg.Buttons), maxButtons) {
				t.Errorf("%d buttons of %d", len(s.verbs), len(msg.Buttons))
			}
			for i, v := range s.verbs {
				if v != msg.Buttons[i].ActionID {
					t.Errorf("button %d verb %q, want %q", i, v, msg.Buttons[i].ActionID)
				}
			}
			if shortcode.MatchString(strings.ReplaceAll(s.text.String(), wizard.Hostile, "")) {
				t.Errorf("emoji shortcode in %q", s.text.String())
			}
		})
	}
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestRenderingIsLiteral: spans that would mean something in Markdown, in
// a card's date functions or as a Teams mention stay characters; links are
// live for https only; long text is clipped to the size limit.
func TestRenderingIsLiteral(t *testing.T) {
	big := strings.Repeat("<at>All</at> **x** ", 5000)
	tests := []struct {
		name      string
		msg       appreg.Message
		nm        names
		wantText  string
		wantLinks []string
	}{
		{"markdown and mention in plain text", appreg.Message{Text: appreg.T("[x](https://evil.example) **b** _i_ <at>All</at> <!channel>")},
			nil, "[x](https://evil.example) **b** _i_ <at>All</at> <!channel>", nil},
		{"date function", appreg.Message{Text: appreg.T("{{DATE(2017-02-14T06:00:00Z, SHORT)}}")}, nil, "{{DATE(2017-02-14T06:00:00Z, SHORT)}}", nil},
		{"https link", appreg.Message{Text: appreg.T(appreg.Link("https://microsoft.com/devicelogin", "sign in"))}, nil, "sign in", []string{"https://microsoft.com/devicelogin"}},
		{"javascript link is text", appreg.Message{Text: appreg.T(appreg.Link("javascript:alert(1)", "click"))}, nil, "click (javascript:alert(1))", nil},
		{"http link is text", appreg.Message{Text: appreg.T(appreg.Link("http://evil.example", ""))}, nil, "http://evil.example", nil},
		{"mention is the bold name", appreg.Message{Text: appreg.T("by ", appreg.Mention(appreg.User{ID: "0b7e4f52-8c1d-4a5e-9f3b-6d2c1a0e9b87", Name: "<at>All</at>"}))}, nil, "by <at>All</at>", nil},
		{"mention by id with a known name", appreg.Message{Text: appreg.T(appreg.MentionID("u1"))}, names{"u1": "Ann"}, "Ann", nil},
		{"channel", appreg.Message{Text: appreg.T(appreg.Channel("19:x@thread.tacv2"))}, names{"19:x@thread.tacv2": "approvals"}, "#approvals", nil},
		{"fields", appreg.Message{Fields: []appreg.Field{{Label: "*L*", Value: "[v](https://evil.example)"}}}, nil, "*L*\n[v](https://evil.example)", nil},
		{"icons", appreg.Message{Text: appreg.T(appreg.IconOK, "done")}, nil, "✅ done", nil},
		{"lines", appreg.Message{Text: appreg.T("a\n\nb")}, nil, "a\nb", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := inspect(t, encode(messageCard(tt.msg, tt.nm)))
			if got := strings.TrimSpace(s.text.String()); got != tt.wantText {
				t.Errorf("shows %q, want %q", got, tt.wantText)
			}
			if strings.Join(s.links, " ") != strings.Join(tt.wantLinks, " ") || len(s.parsing) > 0 {
				t.Errorf("links %v, parsing %v", s.links, s.parsing)
			}
		})
	}
	t.Run("clipped to the size limit", func(t *testing.T) {
		raw := encode(messageCard(appreg.Message{Text: appreg.T(big), Fields: []appreg.Field{{Label: "l", Value: big}}}, nil))
		if len(raw) > maxCardBytes || !strings.Contains(string(raw), "…") {
			t.Fatalf("card of %d bytes", len(raw))
		}
	})
}

// TestFormCard: inputs with the typed value, the error under its input,
// and a submit button that carries the form.
func TestFormCard(t *testing.T) {
	form := appreg.Form{ID: wizard.FormName, Conversation: "c1", Title: "Registration name", Submit: "Create",
		Inputs: []appreg.FormInput{{ID: "name", Label: "Name", Hint: "3–15 characters", Placeholder: "e.g. X", MaxLength: 64}}}
	raw := encode(formCard(form, map[string]string{"name": "<at>All</at>"}, map[string]string{"name": "No *dot*."}))
	s := inspect(t, raw)
	if !strings.Contains(s.text.String(), "No *dot*.") || len(s.parsing) > 0 || len(s.verbs) != 1 || s.verbs[0] != formVerb {
		t.Fatalf("form card shows %q, parsing %v, verbs %v", s.text.String(), s.parsing, s.verbs)
	}
	var c struct {
		Body []struct {
			Type, ID, Value string
			MaxLength       int
		} `json:"body"`
		Actions []struct {
			Data struct {
				Form appreg.Form `json:"form"`
			} `json:"data"`
		} `json:"actions"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	var input bool
	for _, b := range c.Body {
		if b.Type == "Input.Text" {
			input = b.ID == "in:name" && b.Value == "<at>All</at>" && b.MaxLength == 64
		}
	}
	if !input || c.Actions[0].Data.Form.ID != wizard.FormName || c.Actions[0].Data.Form.Conversation != "c1" {
		t.Fatalf("form card %s", raw)
	}
}
