package keyvault

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// MaxNameLength is Key Vault's limit on the name of a secret or
// certificate (1 to 127 letters, digits and dashes).
const MaxNameLength = 127

// hashDigits is the length of the hash suffix, in hex digits (32 bits).
const hashDigits = 8

// certificateMarker ends the readable part of a certificate's name. A Key
// Vault certificate owns a secret (and a key) of its own name, so a
// certificate may not share its name with a client secret's.
const certificateMarker = "cert"

// ObjectName returns the name of the Key Vault secret (kind
// appreg.KindSecret, or "") or certificate (appreg.KindCertificate) that
// holds the credentials of a registration's service in a tenant. Every
// delivery for the same tenant domain, registration and service, whatever
// the case of its letters, writes to the same name; a rotation adds a
// version to it.
//
// The rule. The three parts are compared as the bot compares them, without
// regard to case: the domain lower-cased without a trailing dot, the
// registration and the service lower-cased.
//
//   - When each part is only letters a–z and digits and the result fits,
//     the name is "<domain>-<registration>-<service>", and a certificate's
//     ends in "-cert".
//   - Otherwise each part is folded: every character other than a–z and
//     0–9 becomes a dash, runs of dashes become one, dashes at either end
//     go, and a part left empty becomes "x". When the folded parts do not
//     fit, the longest is cut, one character at a time, until they do.
//     The name is the folded parts joined by dashes, "-cert" for a
//     certificate, then a dash and the first 8 hex digits of the SHA-256
//     of the kind and the three exact parts (each followed by a zero
//     byte). A tenant domain always has a dot, so in practice every name
//     ends in this hash.
//
// Two different (kind, domain, registration, service) never share a name:
// a name without the hash has exactly three dash-separated parts (four for
// a certificate, the last "cert"); one with it has at least four and ends
// in eight hex digits; two names with a hash that share their readable part
// differ in the hash, unless 32 bits of SHA-256 collide. Every name is 1 to
// 127 characters of a–z, 0–9 and dashes.
func ObjectName(kind appreg.CredentialKind, tenantDomain, registration, service string) string {
	if kind == "" {
		kind = appreg.KindSecret
	}
	parts := [3]string{
		strings.TrimSuffix(strings.ToLower(strings.TrimSpace(tenantDomain)), "."),
		strings.ToLower(registration),
		strings.ToLower(service),
	}
	marker := ""
	if kind == appreg.KindCertificate {
		marker = "-" + certificateMarker
	}
	if plain(parts[0]) && plain(parts[1]) && plain(parts[2]) {
		if n := parts[0] + "-" + parts[1] + "-" + parts[2] + marker; len(n) <= MaxNameLength {
			return n
		}
	}
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	suffix := marker + "-" + hex.EncodeToString(h.Sum(nil))[:hashDigits]
	folded := [3]string{fold(parts[0]), fold(parts[1]), fold(parts[2])}
	cut(&folded, MaxNameLength-len(suffix)-2)
	return folded[0] + "-" + folded[1] + "-" + folded[2] + suffix
}

// plain reports whether s is one or more of a–z and 0–9.
func plain(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// fold maps s to a–z, 0–9 and single dashes inside, as ObjectName says.
func fold(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

// cut shortens the longest part, one character at a time, until the parts
// take at most budget characters; a part keeps at least one character and
// never ends in a dash.
func cut(parts *[3]string, budget int) {
	for len(parts[0])+len(parts[1])+len(parts[2]) > budget {
		longest := 0
		for i := range parts {
			if len(parts[i]) > len(parts[longest]) {
				longest = i
			}
		}
		if len(parts[longest]) <= 1 {
			return // cannot happen: the budget is far above three characters
		}
		parts[longest] = strings.TrimRight(parts[longest][:len(parts[longest])-1], "-")
	}
}
