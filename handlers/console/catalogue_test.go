package console

import (
	"regexp"
	"strings"
	"testing"

	"github.com/appreg-bot/appreg-bot/internal/wizard"
)

// TestEveryEngineMessageRendersInTheConsole renders every message of the
// engine as the console prints it: plain text, values as typed, icons as
// symbols, mentions as @name.
func TestEveryEngineMessageRendersInTheConsole(t *testing.T) {
	shortcode := regexp.MustCompile(`:[a-z_]+:`)
	for name, msg := range wizard.Catalogue() {
		out := Render(msg.Text)
		rest := strings.ReplaceAll(out, wizard.Hostile, "")
		if shortcode.MatchString(rest) || strings.Contains(rest, "<@") || strings.Contains(rest, "`") {
			t.Errorf("%s: markup in %q", name, out)
		}
		if strings.Count(out, wizard.Hostile) != strings.Count(msg.Text.String(), wizard.Hostile) {
			t.Errorf("%s: values not shown as typed: %q", name, out)
		}
	}
}
