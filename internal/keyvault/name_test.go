package keyvault_test

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/keyvault"
)

// validName is Key Vault's rule for secret and certificate names.
var validName = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

var hashed = regexp.MustCompile(`-[0-9a-f]{8}$`)

func TestObjectName(t *testing.T) {
	long := strings.Repeat("verylongsubdomain.", 13) + "example.com" // 245 characters
	for _, tc := range []struct {
		name                          string
		kind                          appreg.CredentialKind
		domain, registration, service string
		want                          string // exact, or a prefix when it ends in "…"
	}{
		{"plain parts, no hash", appreg.KindSecret, "contoso", "sbc1", "teams", "contoso-sbc1-teams"},
		{"plain certificate", appreg.KindCertificate, "contoso", "sbc1", "teams", "contoso-sbc1-teams-cert"},
		{"no kind is a secret", "", "contoso", "sbc1", "teams", "contoso-sbc1-teams"},
		{"a domain's dots are folded", appreg.KindSecret, "contoso.onmicrosoft.com", "sbc1", "teams", "contoso-onmicrosoft-com-sbc1-teams-…"},
		{"upper case and a dash", appreg.KindSecret, "contoso.onmicrosoft.com", "SBC-Contoso", "teams", "contoso-onmicrosoft-com-sbc-contoso-teams-…"},
		{"certificate with a hash", appreg.KindCertificate, "contoso.onmicrosoft.com", "SBC-Contoso", "teams", "contoso-onmicrosoft-com-sbc-contoso-teams-cert-…"},
		{"odd characters", appreg.KindSecret, "fabrikam.de", "Büro_Ölweg!", "voice..v2__x", "fabrikam-de-b-ro-lweg-voice-v2-x-…"},
		{"nothing left of a part", appreg.KindSecret, "fabrikam.de", "___", "teams", "fabrikam-de-x-teams-…"},
		{"a long domain is cut", appreg.KindSecret, long, "sbc-contoso-01", "teams.voice", "verylongsubdomain-verylongsubdomain-…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := keyvault.ObjectName(tc.kind, tc.domain, tc.registration, tc.service)
			if !validName.MatchString(got) {
				t.Fatalf("%q breaks Key Vault's name rule", got)
			}
			if prefix, ok := strings.CutSuffix(tc.want, "…"); ok {
				if !strings.HasPrefix(got, prefix) || !hashed.MatchString(got) {
					t.Errorf("%q, want %s and a hash", got, tc.want)
				}
			} else if got != tc.want {
				t.Errorf("%q, want %q", got, tc.want)
			}
		})
	}
	t.Run("a long domain keeps the registration and the service", func(t *testing.T) {
		got := keyvault.ObjectName(appreg.KindCertificate, long, "sbc-contoso-01", "teams.voice")
		if len(got) != keyvault.MaxNameLength || !strings.HasSuffix(got[:len(got)-9], "-sbc-contoso-01-teams-voice-cert") {
			t.Errorf("%q (%d characters)", got, len(got))
		}
	})
}

// TestObjectNameSameParts: the bot compares tenants, registrations and
// services without regard to case, and so does the name.
func TestObjectNameSameParts(t *testing.T) {
	a := keyvault.ObjectName(appreg.KindSecret, "Contoso.OnMicrosoft.com.", "sbc-contoso", "Teams")
	b := keyvault.ObjectName(appreg.KindSecret, "contoso.onmicrosoft.com", "SBC-Contoso", "teams")
	if a != b {
		t.Errorf("%q and %q: the same registration's service, two names", a, b)
	}
}

// TestObjectNameCollisions: parts that fold or cut to the same readable
// name still make different names.
func TestObjectNameCollisions(t *testing.T) {
	long := strings.Repeat("a", 200)
	for _, tc := range []struct {
		name string
		a, b [4]string // kind, domain, registration, service
	}{
		{"dot or dash in the domain", [4]string{"secret", "a-b.com", "reg", "svc"}, [4]string{"secret", "a.b-com", "reg", "svc"}},
		{"where the parts split", [4]string{"secret", "contoso.com", "a-b", "c"}, [4]string{"secret", "contoso.com", "a", "b-c"}},
		{"underscore or dash", [4]string{"secret", "contoso.com", "sbc_1", "svc"}, [4]string{"secret", "contoso.com", "sbc-1", "svc"}},
		{"a letter folded or not", [4]string{"secret", "contoso.com", "büro", "svc"}, [4]string{"secret", "contoso.com", "b-ro", "svc"}},
		{"plain against folded", [4]string{"secret", "contoso", "ab", "c"}, [4]string{"secret", "contoso", "a.b", "c"}},
		{"secret against certificate", [4]string{"secret", "contoso.com", "sbc", "svc"}, [4]string{"certificate", "contoso.com", "sbc", "svc"}},
		{"plain secret against certificate", [4]string{"secret", "contoso", "sbc", "svc"}, [4]string{"certificate", "contoso", "sbc", "svc"}},
		{"a service ending in cert", [4]string{"secret", "contoso", "sbc", "svc-cert"}, [4]string{"certificate", "contoso", "sbc", "svc"}},
		{"long domains cut alike", [4]string{"secret", long + "1.com", "sbc", "svc"}, [4]string{"secret", long + "2.com", "sbc", "svc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := keyvault.ObjectName(appreg.CredentialKind(tc.a[0]), tc.a[1], tc.a[2], tc.a[3])
			b := keyvault.ObjectName(appreg.CredentialKind(tc.b[0]), tc.b[1], tc.b[2], tc.b[3])
			if a == b {
				t.Errorf("both are %q", a)
			}
		})
	}
}

// TestObjectNameRandom: many random triples, built from the characters
// that fold, all make valid names, and different triples different names.
func TestObjectNameRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab1-._Aé"
	part := func(max int) string {
		var b strings.Builder
		for range 1 + r.IntN(max) {
			b.WriteString(string([]rune(alphabet)[r.IntN(len([]rune(alphabet)))]))
		}
		return b.String()
	}
	seen := map[string]string{}
	for range 50000 {
		kind := appreg.KindSecret
		if r.IntN(4) == 0 {
			kind = appreg.KindCertificate
		}
		d, reg, svc := part(6), part(5), part(5)
		if r.IntN(50) == 0 {
			d = strings.Repeat(d, 40) // cut
		}
		name := keyvault.ObjectName(kind, d, reg, svc)
		if !validName.MatchString(name) {
			t.Fatalf("%q from (%q, %q, %q)", name, d, reg, svc)
		}
		id := fmt.Sprintf("%s|%s|%s|%s", kind, strings.TrimSuffix(strings.ToLower(d), "."), strings.ToLower(reg), strings.ToLower(svc))
		if prev, ok := seen[name]; ok && prev != id {
			t.Fatalf("%q for both %s and %s", name, prev, id)
		}
		seen[name] = id
	}
}
