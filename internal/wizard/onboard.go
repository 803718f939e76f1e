package wizard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// create runs the creation steps that have not run yet, recording each in
// the conversation before the next, so that a crash or a retry resumes where
// it stopped and never creates a second registration:
//
//	name free in the tenant → application → service principal → admin
//	consent per permission → client secret (delivered privately) →
//	credential check → registry → report
//
// work calls it in the creating state, with the admin's session.
func (w *Wizard) create(ctx context.Context, c *appreg.Conversation, sess appreg.Session) error {
	p := &c.Progress

	if p.AppObjectID == "" {
		// After a crash inside CreateApplication an application of that name
		// may be this conversation's own; creating again with the same key
		// returns it rather than make a second one.
		if !p.AppAttempted {
			existing, err := sess.FindApplication(ctx, c.Name)
			if err != nil {
				return err
			}
			if existing != nil {
				_ = w.store.ReleaseName(ctx, c.Service, c.Name, c.ID)
				taken := c.Name
				return w.askName(ctx, c, reasonNameTakenInTenant(taken, c.Identity))
			}
			p.AppAttempted = true
			if err := w.save(ctx, c); err != nil {
				return err
			}
		}
		app, err := sess.CreateApplication(ctx, "appreg-"+c.ID, c.Name, w.cfg.Permissions)
		if err != nil {
			return err
		}
		p.AppObjectID, p.AppID = app.ObjectID, app.AppID
		if err := w.recordStep(ctx, c, sess); err != nil {
			return err
		}
		w.audit(ctx, appreg.AuditRecord{Actor: c.Requester.User.ID, Action: "registration.create", Tenant: c.Tenant, Target: c.Name,
			Detail: fmt.Sprintf("application id %s in tenant %s, signed by %s", app.AppID, c.Identity.TenantID, c.Identity.Account)})
	}

	if p.ServicePrincipal == "" {
		sp, err := sess.EnsureServicePrincipal(ctx, p.AppID)
		if err != nil {
			return err
		}
		p.ServicePrincipal = sp
		if err := w.recordStep(ctx, c, sess); err != nil {
			return err
		}
	}

	for _, perm := range w.cfg.Permissions {
		if slices.Contains(p.Consented, perm.Name) || slices.Contains(p.ConsentPending, perm.Name) {
			continue
		}
		err := sess.GrantConsent(ctx, p.ServicePrincipal, perm)
		switch {
		case err == nil:
			p.Consented = append(p.Consented, perm.Name)
		case appreg.ErrorKind(err) == appreg.KindForbidden:
			p.ConsentPending = append(p.ConsentPending, perm.Name)
			w.log.Info("consent pending a Privileged Role Administrator", "conversation", c.ID, "permission", perm.Name)
		default:
			return err
		}
		if err := w.recordStep(ctx, c, sess); err != nil {
			return err
		}
	}

	if err := w.issueSecret(ctx, c, sess); err != nil {
		return err
	}

	grants, gerr := sess.SignInAppGrants(ctx)
	if gerr != nil {
		w.log.Warn("sign-in app grants not listed", "conversation", c.ID, "err", gerr)
	}
	now := w.now().UTC()
	reg := appreg.Registration{
		Tenant: tenantLabel(c), TenantID: c.Identity.TenantID, Domains: tenantDomains(c.Identity),
		Name: c.Name, AppID: p.AppID, AppObjectID: p.AppObjectID,
		ServicePrincipal: p.ServicePrincipal, Services: []string{c.Service},
		Secrets:   []appreg.SecretRecord{w.secretRecord(c)},
		CreatedBy: c.Requester, CreatedAt: now, Thread: c.Thread(),
	}
	if err := w.store.SaveRegistration(ctx, reg, appreg.Change{At: now, By: c.Requester.User.ID, What: "created with a secret for " + c.Service}); err != nil {
		return err
	}
	plan := w.track(ctx, &reg, reg.Secrets[0])
	if err := w.move(ctx, c, appreg.StateDone, nil); err != nil {
		return err
	}
	w.post(ctx, c, msgReport(c, w.cfg, grants, gerr, plan, w.localNow()))
	return nil
}

// issueSecret adds a client secret named after the conversation's service,
// delivers its text to the requester, once and privately, and checks that it
// works. A secret whose text was lost (the bot stopped between adding and
// delivering it) is removed and replaced. Each step is recorded in the
// conversation, so a retry resumes after the last one done.
func (w *Wizard) issueSecret(ctx context.Context, c *appreg.Conversation, sess appreg.Session) error {
	secret, err := w.deliverSecret(ctx, c, sess)
	if err != nil {
		return err
	}
	p := &c.Progress
	if p.Validated || p.ValidationNote != "" {
		return nil
	}
	if secret.Text == "" && secret.Key.IsZero() {
		p.ValidationNote = validationSkippedNote(c)
	} else {
		p.Validated, p.ValidationNote = w.validate(ctx, c, secret)
	}
	return w.save(ctx, c)
}

// deliverSecret adds the secret and delivers it; it returns the secret with
// its text when it was made in this call.
func (w *Wizard) deliverSecret(ctx context.Context, c *appreg.Conversation, sess appreg.Session) (appreg.Secret, error) {
	p := &c.Progress
	if p.SecretKeyID != "" && p.SecretDelivered {
		return appreg.Secret{KeyID: p.SecretKeyID, Expires: p.SecretExpires}, nil
	}
	if p.SecretKeyID != "" {
		// Made but never handed over (the bot stopped in between): nobody
		// can have it, so it goes, from the tenant and from any sink that
		// may have got it, and a new one is made.
		if err := sess.RemoveSecret(ctx, p.AppObjectID, p.SecretKeyID); err != nil {
			return appreg.Secret{}, err
		}
		w.retire(ctx, w.sinks, w.credential(c, appreg.Secret{KeyID: p.SecretKeyID, Expires: p.SecretExpires}))
		p.SecretKeyID, p.SecretExpires, p.SecretThumbprint = "", time.Time{}, ""
		if err := w.save(ctx, c); err != nil {
			return appreg.Secret{}, err
		}
	}
	name := secretName(c)
	if p.SecretAttempted {
		// A crash may have left a secret that nobody has: remove it.
		if err := w.removeStraySecrets(ctx, c, sess, name); err != nil {
			return appreg.Secret{}, err
		}
	} else {
		p.SecretAttempted = true
		if err := w.save(ctx, c); err != nil {
			return appreg.Secret{}, err
		}
	}
	secret, err := w.addCredential(ctx, c, sess, name)
	if err != nil {
		return appreg.Secret{}, err
	}
	p.SecretKeyID, p.SecretExpires, p.SecretThumbprint = secret.KeyID, secret.Expires, secret.Thumbprint
	p.LifetimeNote = ""
	if secret.Capped {
		p.LifetimeNote = lifetimeCappedNote(w.cfg.SecretLifetime, secret.Expires.Sub(w.now()))
	}
	if err := w.recordStep(ctx, c, sess); err != nil {
		return appreg.Secret{}, err
	}
	handed, err := w.handOver(ctx, c, secret)
	if err != nil {
		// The text can never be read again: remove the secret so the retry
		// makes a new one rather than leave one nobody has.
		rerr := sess.RemoveSecret(ctx, p.AppObjectID, secret.KeyID)
		if rerr == nil {
			p.SecretKeyID, p.SecretExpires, p.SecretThumbprint = "", time.Time{}, ""
			_ = w.save(ctx, c)
		}
		w.audit(ctx, appreg.AuditRecord{Actor: c.Requester.User.ID, Action: "secret.create", Tenant: c.Tenant, Target: c.Name,
			Detail:  fmt.Sprintf("service %s, key %s, not delivered (removed from the tenant: %v)", c.Service, secret.KeyID, rerr == nil),
			Outcome: "failed: " + appreg.ErrorMessage(err)})
		return appreg.Secret{}, notDelivered(err, rerr == nil)
	}
	p.SecretDelivered, p.Delivered = true, handed
	if err := w.save(ctx, c); err != nil {
		return appreg.Secret{}, err
	}
	where := "delivered privately to the requester"
	if len(handed) == 0 {
		w.awaitConfirmation(ctx, c, secret)
	} else {
		where = "delivered to " + joinWhere(handed)
	}
	w.audit(ctx, appreg.AuditRecord{Actor: c.Requester.User.ID, Action: "secret.create", Tenant: c.Tenant, Target: c.Name,
		Detail: fmt.Sprintf("service %s, key %s, expires %s, %s", c.Service, secret.KeyID, secret.Expires.Format("2006-01-02"), where)})
	return secret, nil
}

// addCredential adds the conversation's kind of credential: a client
// secret, or a certificate for a key made here.
func (w *Wizard) addCredential(ctx context.Context, c *appreg.Conversation, sess appreg.Session, name string) (appreg.Secret, error) {
	if c.Credential != appreg.KindCertificate {
		return sess.AddSecret(ctx, c.Progress.AppObjectID, name, w.cfg.SecretLifetime)
	}
	if len(w.sinks) == 0 {
		return appreg.Secret{}, errCertificateNeedsSink()
	}
	key, err := appreg.NewCertificateKey()
	if err != nil {
		return appreg.Secret{}, appreg.Wrap(appreg.KindInternal, err, "The certificate's key could not be made.")
	}
	return sess.AddCertificate(ctx, c.Progress.AppObjectID, name, w.cfg.SecretLifetime, key)
}

// handOver gives a new secret to whoever is to store it: the sinks when
// there are any (all of them, or none: a sink that took it is told to
// forget it when another fails), else the person, privately. It returns
// where the sinks put it.
func (w *Wizard) handOver(ctx context.Context, c *appreg.Conversation, secret appreg.Secret) ([]appreg.Delivered, error) {
	if len(w.sinks) == 0 {
		return nil, w.tell(ctx, c, msgSecret(c, secret, secretKey(c, secret.KeyID), w.localNow()))
	}
	cred := w.credential(c, secret)
	var handed []appreg.Delivered
	for i, s := range w.sinks {
		d, err := s.Deliver(ctx, cred)
		if err != nil {
			w.log.Warn("credential not delivered", "conversation", c.ID, "sink", s.Name(), "key_id", secret.KeyID, "kind", appreg.ErrorKind(err), "err", err)
			w.retire(ctx, w.sinks[:i], cred)
			return nil, &sinkError{sink: s.Name(), err: err}
		}
		handed = append(handed, d)
	}
	return handed, nil
}

// credential is what sinks are given of a secret of the conversation.
func (w *Wizard) credential(c *appreg.Conversation, s appreg.Secret) appreg.Credential {
	return appreg.Credential{Kind: cmp.Or(s.Kind, c.Credential).Named(), TenantID: c.Identity.TenantID, TenantDomain: tenantLabel(c), Registration: c.Name,
		ClientID: c.Progress.AppID, Service: c.Service, KeyID: s.KeyID, Expires: s.Expires, Secret: s.Text, Replaces: c.OldKeyID,
		Thumbprint: cmp.Or(s.Thumbprint, c.Progress.SecretThumbprint), Certificate: s.Certificate, Key: s.Key}
}

// retire tells sinks that a credential is gone from the tenant. A sink
// that cannot be told is logged and audited: it keeps a credential that no
// longer works, which is harmless but untidy.
func (w *Wizard) retire(ctx context.Context, sinks []appreg.Sink, cred appreg.Credential) {
	for _, s := range sinks {
		if err := s.Retire(ctx, cred); err != nil {
			w.log.Warn("credential not retired in a sink", "sink", s.Name(), "key_id", cred.KeyID, "err", err)
			w.audit(ctx, appreg.AuditRecord{Actor: "bot", Action: "credential.retire", Tenant: cred.TenantDomain, Target: cred.Registration,
				Detail: fmt.Sprintf("service %s, key %s, in %s", cred.Service, cred.KeyID, s.Name()), Outcome: "failed: " + appreg.ErrorMessage(err)})
		}
	}
}

// sinkError is a sink's refusal of a credential.
type sinkError struct {
	sink string
	err  error
}

func (e *sinkError) Error() string { return e.sink + ": " + e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

// notDelivered is the error of a credential no sink took: what the sink
// said, and that the credential is gone (or not) from the tenant.
func notDelivered(err error, removed bool) error {
	var se *sinkError
	if !errors.As(err, &se) {
		return err // the chat could not show it: its own error says why
	}
	return appreg.Wrap(appreg.ErrorKind(se.err), err, reasonNotDelivered(se.sink, appreg.ErrorMessage(se.err), removed))
}

// awaitConfirmation waits for the person shown a secret to say they stored
// it; the sweep reports it in the thread when nobody has by ConfirmTTL.
func (w *Wizard) awaitConfirmation(ctx context.Context, c *appreg.Conversation, s appreg.Secret) {
	d := appreg.SecretDelivery{Key: secretKey(c, s.KeyID), Tenant: tenantLabel(c), Registration: c.Name, Service: c.Service,
		To: signer(c), Thread: c.Thread(), DeliveredAt: w.now().UTC()}
	if err := w.store.AwaitConfirmation(ctx, d, w.now().Add(w.cfg.ConfirmTTL)); err != nil {
		w.log.Warn("secret delivery not awaited for a confirmation", "conversation", c.ID, "key_id", s.KeyID, "err", err)
	}
}

// secretKey names a secret of the conversation's registration.
func secretKey(c *appreg.Conversation, keyID string) appreg.SecretKey {
	return appreg.SecretKey{TenantID: c.Identity.TenantID, AppID: c.Progress.AppID, KeyID: keyID}
}

// validate checks the new credentials, retrying with a doubling wait while
// they replicate. It reports success, or which token failed and why.
func (w *Wizard) validate(ctx context.Context, c *appreg.Conversation, secret appreg.Secret) (bool, string) {
	wait := w.cfg.ValidationBackoff
	var checks []appreg.CredentialCheck
	for attempt := 1; ; attempt++ {
		if secret.IsCertificate() {
			checks = w.tenant.CheckCertificate(ctx, c.Identity.TenantID, c.Progress.AppID, secret.Certificate, secret.Key)
		} else {
			checks = w.tenant.CheckCredentials(ctx, c.Identity.TenantID, c.Progress.AppID, secret.Text)
		}
		if allOK(checks) {
			return true, ""
		}
		if attempt >= w.cfg.ValidationAttempts {
			break
		}
		w.log.Info("new credentials not working yet; waiting for replication", "conversation", c.ID, "attempt", attempt, "wait", wait)
		select {
		case <-ctx.Done():
			return false, validationStoppedNote
		case <-time.After(wait):
		}
		wait *= 2
	}
	return false, validationFailedNote(checks, w.cfg.ValidationAttempts)
}

func allOK(checks []appreg.CredentialCheck) bool {
	for _, ch := range checks {
		if !ch.OK {
			return false
		}
	}
	return len(checks) > 0
}

// secretRecord is the registry's record of the secret the conversation made.
func (w *Wizard) secretRecord(c *appreg.Conversation) appreg.SecretRecord {
	return appreg.SecretRecord{Kind: c.Credential, Thumbprint: c.Progress.SecretThumbprint, KeyID: c.Progress.SecretKeyID, Service: c.Service, Name: c.Service,
		Expires: c.Progress.SecretExpires, CreatedBy: c.Requester.User.ID, CreatedAt: w.now().UTC()}
}

// track schedules expiry reminders for a secret of a registration and
// says when and where they come; none when reminders are off or the
// schedule could not be written.
func (w *Wizard) track(ctx context.Context, r *appreg.Registration, s appreg.SecretRecord) appreg.ReminderPlan {
	if w.reminders == nil {
		return appreg.ReminderPlan{}
	}
	ref := appreg.SecretRef{Tenant: r.Tenant, TenantID: r.TenantID, Registration: r.Name, AppID: r.AppID,
		Service: s.Service, Kind: s.Kind, KeyID: s.KeyID, Expires: s.Expires, Thread: r.Thread, Engineer: r.CreatedBy.User.ID}
	if s.CreatedBy != "" {
		ref.Engineer = s.CreatedBy
	}
	plan, err := w.reminders.Track(ctx, ref)
	if err != nil {
		w.log.Warn("expiry reminders not scheduled", "app_id", r.AppID, "key_id", s.KeyID, "err", err)
	}
	return plan
}

// untrack drops the reminders of a secret that is gone.
func (w *Wizard) untrack(ctx context.Context, r *appreg.Registration, keyID string) {
	if w.reminders == nil {
		return
	}
	if err := w.reminders.Untrack(ctx, r.TenantID, r.AppID, keyID); err != nil {
		w.log.Warn("expiry reminders not dropped", "app_id", r.AppID, "key_id", keyID, "err", err)
	}
}

// recordStep saves a creation step done in the tenant. When the save loses
// to a cancel that came while the step ran, the step's result would go
// unrecorded: an undelivered secret is removed, nobody having its text, and
// a registration made just before the cancel is reported in the thread.
func (w *Wizard) recordStep(ctx context.Context, c *appreg.Conversation, sess appreg.Session) error {
	err := w.save(ctx, c)
	if appreg.ErrorKind(err) != appreg.KindConflict {
		return err
	}
	cur, lerr := w.store.Conversation(ctx, c.ID)
	if lerr != nil || cur.State != appreg.StateCancelled {
		return err
	}
	p := c.Progress
	if p.SecretKeyID != "" && !p.SecretDelivered {
		if rerr := sess.RemoveSecret(ctx, p.AppObjectID, p.SecretKeyID); rerr != nil {
			w.log.Warn("undelivered secret not removed after a cancel", "conversation", c.ID, "key_id", p.SecretKeyID, "err", rerr)
		}
	}
	if p.AppID != "" && cur.Progress.AppID == "" {
		w.post(ctx, cur, msgLateCancel(c))
	}
	return err
}

// secretName is the description of a secret the conversation adds: the
// service, and a mark of the conversation so that a resume can tell a secret
// it made but never recorded.
func secretName(c *appreg.Conversation) string {
	return c.Service + " (appreg " + c.ID[:min(8, len(c.ID))] + ")"
}

// removeStraySecrets removes the secrets this conversation added but never
// recorded (the bot stopped inside AddSecret): valid credentials nobody holds.
func (w *Wizard) removeStraySecrets(ctx context.Context, c *appreg.Conversation, sess appreg.Session, name string) error {
	st, err := sess.Inspect(ctx, c.Progress.AppID)
	if err != nil || st == nil {
		return err
	}
	for _, s := range st.Secrets {
		if s.Name == name && s.KeyID != c.Progress.SecretKeyID {
			if err := sess.RemoveSecret(ctx, st.ObjectID, s.KeyID); err != nil {
				return err
			}
			w.log.Info("stray secret removed after a crash", "conversation", c.ID, "key_id", s.KeyID)
		}
	}
	return nil
}
