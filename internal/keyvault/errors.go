package keyvault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// What an error says of a foreign text is scrubbed first: the credential
// being delivered (given literally), and anything shaped like a credential.
var credentialShapes = regexp.MustCompile(strings.Join([]string{
	`(?s)-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\z)`, // PEM blocks (keys, certificates)
	`(?i)bearer\s+[A-Za-z0-9._~+/=-]{8,}`,                              // any bearer token
	`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.?[A-Za-z0-9_-]*`,         // JWT
	`[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{30,40}`,                  // Entra client secret
	`(?i)(client_secret|client_assertion|password|pwd)=\S+`,            // form fields
}, "|"))

// maxDetail caps a foreign message kept for the log.
const maxDetail = 1000

const redacted = appreg.Redacted

// scrub removes the known secrets (and their JSON-escaped forms) and
// anything shaped like a credential from s, puts it on one line and caps
// its length.
func scrub(s string, known ...string) string {
	for _, k := range known {
		if len(k) < 4 {
			continue
		}
		s = strings.ReplaceAll(s, k, redacted)
		if b, err := json.Marshal(k); err == nil {
			if esc := string(b[1 : len(b)-1]); esc != k {
				s = strings.ReplaceAll(s, esc, redacted)
			}
		}
	}
	s = credentialShapes.ReplaceAllString(s, redacted)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxDetail {
		s = s[:maxDetail] + "…"
	}
	return s
}

// detail is what the package keeps of a failure for the log: never a
// foreign error itself (its text may hold what the server echoed), only
// fields read from it and scrubbed.
type detail struct {
	op        string // the operation, e.g. "SetSecret"
	status    int    // HTTP status, 0 when there was no response
	code      string // Key Vault's error.code, or Entra's error
	inner     string // Key Vault's error.innererror.code, or an AADSTS code
	requestID string // x-ms-request-id
	message   string // scrubbed
}

func (d *detail) Error() string {
	var b strings.Builder
	b.WriteString(d.op)
	if d.status != 0 {
		fmt.Fprintf(&b, ": %d %s", d.status, http.StatusText(d.status))
	}
	if d.code != "" {
		b.WriteString(" " + d.code)
		if d.inner != "" {
			b.WriteString("/" + d.inner)
		}
	}
	if d.requestID != "" {
		b.WriteString(" (request id " + d.requestID + ")")
	}
	if d.message != "" {
		b.WriteString(": " + d.message)
	}
	return b.String()
}

// identityError is a failure of the bot's own identity to get a token. The
// Sink wraps its credential so that every such failure becomes one, and
// NewCredential's credentials make them with their own secret scrubbed.
type identityError struct {
	detail
	// unavailable: Entra ID did not answer, or answered 429 or 5xx.
	unavailable bool
	// otherTenant is the vault's tenant when it is not one the identity
	// may get tokens for.
	otherTenant string
}

// newIdentityError keeps what may be kept of a credential's error.
func newIdentityError(err error, known ...string) *identityError {
	var ie *identityError
	if errors.As(err, &ie) {
		return ie
	}
	e := &identityError{detail: detail{op: "token request"}}
	var afe *azidentity.AuthenticationFailedError
	switch {
	case errors.As(err, &afe) && afe.RawResponse != nil:
		e.status = afe.RawResponse.StatusCode
		e.requestID = afe.RawResponse.Header.Get("x-ms-request-id")
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
			Message     string `json:"message"` // managed identity endpoints
		}
		if b, rerr := runtime.Payload(afe.RawResponse); rerr == nil {
			_ = json.Unmarshal(b, &body)
		}
		e.code = body.Error
		if m := aadsts.FindString(body.Description); m != "" {
			e.inner = m
		}
		e.message = scrub(firstLine(body.Description+body.Message), known...)
		e.unavailable = e.status == http.StatusTooManyRequests || e.status >= 500
	case errors.As(err, &afe):
		// No response: Entra ID could not be reached, or the credential
		// failed before asking (a token file that cannot be read).
		e.message = scrub(firstLine(err.Error()), known...)
		e.unavailable = true
	default:
		msg := err.Error()
		if m := otherTenant.FindStringSubmatch(msg); m != nil {
			e.otherTenant = m[1]
		}
		e.message = scrub(firstLine(msg), known...)
	}
	return e
}

func (e *identityError) Error() string { return e.detail.Error() }

var (
	aadsts = regexp.MustCompile(`AADSTS\d+`)
	// azidentity's refusal to get a token for a tenant it was not made for
	// (the vault's challenge names the vault's tenant).
	otherTenant = regexp.MustCompile(`isn't configured to acquire tokens for tenant "([^"]*)"`)
)

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

// operation describes a call for the messages a person reads.
type operation struct {
	api    string // the SDK method, for the log
	verb   string // "write", "read the versions of", "disable a version of"
	kind   appreg.CredentialKind
	name   string // the object's name
	vault  string // the vault's host
	vaultN string // the vault's name, the first label of its host
}

func (o operation) object() string {
	if o.kind == appreg.KindCertificate {
		return "certificate"
	}
	return "secret"
}

// permissions names what the bot's identity needs on the vault, for the
// two ways a vault grants access.
func (o operation) permissions() (accessPolicy, role string) {
	if o.kind == appreg.KindCertificate {
		return "the certificate permissions List, Import and Update", "Key Vault Certificates Officer"
	}
	return "the secret permissions List and Set", "Key Vault Secrets Officer"
}

// classify turns an error from a Key Vault call into an *appreg.Error whose
// message a support engineer can act on and whose detail holds no foreign
// text unscrubbed. known are the credential's secrets (the secret's text,
// the PEM with the key).
func classify(ctx context.Context, err error, op operation, known ...string) error {
	if err == nil {
		return nil
	}
	where := "Key Vault " + op.vault
	d := &detail{op: op.api}

	var ie *identityError
	if errors.As(err, &ie) {
		switch {
		case ie.otherTenant != "":
			return &appreg.Error{Kind: appreg.KindForbidden, Err: ie, Message: fmt.Sprintf(
				"%s belongs to tenant %s, which the bot's identity is not in: use a vault in the bot's own tenant (BOT_AZURE_TENANT_ID).", where, ie.otherTenant)}
		case ie.unavailable:
			return &appreg.Error{Kind: appreg.KindUnavailable, Err: ie, Message: fmt.Sprintf(
				"The bot could not get a token for %s from Microsoft Entra ID (no answer, or it is busy). Please try again in a few minutes.", where)}
		default:
			return &appreg.Error{Kind: appreg.KindForbidden, Err: ie, Message: fmt.Sprintf(
				"Microsoft Entra ID refused the bot's own identity a token for %s%s: check BOT_AZURE_TENANT_ID, BOT_AZURE_CLIENT_ID and BOT_AZURE_CLIENT_SECRET, or the workload or managed identity the bot runs with.", where, codeSuffix(ie.inner))}
		}
	}

	var re *azcore.ResponseError
	if errors.As(err, &re) {
		d.status = re.StatusCode
		if re.RawResponse != nil {
			d.requestID = re.RawResponse.Header.Get("x-ms-request-id")
			var body struct {
				Error struct {
					Code       string `json:"code"`
					Message    string `json:"message"`
					InnerError struct {
						Code string `json:"code"`
					} `json:"innererror"`
				} `json:"error"`
			}
			if b, rerr := runtime.Payload(re.RawResponse); rerr == nil {
				_ = json.Unmarshal(b, &body)
			}
			d.code, d.inner = body.Error.Code, body.Error.InnerError.Code
			d.message = scrub(body.Error.Message, known...)
		}
		if d.code == "" {
			d.code = re.ErrorCode
		}
		return fromStatus(d, re, op, where)
	}

	if ctxErr := ctx.Err(); ctxErr != nil {
		d.message = ctxErr.Error()
		return &appreg.Error{Kind: appreg.KindUnavailable, Err: d, Message: fmt.Sprintf(
			"%s did not answer in time. Please try again.", where)}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		d.message = "no such host " + dnsErr.Name
		return &appreg.Error{Kind: appreg.KindNotFound, Err: d, Message: fmt.Sprintf(
			"There is no Key Vault at %s (the name does not resolve): check BOT_KEYVAULT_URL, the vault's URI from its overview page.", op.vault)}
	}
	msg := err.Error()
	if strings.Contains(msg, "doesn't match the requested domain") {
		d.message = scrub(firstLine(msg), known...)
		return &appreg.Error{Kind: appreg.KindInvalid, Err: d, Message: fmt.Sprintf(
			"%s asked for a token meant for another service, so the bot did not send it: check BOT_KEYVAULT_URL.", where)}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		d.message = scrub(firstLine(msg), known...)
		return &appreg.Error{Kind: appreg.KindUnavailable, Err: d, Message: fmt.Sprintf(
			"%s could not be reached. Please try again in a few minutes.", where)}
	}
	d.message = scrub(firstLine(msg), known...)
	return &appreg.Error{Kind: appreg.KindInternal, Err: d, Message: fmt.Sprintf(
		"%s gave an answer the bot did not expect while it tried to %s %s %s. The details are in the bot's log.", where, op.verb, op.object(), op.name)}
}

func codeSuffix(code string) string {
	if code == "" {
		return ""
	}
	return " (" + code + ")"
}

// fromStatus maps a Key Vault error response to a kind and a message.
func fromStatus(d *detail, re *azcore.ResponseError, op operation, where string) error {
	object := op.object()
	policy, role := op.permissions()
	status := fmt.Sprintf("%d %s", d.status, http.StatusText(d.status))
	switch {
	case d.status == http.StatusUnauthorized:
		return &appreg.Error{Kind: appreg.KindForbidden, Err: d, Message: fmt.Sprintf(
			"%s refused the bot's identity (%s): its token is not valid for this vault. Check that the vault is in the bot's tenant (BOT_AZURE_TENANT_ID) and that BOT_KEYVAULT_URL names the right vault.", where, status)}

	case d.status == http.StatusForbidden && d.inner == "ForbiddenByFirewall":
		return &appreg.Error{Kind: appreg.KindForbidden, Err: d, Message: fmt.Sprintf(
			"The firewall of %s refused the bot's network address (%s): allow it in the vault's Networking settings, or reach the vault through a private endpoint.", where, status)}
	case d.status == http.StatusForbidden && d.inner == "ForbiddenByRbac":
		return &appreg.Error{Kind: appreg.KindForbidden, Err: d, Message: fmt.Sprintf(
			"%s does not let the bot's identity %s %s %s (%s, Azure RBAC): assign it the role %s on the vault.", where, op.verb, object, op.name, status, role)}
	case d.status == http.StatusForbidden && d.inner == "AccessDenied":
		return &appreg.Error{Kind: appreg.KindForbidden, Err: d, Message: fmt.Sprintf(
			"%s does not let the bot's identity %s %s %s (%s, access policy): give it %s in the vault's access policies.", where, op.verb, object, op.name, status, policy)}
	case d.status == http.StatusForbidden:
		return &appreg.Error{Kind: appreg.KindForbidden, Err: d, Message: fmt.Sprintf(
			"%s does not let the bot's identity %s %s %s (%s): give it %s in the vault's access policies, or the role %s if the vault uses Azure RBAC.", where, op.verb, object, op.name, status, policy, role)}

	case d.status == http.StatusConflict && d.inner == "ObjectIsDeletedButRecoverable":
		return &appreg.Error{Kind: appreg.KindConflict, Err: d, Message: fmt.Sprintf(
			"%s holds a deleted %s named %s that can still be recovered, so the name cannot be used. Recover it (az keyvault %s recover --vault-name %s --name %s) or purge it (az keyvault %s purge --vault-name %s --name %s), then try again.",
			where, object, op.name, object, op.vaultN, op.name, object, op.vaultN, op.name)}
	case d.status == http.StatusConflict && d.inner == "ObjectIsBeingRecovered":
		return &appreg.Error{Kind: appreg.KindUnavailable, Err: d, Message: fmt.Sprintf(
			"%s is still recovering the %s %s. Please try again in a minute.", where, object, op.name)}
	case d.status == http.StatusConflict:
		return &appreg.Error{Kind: appreg.KindConflict, Err: d, Message: fmt.Sprintf(
			"%s refused to %s %s %s because of a conflict (%s): the name may be taken by a %s. Remove or rename what holds it, or use another vault.",
			where, op.verb, object, op.name, d.code, other(object))}

	case d.status == http.StatusNotFound && (d.code == "SecretNotFound" || d.code == "CertificateNotFound"):
		return &appreg.Error{Kind: appreg.KindNotFound, Err: d, Message: fmt.Sprintf(
			"%s has no %s named %s (any more).", where, object, op.name)}
	case d.status == http.StatusNotFound:
		return &appreg.Error{Kind: appreg.KindNotFound, Err: d, Message: fmt.Sprintf(
			"%s answered 404 Not Found: check BOT_KEYVAULT_URL, the vault's URI from its overview page.", where)}

	case d.status == http.StatusTooManyRequests || d.status == http.StatusRequestTimeout || d.status >= 500:
		msg := fmt.Sprintf("%s is busy or unavailable (%s) and still was after the bot's retries. Please try again in a few minutes.", where, status)
		var err error = d
		if wait, ok := retryAfter(re.RawResponse); ok {
			msg = fmt.Sprintf("%s is busy or unavailable (%s) and asked to wait %s. Please try again after that.", where, status, wait)
			err = &appreg.Throttled{Wait: wait, Err: d}
		}
		return &appreg.Error{Kind: appreg.KindUnavailable, Err: err, Message: msg}

	case d.status == http.StatusBadRequest:
		return &appreg.Error{Kind: appreg.KindInvalid, Err: d, Message: fmt.Sprintf(
			"%s refused the %s %s as invalid (%s). The details are in the bot's log.", where, object, op.name, d.code)}
	}
	return &appreg.Error{Kind: appreg.KindInternal, Err: d, Message: fmt.Sprintf(
		"%s answered %s when the bot tried to %s %s %s. The details are in the bot's log.", where, status, op.verb, object, op.name)}
}

func other(object string) string {
	if object == "certificate" {
		return "secret or key"
	}
	return "certificate"
}

// retryAfter reads the wait a response asks for: retry-after-ms,
// x-ms-retry-after-ms, or Retry-After in seconds or as an HTTP date.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	for _, h := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if ms, err := strconv.Atoi(resp.Header.Get(h)); err == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond, true
		}
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0).Round(time.Second), true
	}
	return 0, false
}
