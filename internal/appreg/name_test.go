package appreg

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string // a part of the message; "" for valid
	}{
		{"shortest", "abc", ""},
		{"longest", "abcdefghijklmno", ""},
		{"digits and specials", "Voice_01-#!", ""},
		{"unicode letters count as one", "Zürich-Ägypten", ""},
		{"emoji allowed", "sbc🙂x", ""},
		{"empty", "", "Please enter a name"},
		{"too short", "ab", "too short: 2 characters"},
		{"too long", "abcdefghijklmnop", "too long: 16 characters"},
		{"too long in runes", strings.Repeat("é", 16), "too long: 16"},
		{"backslash", `a\bc`, `may not contain '\\'`},
		{"slash", "a/bc", "may not contain '/'"},
		{"colon", "a:bc", "may not contain ':'"},
		{"star", "a*bc", "may not contain '*'"},
		{"question", "a?bc", "may not contain '?'"},
		{"quote", `a"bc`, `may not contain '"'`},
		{"less", "a<bc", "may not contain '<'"},
		{"greater", "a>bc", "may not contain '>'"},
		{"pipe", "a|bc", "may not contain '|'"},
		{"the word audit is fine", "audit", ""},
		{"dot", "con.toso", "dot"},
		{"space", "con toso", "a space"},
		{"tab", "con\ttoso", "a tab"},
		{"newline", "con\ntoso", "blanks"},
		{"no-break space", "con\u00a0toso", "U+00A0"},
		{"em space", "con\u2003toso", "U+2003"},
		{"ideographic space", "con\u3000toso", "U+3000"},
		{"zero-width space", "con\u200btoso", "U+200B"},
		{"control", "con\x01toso", "control"},
		{"invalid utf-8", "ab\xffc", "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.input)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ValidateName(%q) = %v, want valid", tt.input, err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("ValidateName(%q) = nil, want error with %q", tt.input, tt.wantErr)
			case err != nil && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("ValidateName(%q) = %q, want it to contain %q", tt.input, err, tt.wantErr)
			case err != nil && ErrorKind(err) != KindInvalid:
				t.Fatalf("kind = %s, want invalid", ErrorKind(err))
			}
		})
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"abc", "a.b", "a b", "abcdefghijklmnop", "x\u200by"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateName(s) != nil {
			return
		}
		n := len([]rune(s))
		if n < NameMinLength || n > NameMaxLength || strings.ContainsAny(s, NameForbiddenChars+". \t\n") {
			t.Fatalf("accepted %q", s)
		}
	})
}
