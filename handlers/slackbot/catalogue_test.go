package slackbot

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/wizard"
)

// TestEveryEngineMessageRendersInSlack posts every message of the engine
// through the real slack-go client to the fake and checks what Slack would
// show: the values from people and tenants as typed, only the mentions and
// links the engine meant, icons as emoji, a fallback with nothing Slack
// would parse.
func TestEveryEngineMessageRendersInSlack(t *testing.T) {
	meant := []string{"user:U0REQ", "user:U0APP", "channel:C0APPR", "link:https://microsoft.com/devicelogin"}
	shortcode := regexp.MustCompile(`:[a-z_]+:`)
	for name, msg := range wizard.Catalogue() {
		t.Run(name, func(t *testing.T) {
			chat, fake := newChat(t)
			if _, err := chat.Post(testCtx(t), appreg.Place{Channel: "C1"}, msg); err != nil {
				t.Fatal(err)
			}
			c := fake.Calls("chat.postMessage")[0]
			for _, l := range c.Live() {
				if !slices.Contains(meant, l) {
					t.Errorf("live markup %q", l)
				}
			}
			if strings.ContainsAny(c.Text, "<>") {
				t.Errorf("fallback holds markup characters: %q", c.Text)
			}
			want := 0 // mentions show the user's id, not the name
			for _, sp := range msg.Text {
				if sp.Kind != appreg.SpanUser {
					want += strings.Count(sp.Text, wizard.Hostile)
				}
			}
			for _, f := range msg.Fields {
				want += strings.Count(f.Value, wizard.Hostile)
			}
			if got := strings.Count(c.Shown(), wizard.Hostile); got != want {
				t.Errorf("%d of %d values shown as typed:\n%s", got, want, c.Shown())
			}
			for _, b := range c.Blocks {
				for _, sec := range b.Elements {
					for _, el := range sec.Elements {
						if el.Type == "text" && shortcode.MatchString(strings.ReplaceAll(el.Text, wizard.Hostile, "")) {
							t.Errorf("emoji shortcode in text %q", el.Text)
						}
					}
				}
			}
		})
	}
}
