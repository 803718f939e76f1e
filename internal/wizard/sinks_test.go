package wizard

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/fakes"
)

// withSinks is a harness whose credentials go to a vault and a webhook.
func withSinks(t *testing.T, tweak ...func(*Config)) (*harness, *fakes.Sink, *fakes.Sink) {
	t.Helper()
	vault, hook := fakes.NewSink("keyvault"), fakes.NewSink("webhook")
	h := newHarness(t, tweak...)
	h.w.Close()
	h.sinks = []appreg.Sink{vault, hook}
	h.w = h.newWizard()
	return h, vault, hook
}

// noSecretInChat: no text of any secret the tenant made reached chat.
func noSecretInChat(t *testing.T, h *harness, sinks ...*fakes.Sink) {
	t.Helper()
	for _, s := range sinks {
		for _, c := range s.Delivered() {
			if c.Secret == "" {
				continue // a certificate: its key is checked separately
			}
			for _, said := range h.chat.Said() {
				if strings.Contains(said.Text(), c.Secret.Reveal()) {
					t.Errorf("secret %s in a %s message: %s", c.KeyID, said.Kind, said.Text())
				}
			}
		}
	}
}

// TestSecretsGoToTheSinksNotTheChat: with sinks, an onboarding, a second
// service and a rotation hand every secret to each sink, and the engineer
// sees where it went, never the secret; the rotated one is retired.
func TestSecretsGoToTheSinksNotTheChat(t *testing.T) {
	h, vault, hook := withSinks(t)
	reg := h.onboard()
	report := h.wait(fakes.Containing("post", "Registration Voice1 created"))
	if !strings.Contains(report.Text(), "The secret was delivered to keyvault ") || !strings.Contains(report.Text(), "(not shown in chat)") {
		t.Errorf("report: %s", report.Text())
	}
	for _, s := range h.chat.Said() {
		if strings.Contains(s.Text(), "Client secret for") || strings.Contains(s.Text(), "I have stored it") {
			t.Errorf("a secret message in chat: %s", s.Text())
		}
	}
	got := vault.Delivered()
	if len(got) != 1 || len(hook.Delivered()) != 1 || got[0].Secret.Reveal() == "" || got[0].ClientID != reg.AppID ||
		got[0].Service != "sbc1" || got[0].TenantDomain != "contoso.onmicrosoft.com" || got[0].Replaces != "" {
		t.Fatalf("delivered: %+v", got)
	}

	h.command(requester, "secret Voice1 sbc2")
	h.approveNext(2)
	h.wait(fakes.Containing("post", "New secret for service sbc2"))
	rec := h.record("Voice1")
	old := rec.SecretFor("sbc1").KeyID
	h.act(h.caller(requester), appreg.ActionRotate, appreg.SecretKey{TenantID: reg.TenantID, AppID: reg.AppID, KeyID: old}.String())
	h.approveNext(3)
	h.waitState(appreg.StateAwaitingConfirm)
	h.click(requester, ActionConfirm)
	h.waitState(appreg.StateDone)
	if d := vault.Delivered(); len(d) != 3 || d[2].Replaces != old || d[2].Service != "sbc1" {
		t.Fatalf("delivered: %+v", d)
	}
	for _, s := range []*fakes.Sink{vault, hook} {
		if r := s.Retired(); len(r) != 1 || r[0].KeyID != old {
			t.Errorf("%s retired %+v, want the rotated %s", s.Name(), r, old)
		}
	}
	noSecretInChat(t, h, vault, hook)
}

// TestSinkThatCannotTakeTheSecret: when a sink refuses the credential after
// its retries, the credential is removed from the tenant and from the sink
// that took it, the engineer is told why, and Retry makes a fresh one;
// nothing falls back to the chat.
func TestSinkThatCannotTakeTheSecret(t *testing.T) {
	h, vault, hook := withSinks(t)
	hook.FailNext(appreg.Errorf(appreg.KindUnavailable, "The platform's webhook answered 503 six times."))
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	h.submitName("Voice1")
	failed := h.wait(fakes.Containing("post", "could not be delivered to the provider's platform (webhook)"))
	for _, want := range []string{"answered 503 six times.", "It was removed from the tenant", "Retry makes a new one", "Nothing was shown in chat"} {
		if !strings.Contains(failed.Text(), want) {
			t.Errorf("message lacks %q: %s", want, failed.Text())
		}
	}
	c := h.conversation()
	first := vault.Delivered()[0].KeyID
	if secrets := h.tenant.Secrets(c.Progress.AppID); len(secrets) != 0 {
		t.Fatalf("secrets left in the tenant: %v", secrets)
	}
	if r := vault.Retired(); len(r) != 1 || r[0].KeyID != first {
		t.Fatalf("the vault keeps the undelivered secret: %+v", r)
	}
	h.click(requester, ActionRetry)
	c = h.waitState(appreg.StateDone)
	if secrets := h.tenant.Secrets(c.Progress.AppID); len(secrets) != 1 || secrets[0] == first || hook.Delivered()[0].KeyID != secrets[0] {
		t.Fatalf("after Retry: tenant %v, webhook %+v", secrets, hook.Delivered())
	}
	noSecretInChat(t, h, vault, hook)
}

// TestCrashBetweenSecretAndDelivery: the replica dies while a sink takes
// the new secret; after the restart the secret is either delivered once or
// gone: it is removed from the tenant and retired from the sinks, and a
// new one is delivered.
func TestCrashBetweenSecretAndDelivery(t *testing.T) {
	h, vault, hook := withSinks(t, func(c *Config) { c.StateKey = bytes.Repeat([]byte{9}, 32) })
	h.signIn()
	h.waitState(appreg.StateAwaitingName)
	dying := h.w
	crashed := make(chan struct{})
	hook.OnDeliver = func(appreg.Credential) {
		select {
		case <-crashed:
			return // the new replica's delivery
		default:
		}
		close(crashed)
		go dying.Close()
		time.Sleep(20 * time.Millisecond)
	}
	h.submitName("Voice1")
	<-crashed
	dying.Close()
	time.Sleep(h.cfg.LeaseTTL + 50*time.Millisecond)
	h.w = h.newWizard()
	h.w.Sweep(h.ctx)
	c := h.waitState(appreg.StateDone)
	secrets := h.tenant.Secrets(c.Progress.AppID)
	if len(secrets) != 1 || secrets[0] != c.Progress.SecretKeyID {
		t.Fatalf("tenant secrets %v, recorded %s", secrets, c.Progress.SecretKeyID)
	}
	// Every secret a sink got is either the one in the tenant (and got it
	// once) or retired.
	for _, s := range []*fakes.Sink{vault, hook} {
		live := 0
		for _, d := range s.Delivered() {
			retired := false
			for _, r := range s.Retired() {
				retired = retired || r.KeyID == d.KeyID
			}
			switch {
			case d.KeyID == secrets[0]:
				live++
			case !retired:
				t.Errorf("%s keeps %s, which is not in the tenant", s.Name(), d.KeyID)
			}
		}
		if live != 1 {
			t.Errorf("%s got the live secret %d times", s.Name(), live)
		}
	}
}

// TestCertificateCredentials: with --certificate an onboarding makes an
// RSA key and a self-signed certificate, adds it to the application,
// validates it with a signed assertion and hands certificate and key to
// the sinks; the record, the reminders and the report say certificate. A
// rotation replaces it with a new certificate and retires the old one; a
// check adopts a certificate uploaded in the portal.
func TestCertificateCredentials(t *testing.T) {
	h, vault, hook := withSinks(t)
	h.command(requester, "new contoso.onmicrosoft.com sbc1 --certificate")
	if _, err := h.tenant.WaitPending(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.tenant.Approve()
	h.waitState(appreg.StateAwaitingName)
	h.submitName("Voice1")
	c := h.waitState(appreg.StateDone)
	report := h.wait(fakes.Containing("post", "Registration Voice1 created"))
	for _, want := range []string{"the new certificate gets tokens", "The certificate was delivered to keyvault", "Certificate expires"} {
		if !strings.Contains(report.Text(), want) {
			t.Errorf("report lacks %q: %s", want, report.Text())
		}
	}
	got := vault.Delivered()
	if len(got) != 1 || len(hook.Delivered()) != 1 {
		t.Fatalf("delivered: %+v", got)
	}
	cred := got[0]
	if cred.Kind != appreg.KindCertificate || cred.Secret != "" || cred.Certificate == nil || !appreg.Signs(cred.Key, cred.Certificate) ||
		cred.Thumbprint != appreg.Thumbprint(cred.Certificate) || cred.KeyID != c.Progress.SecretKeyID {
		t.Fatalf("credential: %+v", cred)
	}
	if n := h.tenant.Calls("CheckCertificate"); n == 0 || h.tenant.Calls("CheckCredentials") != 0 {
		t.Errorf("checks: %d certificate, %d secret", n, h.tenant.Calls("CheckCredentials"))
	}
	reg := h.record("Voice1")
	rec := reg.SecretFor("sbc1")
	if rec == nil || rec.Kind != appreg.KindCertificate || rec.Thumbprint != cred.Thumbprint {
		t.Fatalf("record: %+v", reg.Secrets)
	}
	if ref, ok := h.rem.Tracked(rec.KeyID); !ok || ref.Kind != appreg.KindCertificate {
		t.Fatalf("reminders tracked: %+v %v", ref, ok)
	}
	if list := h.command(requester, "list").Text; !strings.Contains(list, "certificate for sbc1") {
		t.Errorf("list: %s", list)
	}

	// Rotation: a certificate again, the old one retired.
	h.act(h.caller(requester), appreg.ActionRotate, appreg.SecretKey{TenantID: reg.TenantID, AppID: reg.AppID, KeyID: rec.KeyID}.String())
	h.approveNext(2)
	h.wait(fakes.Containing("post", "remove the old certificate"))
	h.click(requester, ActionConfirm)
	h.wait(fakes.Containing("post", "The old certificate of service sbc1 was removed"))
	d := vault.Delivered()
	if len(d) != 2 || d[1].Kind != appreg.KindCertificate || d[1].Replaces != rec.KeyID || d[1].Certificate.Equal(cred.Certificate) {
		t.Fatalf("rotation delivered: %+v", d)
	}
	if r := hook.Retired(); len(r) != 1 || r[0].KeyID != rec.KeyID || r[0].Kind != appreg.KindCertificate || r[0].Thumbprint != cred.Thumbprint {
		t.Errorf("retired: %+v", r)
	}

	// A certificate uploaded in the portal is adopted by a check.
	h.tenant.AddCertificateDirectly(reg.AppID, "portal-cert", "ABCDEF0123", time.Now().Add(200*24*time.Hour))
	h.command(requester, "check Voice1")
	h.approveNext(3)
	h.wait(fakes.Containing("post", "created outside the bot"))
	after := h.record("Voice1")
	adopted := after.Secret("portal-cert")
	if adopted == nil || adopted.Kind != appreg.KindCertificate || adopted.Thumbprint != "ABCDEF0123" || !adopted.Adopted {
		t.Fatalf("adopted: %+v", adopted)
	}
	noSecretInChat(t, h, vault, hook)
	for _, said := range h.chat.Said() {
		if strings.Contains(said.Text(), "PRIVATE KEY") {
			t.Fatalf("a private key in chat: %s", said.Text())
		}
	}
}
