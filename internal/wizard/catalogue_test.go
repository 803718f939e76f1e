package wizard

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// TestCatalogueCoversEveryMessage: every function of messages.go that
// writes a message, a reason or a fix is in the catalogue adapters test
// their rendering with, and so is the status of every state of every flow.
func TestCatalogueCoversEveryMessage(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "messages.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	cat := Catalogue()
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv != nil {
			continue
		}
		name := fn.Name.Name
		for _, prefix := range []string{"msg", "reason", "fix", "err"} {
			if strings.HasPrefix(name, prefix) && len(name) > len(prefix) && strings.ToUpper(name[len(prefix):len(prefix)+1]) == name[len(prefix):len(prefix)+1] {
				if _, ok := cat[name]; !ok {
					t.Errorf("%s is not in the catalogue", name)
				}
			}
		}
	}
	for _, state := range appreg.States() {
		if _, ok := cat["statusMessage/"+string(state)+"/onboard"]; !ok && state != appreg.StateAwaitingApproval {
			t.Errorf("no status message for %s", state)
		}
	}
	for name, m := range cat {
		if m.Text.IsEmpty() && len(m.Fields) == 0 {
			t.Errorf("%s says nothing", name)
		}
	}
}

// TestEngineWritesNoMarkup: no text of the engine holds a platform's markup
// of its own; markup-looking characters only come from the Hostile values.
func TestEngineWritesNoMarkup(t *testing.T) {
	for name, m := range Catalogue() {
		for _, s := range m.Text {
			text := strings.ReplaceAll(s.Text, Hostile, "")
			for _, bad := range []string{"<@", "<#", "<!", "<http", "`", ":white_check_mark:", ":warning:"} {
				if strings.Contains(text, bad) {
					t.Errorf("%s: span %q holds %q", name, s.Text, bad)
				}
			}
		}
	}
}
