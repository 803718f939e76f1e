package keyvault_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/keyvault"
	"github.com/appreg-bot/appreg-bot/internal/keyvaultfake"
)

var (
	secretName = keyvault.ObjectName(appreg.KindSecret, tenantDomain, "SBC-Contoso", "teams")
	certName   = keyvault.ObjectName(appreg.KindCertificate, tenantDomain, "SBC-Contoso", "teams")
)

// faultCase is one way a delivery fails.
type faultCase struct {
	name  string
	opts  []envOption
	setup func(*env)
	cert  bool // deliver a certificate, not a secret
	kind  appreg.Kind
	msg   []string
	// wait is the Retry-After an *appreg.Throttled in the chain must carry;
	// 0: none in the chain.
	wait time.Duration
	// tries is how many authorised calls answered with an error, when
	// the case is about retries (0: not checked).
	tries int
}

func inject(times int, f keyvaultfake.Failure) func(*env) {
	return func(e *env) { e.kv.FailNext(times, f) }
}

func on(op string, f keyvaultfake.Failure) keyvaultfake.Failure { f.Op = op; return f }

func maxRetries(n int) envOption {
	return withSink(func(c *keyvault.Config) { c.MaxRetries = n })
}

// TestFaults: every way Key Vault and Entra ID refuse a delivery becomes an
// error of the right kind with a message that says what to do.
func TestFaults(t *testing.T) {
	for _, tc := range []faultCase{
		{name: "401: the vault refuses the identity's token", setup: inject(2, keyvaultfake.Unauthorized()),
			kind: appreg.KindForbidden, msg: []string{"refused the bot's identity", "401 Unauthorized", "BOT_AZURE_TENANT_ID", "BOT_KEYVAULT_URL"}},
		{name: "403: no access policy to list", setup: inject(1, keyvaultfake.ForbiddenByAccessPolicy()),
			kind: appreg.KindForbidden, msg: []string{"does not let the bot's identity read the versions of secret " + secretName, "403 Forbidden", "the secret permissions List and Set", "access policies"}},
		{name: "403: no access policy to set", setup: inject(1, on(keyvaultfake.OpSetSecret, keyvaultfake.ForbiddenByAccessPolicy())),
			kind: appreg.KindForbidden, msg: []string{"does not let the bot's identity write secret " + secretName, "the secret permissions List and Set"}},
		{name: "403: no RBAC role", setup: inject(1, on(keyvaultfake.OpSetSecret, keyvaultfake.ForbiddenByRbac())),
			kind: appreg.KindForbidden, msg: []string{"Azure RBAC", "assign it the role Key Vault Secrets Officer"}},
		{name: "403: no access policy to import a certificate", cert: true, setup: inject(1, on(keyvaultfake.OpImportCertificate, keyvaultfake.ForbiddenByAccessPolicy())),
			kind: appreg.KindForbidden, msg: []string{"write certificate " + certName, "the certificate permissions List, Import and Update"}},
		{name: "403: no RBAC role for certificates", cert: true, setup: inject(1, keyvaultfake.ForbiddenByRbac()),
			kind: appreg.KindForbidden, msg: []string{"Key Vault Certificates Officer"}},
		{name: "403: another refusal", setup: inject(1, keyvaultfake.Failure{Status: 403, Code: "Forbidden"}),
			kind: appreg.KindForbidden, msg: []string{"the secret permissions List and Set", "or the role Key Vault Secrets Officer"}},
		{name: "403: the vault's firewall", setup: inject(1, keyvaultfake.ForbiddenByFirewall()),
			kind: appreg.KindForbidden, msg: []string{"firewall", "Networking settings"}},
		{name: "429 after the retries, with Retry-After", opts: []envOption{maxRetries(1)}, setup: inject(2, keyvaultfake.TooManyRequests("1")),
			kind: appreg.KindUnavailable, msg: []string{"429 Too Many Requests", "asked to wait 1s"}, wait: time.Second, tries: 2},
		{name: "429 asking for longer than the bot waits", setup: inject(1, keyvaultfake.TooManyRequests("120")),
			kind: appreg.KindUnavailable, msg: []string{"asked to wait 2m0s"}, wait: 2 * time.Minute, tries: 1},
		{name: "500 after the retries", setup: inject(3, keyvaultfake.ServerError(500, "")),
			kind: appreg.KindUnavailable, msg: []string{"500 Internal Server Error", "after the bot's retries"}, tries: 3},
		{name: "503 with Retry-After after the retries", opts: []envOption{maxRetries(1)}, setup: inject(2, keyvaultfake.ServerError(503, "1")),
			kind: appreg.KindUnavailable, msg: []string{"503 Service Unavailable"}, wait: time.Second, tries: 2},
		{name: "409: a soft-deleted secret holds the name", setup: func(e *env) { e.kv.SoftDelete(secretName) },
			kind: appreg.KindConflict, msg: []string{"deleted secret named " + secretName,
				"az keyvault secret recover --vault-name appreg-test --name " + secretName,
				"az keyvault secret purge --vault-name appreg-test --name " + secretName}},
		{name: "409: deleted but recoverable, answered to the write", setup: inject(1, on(keyvaultfake.OpSetSecret, keyvaultfake.DeletedButRecoverable())),
			kind: appreg.KindConflict, msg: []string{"deleted secret named " + secretName, "Recover it", "purge it"}},
		{name: "409: a soft-deleted certificate holds the name", cert: true, setup: func(e *env) { e.kv.SoftDelete(certName) },
			kind: appreg.KindConflict, msg: []string{"az keyvault certificate purge --vault-name appreg-test --name " + certName}},
		{name: "the name holds a secret the bot did not write", setup: func(e *env) { e.kv.SeedSecret(secretName, "someone's", "", nil) },
			kind: appreg.KindConflict, msg: []string{"already holds a secret named " + secretName + " that the bot did not write"}},
		{name: "404 from the vault", setup: inject(1, keyvaultfake.NotFound()),
			kind: appreg.KindNotFound, msg: []string{"answered 404 Not Found", "BOT_KEYVAULT_URL"}},
		{name: "no vault of that name", opts: []envOption{withSink(func(c *keyvault.Config) { c.VaultURL = "https://no-such-vault.vault.azure.net/" })},
			kind: appreg.KindNotFound, msg: []string{"no-such-vault.vault.azure.net", "does not resolve", "BOT_KEYVAULT_URL"}},
		{name: "400: the vault refuses the secret", setup: inject(1, on(keyvaultfake.OpSetSecret, keyvaultfake.Failure{Status: 400, Code: "BadParameter"})),
			kind: appreg.KindInvalid, msg: []string{"refused the secret " + secretName + " as invalid (BadParameter)"}},
		{name: "Entra ID refuses the bot's secret", opts: []envOption{withFake(func(o *keyvaultfake.Options) { o.ClientSecret = "the-real-one-is-another" })},
			kind: appreg.KindForbidden, msg: []string{"Entra ID refused the bot's own identity", "AADSTS7000215", "BOT_AZURE_CLIENT_SECRET"}},
		{name: "the vault is in another tenant", opts: []envOption{withFake(func(o *keyvaultfake.Options) { o.ChallengeTenant = "0a0b0c0d-1111-4222-8333-444455556666" })},
			kind: appreg.KindForbidden, msg: []string{"belongs to tenant 0a0b0c0d-1111-4222-8333-444455556666", "BOT_AZURE_TENANT_ID"}},
		{name: "the challenge asks for a token for another service", opts: []envOption{withFake(func(o *keyvaultfake.Options) { o.Resource = "https://vault.example.net" })},
			kind: appreg.KindInvalid, msg: []string{"a token meant for another service", "did not send it"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			if tc.setup != nil {
				tc.setup(e)
			}
			c := secretCredential()
			if tc.cert {
				c = certificateCredential(t, "ecdsa")
			}
			d, err := e.sink.Deliver(ctx(t), c)
			if err == nil {
				t.Fatalf("Deliver = %+v, want an error", d)
			}
			wantKind(t, err, tc.kind, tc.msg...)
			wait, throttled := appreg.RetryAfter(err)
			var th *appreg.Throttled
			if tc.wait != 0 && (!throttled || wait != tc.wait || !errors.As(err, &th)) {
				t.Errorf("RetryAfter = %v, %v; want %v", wait, throttled, tc.wait)
			}
			if tc.wait == 0 && throttled {
				t.Errorf("a Throttled (%v) in the chain", wait)
			}
			if tc.tries != 0 {
				failed := 0
				for _, call := range e.kv.Calls("") {
					if call.Token != "" && call.Status >= 400 {
						failed++
					}
				}
				if failed != tc.tries {
					t.Errorf("%d failed tries, want %d", failed, tc.tries)
				}
			}
			if !strings.Contains(e.logs.String(), "delivering a credential failed") {
				t.Errorf("the log does not say the delivery failed:\n%s", e.logs.String())
			}
		})
	}
}

// TestChallengeResource: a token goes only to a vault whose challenge names
// a parent domain of its host, unless verification is turned off.
func TestChallengeResource(t *testing.T) {
	refused := newEnv(t, withFake(func(o *keyvaultfake.Options) { o.Resource = "https://vault.example.net" }))
	_, err := refused.sink.Deliver(ctx(t), secretCredential())
	wantKind(t, err, appreg.KindInvalid)
	if reqs := refused.kv.TokenRequests(); len(reqs) != 0 {
		t.Errorf("a token was asked for: %+v", reqs)
	}

	allowed := newEnv(t,
		withFake(func(o *keyvaultfake.Options) { o.Resource = "https://vault.example.net" }),
		withSink(func(c *keyvault.Config) { c.DisableChallengeResourceVerification = true }))
	allowed.deliver(secretCredential())
	if reqs := allowed.kv.TokenRequests(); len(reqs) != 1 || !strings.Contains(reqs[0].Scope, "https://vault.example.net/.default") {
		t.Errorf("token requests = %+v", reqs)
	}
}

// TestRetries: a 429 or 5xx that passes within the retries is no error.
func TestRetries(t *testing.T) {
	e := newEnv(t)
	e.kv.FailNext(1, keyvaultfake.TooManyRequests(""))
	e.kv.FailNext(1, on(keyvaultfake.OpSetSecret, keyvaultfake.ServerError(http.StatusServiceUnavailable, "")))
	e.kv.FailNext(1, on(keyvaultfake.OpSetSecret, keyvaultfake.ServerError(http.StatusBadGateway, "")))
	e.deliver(secretCredential())
	if n := e.kv.PendingFailures(); n != 0 {
		t.Errorf("%d failures not met", n)
	}
	if n := len(e.kv.SecretVersions(secretName)); n != 1 {
		t.Errorf("%d versions, want 1", n)
	}
}

// TestNoCredentialInErrorsOrLogs: whatever Key Vault or Entra ID echo back
// (the secret's text, the private key, the bearer token, the bot's own
// client secret), the errors, their messages and the log hold none of it.
func TestNoCredentialInErrorsOrLogs(t *testing.T) {
	echo := func(f keyvaultfake.Failure) keyvaultfake.Failure { f.EchoCredentials = true; return f }
	for _, tc := range []struct {
		name  string
		cert  bool
		setup func(*env)
	}{
		{name: "a delivery that works"},
		{name: "400 on the write", setup: inject(1, echo(on(keyvaultfake.OpSetSecret, keyvaultfake.Failure{Status: 400, Code: "BadParameter"})))},
		{name: "403 on the write", setup: inject(1, echo(on(keyvaultfake.OpSetSecret, keyvaultfake.ForbiddenByAccessPolicy())))},
		{name: "409 on the write", setup: inject(1, echo(on(keyvaultfake.OpSetSecret, keyvaultfake.DeletedButRecoverable())))},
		{name: "500 on every try of the write", setup: inject(3, echo(on(keyvaultfake.OpSetSecret, keyvaultfake.ServerError(500, ""))))},
		{name: "401 on the list", setup: inject(2, echo(keyvaultfake.Unauthorized()))},
		{name: "a certificate that works", cert: true},
		{name: "400 on the import", cert: true, setup: inject(1, echo(on(keyvaultfake.OpImportCertificate, keyvaultfake.Failure{Status: 400, Code: "BadParameter"})))},
		{name: "403 on the import", cert: true, setup: inject(1, echo(on(keyvaultfake.OpImportCertificate, keyvaultfake.ForbiddenByRbac())))},
		{name: "Entra ID echoes the bot's secret", setup: func(e *env) {
			e.kv.FailTokens(1, keyvaultfake.Failure{Status: 401, Code: "invalid_client", EchoCredentials: true})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			c := secretCredential()
			secrets := []string{secretText, botSecret}
			if tc.cert {
				c = certificateCredential(t, "rsa")
				der, _ := x509.MarshalPKCS8PrivateKey(c.Key.Signer())
				lines := strings.Split(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "\n")
				secrets = append(secrets, "PRIVATE KEY", lines[1], lines[len(lines)/2])
			}
			d, err := e.sink.Deliver(ctx(t), c)
			secrets = append(secrets, e.kv.IssuedTokens()...)
			retireErr := e.sink.Retire(ctx(t), c)

			shown := map[string]string{
				"Delivered": fmt.Sprintf("%+v", d),
				"log":       e.logs.String(),
			}
			for i, err := range []error{err, retireErr} {
				if err != nil {
					shown[fmt.Sprint("error ", i)] = err.Error()
					shown[fmt.Sprint("formatted error ", i)] = fmt.Sprintf("%+v %#v", err, err)
					shown[fmt.Sprint("message ", i)] = appreg.ErrorMessage(err)
				}
			}
			for what, text := range shown {
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Errorf("the %s holds %q:\n%s", what, s, text)
					}
				}
			}
			// The echo did happen, and was scrubbed.
			if tc.setup != nil && err != nil && !strings.Contains(err.Error(), appreg.Redacted) {
				t.Errorf("nothing was redacted from %v", err)
			}
		})
	}
}
