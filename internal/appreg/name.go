package appreg

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Registration-name limits from the provider's documentation.
const (
	NameMinLength = 3
	NameMaxLength = 15
	// NameForbiddenChars are the characters the documentation forbids. Its list
	// runs on into the word "audit"; the list ends at '|'.
	NameForbiddenChars = `\/:*?"<>|`
)

// ValidateName checks a registration name against the documented rules: 3 to
// 15 characters; none of \ / : * ? " < > |; no dot; no blank of any kind. All
// other letters, digits and special characters are allowed. Uniqueness per
// service is the Store's concern (ReserveName). The returned error is of kind
// KindInvalid and its message names the rule that failed.
func ValidateName(name string) error {
	if !utf8.ValidString(name) {
		return Errorf(KindInvalid, "The name is not valid text.")
	}
	n := utf8.RuneCountInString(name)
	switch {
	case n == 0:
		return Errorf(KindInvalid, "Please enter a name (%d to %d characters).", NameMinLength, NameMaxLength)
	case n < NameMinLength:
		return Errorf(KindInvalid, "The name is too short: %d characters, at least %d needed.", n, NameMinLength)
	case n > NameMaxLength:
		return Errorf(KindInvalid, "The name is too long: %d characters, at most %d allowed.", n, NameMaxLength)
	}
	for _, r := range name {
		switch {
		case strings.ContainsRune(NameForbiddenChars, r):
			return Errorf(KindInvalid, "The name may not contain %q. These characters are not allowed: %s", r, spaced(NameForbiddenChars))
		case r == '.':
			return Errorf(KindInvalid, "The name may not contain a dot (.).")
		case isBlank(r):
			return Errorf(KindInvalid, "The name may not contain blanks (spaces, tabs or other white space, %s found).", describeRune(r))
		case unicode.IsControl(r):
			return Errorf(KindInvalid, "The name may not contain control characters (%s found).", describeRune(r))
		}
	}
	return nil
}

// isBlank reports white space of any kind, including the invisible
// zero-width spaces that unicode.IsSpace does not count.
func isBlank(r rune) bool {
	switch r {
	case '\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF', '\u180E':
		return true
	}
	return unicode.IsSpace(r) || unicode.Is(unicode.Zs, r)
}

func describeRune(r rune) string {
	switch r {
	case ' ':
		return "a space"
	case '\t':
		return "a tab"
	}
	return fmt.Sprintf("U+%04X", r)
}

func spaced(chars string) string {
	out := make([]string, 0, len(chars))
	for _, r := range chars {
		out = append(out, string(r))
	}
	return strings.Join(out, " ")
}

// NameKey is the form of a name used for uniqueness: Entra compares display
// names without regard to case.
func NameKey(name string) string { return strings.ToLower(name) }
