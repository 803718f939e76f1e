package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/entra"
	"github.com/appreg-bot/appreg-bot/internal/keyvaultfake"
	"github.com/appreg-bot/appreg-bot/internal/slackfake"
	"github.com/appreg-bot/appreg-bot/internal/webhook/webhooktest"
)

const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// sinkEnv adds a webhook receiver, written from the Standard Webhooks
// specification, to the Slack environment.
func (e *env) webhookReceiver() (*webhooktest.Receiver, map[string]string) {
	rcv := webhooktest.New(webhookSecret)
	srv := httptest.NewServer(rcv)
	e.t.Cleanup(srv.Close)
	return rcv, map[string]string{"BOT_SECRET_SINKS": "webhook", "BOT_WEBHOOK_URL": srv.URL + "/appreg", "BOT_WEBHOOK_SECRET": webhookSecret,
		"BOT_STATE_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
}

// addService gives DR-Contoso's service a credential of its own (kind
// "secret" or "certificate") through /appreg secret.
func (e *env) addService(m *Main, service, kind string) {
	e.t.Helper()
	cmd := "secret DR-Contoso " + service
	if kind == "certificate" {
		cmd += " --certificate"
	}
	e.command(m, "U1", cmd)
	e.approveSignIn()
	e.waitCall("chat.postMessage", "New "+kind+" for service "+service)
}

// rotateFromReminder clicks Rotate on the reminder U1 got as a direct
// message, signs in, and confirms that the platform uses the new
// credential; it returns the reminder.
func (e *env) rotateFromReminder(m *Main, kind, service string) slackfake.Call {
	e.t.Helper()
	dm, err := e.slack.WaitFor(e.ctx, "chat.postMessage", func(c slackfake.Call) bool {
		return c.Params["channel"] == "U1" && buttonValue(c, "appreg.rotate") != ""
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.click(m, "U1", "appreg.rotate", buttonValue(dm, "appreg.rotate"))
	e.approveSignIn()
	rotated := e.waitCall("chat.postMessage", "remove the old "+kind)
	e.click(m, "U1", "appreg.confirm", buttonValue(rotated, "appreg.confirm"))
	e.waitCall("chat.postMessage", "old "+kind+" of service "+service+" was removed")
	return dm
}

// accepted waits until the receiver has accepted n events (removals go out
// in the background) and returns what it has then.
func (e *env) accepted(rcv *webhooktest.Receiver, n int) []webhooktest.Event {
	deadline := time.Now().Add(10 * time.Second)
	for len(rcv.Accepted()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return rcv.Accepted()
}

// TestWebhookSinkEndToEnd: with BOT_SECRET_SINKS=webhook, an onboarding, a
// second service and a rotation each send the receiver a signed event with
// the secret, and the rotated secret's removal follows; Slack only ever
// says where a secret went.
func TestWebhookSinkEndToEnd(t *testing.T) {
	e := newEnv(t)
	rcv, vars := e.webhookReceiver()
	e.sim.SetSecretMaxLifetime(demoTenantID, 48*time.Hour, true) // a reminder at once, to rotate from
	m := e.start(vars)
	appID := e.onboard(m, "U1", "DR-Contoso")
	report := e.waitCall("chat.postMessage", "Registration DR-Contoso created")
	if !strings.Contains(report.Text, "delivered to delivery msg_") || !strings.Contains(report.Text, "(not shown in chat)") {
		t.Errorf("the report does not say where the secret went:\n%s", report.Text)
	}
	e.sim.SetSecretMaxLifetime(demoTenantID, 0, false)

	e.addService(m, "sbc2", "secret")

	e.rotateFromReminder(m, "secret", "sbc1")

	// The removal goes out in the background.
	got := e.accepted(rcv, 4)
	if len(got) != 4 {
		t.Fatalf("the receiver accepted %d events, want 4: %+v", len(got), got)
	}
	want := []struct{ typ, service string }{
		{"credential.created", "sbc1"}, {"credential.created", "sbc2"}, {"credential.rotated", "sbc1"}, {"credential.removed", "sbc1"},
	}
	secrets := map[string]bool{}
	for i, w := range want {
		ev := got[i]
		if ev.Type != w.typ || ev.Data.Service != w.service || ev.Data.ClientID != appID || ev.Data.TenantID != demoTenantID ||
			ev.Data.TenantDomain != demoDomain || ev.Data.Registration != "DR-Contoso" || ev.Data.Kind != "secret" || ev.Data.KeyID == "" {
			t.Errorf("event %d = %s %+v, want %s for %s", i, ev.Type, ev.Data, w.typ, w.service)
		}
		if (ev.Data.Secret == "") != (w.typ == "credential.removed") {
			t.Errorf("event %d (%s) secret present = %v", i, ev.Type, ev.Data.Secret != "")
		}
		if ev.Data.Secret != "" {
			secrets[ev.Data.Secret] = true
		}
	}
	if got[2].Data.Replaces != got[0].Data.KeyID || got[3].Data.KeyID != got[0].Data.KeyID {
		t.Errorf("rotation replaces %s, removal of %s; the first secret was %s", got[2].Data.Replaces, got[3].Data.KeyID, got[0].Data.KeyID)
	}
	for _, a := range rcv.Attempts() {
		if !a.Verified {
			t.Errorf("attempt %s not verified: %s", a.ID, a.Why)
		}
	}
	// The tenant holds exactly the secrets the receiver has.
	inTenant := map[string]bool{}
	for _, s := range e.sim.Applications(demoTenantID)[0].Secrets {
		inTenant[s.KeyID] = true
	}
	if len(inTenant) != 2 || !inTenant[got[1].Data.KeyID] || !inTenant[got[2].Data.KeyID] {
		t.Errorf("secrets in the tenant: %v", inTenant)
	}
	for text := range secrets {
		for _, c := range e.slack.Calls("") {
			if strings.Contains(c.Text, text) || strings.Contains(c.Params["blocks"], text) {
				t.Fatalf("a secret reached Slack via %s", c.Method)
			}
		}
		if strings.Contains(e.logs.String(), text) {
			t.Fatal("a secret reached the log")
		}
	}
	for _, c := range e.slack.Calls("chat.postEphemeral") {
		if strings.Contains(c.Text, "Client secret for") {
			t.Fatalf("a secret message in Slack: %s", c.Text)
		}
	}
}

// TestStopWhileDeliveringToTheWebhook: the bot stops while the receiver
// holds the first attempt of a new secret; the next process ends up with
// every secret in the tenant delivered exactly once and every other one
// removed, from the tenant and, by a credential.removed event, from the
// receiver.
func TestStopWhileDeliveringToTheWebhook(t *testing.T) {
	e := newEnv(t)
	rcv, vars := e.webhookReceiver()
	held, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	rcv.Script(func(w http.ResponseWriter) {
		close(held)
		<-release
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	a := e.start(vars)
	e.command(a, "U1", "new contoso.onmicrosoft.com sbc1")
	e.approveSignIn()
	conv := buttonValue(e.waitCall("chat.postMessage", "What should the registration"), "appreg.name")
	e.submitName(a, "U1", conv, "DR-Contoso")
	select {
	case <-held:
	case <-e.ctx.Done():
		t.Fatal("the webhook was never called")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	b := e.start(vars)
	defer func() {
		if t.Failed() {
			t.Log(e.logs.String())
		}
	}()
	e.waitCall("chat.postMessage", "Registration DR-Contoso created")
	_ = b
	inTenant := map[string]bool{}
	for _, s := range e.sim.Applications(demoTenantID)[0].Secrets {
		inTenant[s.KeyID] = true
	}
	if len(inTenant) != 1 {
		t.Fatalf("secrets in the tenant: %v", inTenant)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		created, removed := map[string]int{}, map[string]int{}
		for _, ev := range rcv.Accepted() {
			switch ev.Type {
			case "credential.created":
				created[ev.Data.KeyID]++
			case "credential.removed":
				removed[ev.Data.KeyID]++
			}
		}
		settled := true
		for key := range inTenant {
			settled = settled && created[key] == 1 && removed[key] == 0
		}
		for key := range created {
			settled = settled && (inTenant[key] || removed[key] == 1)
		}
		if settled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenant %v, receiver created %v removed %v", inTenant, created, removed)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCertificateThroughTheWebhookEndToEnd: /appreg new … --certificate
// through Slack against the stand-in tenant: the certificate is added to
// the application, validated by real client-assertion token requests,
// delivered to the webhook as PEM with its key, reminded of (a tenant
// policy caps its lifetime to two days) and rotated from the reminder.
func TestCertificateThroughTheWebhookEndToEnd(t *testing.T) {
	e := newEnv(t)
	rcv, vars := e.webhookReceiver()
	e.sim.SetSecretMaxLifetime(demoTenantID, 48*time.Hour, true)
	m := e.start(vars)
	if _, body := e.command(m, "U1", "new contoso.onmicrosoft.com sbc1 --certificate"); !strings.Contains(body, "Starting") {
		t.Fatalf("new: %s", body)
	}
	e.approveSignIn()
	conv := buttonValue(e.waitCall("chat.postMessage", "What should the registration"), "appreg.name")
	e.submitName(m, "U1", conv, "DR-Contoso")
	report := e.waitCall("chat.postMessage", "Registration DR-Contoso created")
	for _, want := range []string{"Authentication validated", "the new certificate gets tokens", "The certificate was delivered to delivery msg_"} {
		if !strings.Contains(report.Text, want) {
			t.Errorf("report lacks %q:\n%s", want, report.Text)
		}
	}
	app := e.sim.Applications(demoTenantID)[0]
	if len(app.Certificates) != 1 || len(app.Secrets) != 0 {
		t.Fatalf("credentials in the tenant: %+v %+v", app.Certificates, app.Secrets)
	}
	got := rcv.Accepted()
	if len(got) != 1 || got[0].Type != "credential.created" || got[0].Data.Kind != "certificate" || got[0].Data.Certificate == nil || got[0].Data.Secret != "" {
		t.Fatalf("webhook events: %+v", got)
	}
	d := got[0].Data
	if d.KeyID != app.Certificates[0].KeyID || d.Thumbprint != app.Certificates[0].Thumbprint {
		t.Errorf("event names %s/%s, the tenant has %+v", d.KeyID, d.Thumbprint, app.Certificates[0])
	}
	cb, _ := pem.Decode([]byte(d.Certificate.CertificatePEM))
	kb, _ := pem.Decode([]byte(d.Certificate.PrivateKeyPEM))
	if cb == nil || kb == nil {
		t.Fatal("the event's PEM does not decode")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !key.(*rsa.PrivateKey).PublicKey.Equal(cert.PublicKey) || appreg.Thumbprint(cert) != d.Thumbprint {
		t.Fatal("the delivered key does not belong to the delivered certificate")
	}
	// The receiver can use it: a token with a client assertion it signs.
	checks := e.checkCertificate(t, app.AppID, cert, key.(*rsa.PrivateKey))
	for _, c := range checks {
		if !c.OK {
			t.Errorf("the receiver's certificate gets no token for %s: %s", c.Resource, c.Reason)
		}
	}

	e.sim.SetSecretMaxLifetime(demoTenantID, 0, false)
	if dm := e.rotateFromReminder(m, "certificate", "sbc1"); !strings.Contains(dm.Text, "the certificate of DR-Contoso") {
		t.Errorf("reminder: %s", dm.Text)
	}
	got = e.accepted(rcv, 3)
	if len(got) != 3 || got[1].Type != "credential.rotated" || got[1].Data.Replaces != d.KeyID || got[2].Type != "credential.removed" || got[2].Data.KeyID != d.KeyID {
		t.Fatalf("events after rotation: %+v", got)
	}
	app = e.sim.Applications(demoTenantID)[0]
	if len(app.Certificates) != 1 || app.Certificates[0].KeyID != got[1].Data.KeyID {
		t.Fatalf("certificates after rotation: %+v", app.Certificates)
	}
	for _, c := range e.slack.Calls("") {
		if strings.Contains(c.Text, "PRIVATE KEY") || strings.Contains(c.Params["blocks"], "PRIVATE KEY") {
			t.Fatalf("a private key reached Slack via %s", c.Method)
		}
	}
	if strings.Contains(e.logs.String(), "PRIVATE KEY") {
		t.Fatal("a private key reached the log")
	}
}

// checkCertificate acquires app-only tokens from the stand-in with a
// certificate and key, as the provider's platform would.
func (e *env) checkCertificate(t *testing.T, appID string, cert *x509.Certificate, key *rsa.PrivateKey) []appreg.CredentialCheck {
	t.Helper()
	tn, err := entra.New(entra.Config{ClientID: e.sim.ClientID(), AuthorityHost: e.sim.URL(), GraphEndpoint: e.sim.URL(), HTTPClient: e.sim.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return tn.CheckCertificate(e.ctx, demoTenantID, appID, cert, appreg.NewPrivateKey(key))
}

// TestKeyVaultAndWebhookEndToEnd: with BOT_SECRET_SINKS=keyvault,webhook
// against a fake Key Vault (challenge authentication, the real azsecrets
// and azcertificates clients, the bot's own identity) and the webhook
// receiver: an onboarding, a second service, a rotation and a certificate
// for a third service each reach both; the rotated secret's Key Vault
// version is disabled once the old secret is removed.
func TestKeyVaultAndWebhookEndToEnd(t *testing.T) {
	e := newEnv(t)
	rcv, vars := e.webhookReceiver()
	const identitySecret = "kv-identity-Secret~0123456789abcdef"
	kv := keyvaultfake.New(keyvaultfake.Options{ClientID: "b07c3f00-0000-4000-8000-000000000b07", ClientSecret: identitySecret})
	t.Cleanup(kv.Close)
	maps.Copy(vars, map[string]string{"BOT_SECRET_SINKS": "keyvault,webhook", "BOT_KEYVAULT_URL": kv.VaultURL(),
		"BOT_AZURE_TENANT_ID": kv.TenantID(), "BOT_AZURE_CLIENT_ID": kv.ClientID(), "BOT_AZURE_CLIENT_SECRET": identitySecret,
		"AZURE_AUTHORITY_HOST": kv.AuthorityHost()})
	e.sim.SetSecretMaxLifetime(demoTenantID, 48*time.Hour, true) // a reminder at once, to rotate from
	m := e.startWith(vars, func(m *Main) { m.keyVaultClient = kv.Client() })
	appID := e.onboard(m, "U1", "DR-Contoso")
	report := e.waitCall("chat.postMessage", "Registration DR-Contoso created")
	if !strings.Contains(report.Text, "delivered to Key Vault "+kv.VaultHost()) || !strings.Contains(report.Text, "and delivery msg_") {
		t.Errorf("the report does not say where the secret went:\n%s", report.Text)
	}
	e.sim.SetSecretMaxLifetime(demoTenantID, 0, false)
	e.addService(m, "sbc2", "secret")

	e.rotateFromReminder(m, "secret", "sbc1")

	e.addService(m, "sbc3", "certificate")

	// The webhook got every event; Key Vault holds the same credentials.
	events := e.accepted(rcv, 5)
	if len(events) != 5 {
		t.Fatalf("webhook events: %d, want created sbc1, created sbc2, rotated sbc1, removed sbc1, created sbc3", len(events))
	}
	byKey := map[string]string{} // key id → secret text, from the webhook
	for _, ev := range events {
		if ev.Data.Secret != "" {
			byKey[ev.Data.KeyID] = ev.Data.Secret
		}
	}
	versions := 0
	var disabled []string
	for _, name := range kv.SecretNames() {
		for _, v := range kv.SecretVersions(name) {
			if v.Managed {
				continue // the secret behind the certificate
			}
			versions++
			key := v.Tags["key-id"]
			if byKey[key] == "" || v.Value != byKey[key] || v.Tags["client-id"] != appID || v.Tags["tenant-id"] != demoTenantID {
				t.Errorf("Key Vault %s/%s: key %s, tags %v: not the secret the webhook got", name, v.Version, key, v.Tags)
			}
			if !v.Enabled {
				disabled = append(disabled, key)
			}
		}
	}
	if versions != 3 || len(disabled) != 1 || disabled[0] != events[0].Data.KeyID {
		t.Errorf("Key Vault: %d secret versions, disabled %v; want 3, the rotated %s disabled", versions, disabled, events[0].Data.KeyID)
	}
	certEvent := events[4]
	if certEvent.Type != "credential.created" || certEvent.Data.Kind != "certificate" || certEvent.Data.Service != "sbc3" {
		t.Fatalf("last event: %+v", certEvent)
	}
	var imported []keyvaultfake.CertificateVersion
	for _, name := range kv.SecretNames() {
		imported = append(imported, kv.CertificateVersions(name)...)
	}
	if len(imported) != 1 || appreg.Thumbprint(imported[0].Certificate) != certEvent.Data.Thumbprint ||
		!appreg.Signs(appreg.NewPrivateKey(imported[0].Key), imported[0].Certificate) {
		t.Fatalf("certificates in Key Vault: %+v", imported)
	}
	inTenant := e.sim.Applications(demoTenantID)[0]
	if len(inTenant.Secrets) != 2 || len(inTenant.Certificates) != 1 || inTenant.Certificates[0].Thumbprint != certEvent.Data.Thumbprint {
		t.Errorf("tenant: secrets %+v, certificates %+v", inTenant.Secrets, inTenant.Certificates)
	}
	for text := range maps.Values(byKey) {
		for _, c := range e.slack.Calls("") {
			if strings.Contains(c.Text, text) || strings.Contains(c.Params["blocks"], text) {
				t.Fatalf("a secret reached Slack via %s", c.Method)
			}
		}
	}
	kept := e.redisText()
	if !strings.Contains(kept, "DR-Contoso") {
		t.Fatal("the Redis dump holds nothing of the registration: it cannot show what is missing")
	}
	for _, s := range append(slices.Collect(maps.Values(byKey)), identitySecret, "PRIVATE KEY") {
		if strings.Contains(e.logs.String(), s) {
			t.Fatalf("the log holds %.12s…", s)
		}
		if strings.Contains(kept, s) {
			t.Fatalf("Redis holds %.12s…", s)
		}
	}
}
