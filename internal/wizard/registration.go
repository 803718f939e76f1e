package wizard

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// The flows on an existing registration: after the sign-in, each runs its
// own work step (work dispatches); an onboarding runs create instead.

// work runs the conversation's flow in the creating state: it gets the
// admin's session (or asks for a new sign-in), clears the reason of a failed
// step being retried, and dispatches on the flow.
func (w *Wizard) work(ctx context.Context, c *appreg.Conversation) error {
	if c.State != appreg.StateCreating {
		return nil
	}
	sess := w.session(ctx, c)
	if sess == nil {
		return w.expire(ctx, c, reasonSessionLost())
	}
	if !c.Reason.IsEmpty() { // a retry after a failed step
		c.Reason = nil
		if err := w.save(ctx, c); err != nil {
			return err
		}
	}
	switch c.Flow {
	case appreg.FlowOnboard:
		return w.create(ctx, c, sess)
	case appreg.FlowRole:
		return w.executeRole(ctx, c, sess)
	}
	reg, err := w.registration(ctx, c)
	if err != nil {
		return err
	}
	switch c.Flow {
	case appreg.FlowSecret, appreg.FlowRotate, appreg.FlowReplace:
		if c.Confirmed && c.Progress.SecretDelivered && c.OldKeyID != "" {
			return w.removeOldSecret(ctx, c)
		}
		return w.newSecret(ctx, c, sess, reg)
	case appreg.FlowCleanup:
		if !c.Confirmed {
			return w.askCleanup(ctx, c, sess, reg)
		}
		return w.runCleanup(ctx, c, sess, reg)
	case appreg.FlowCheck:
		return w.check(ctx, c, sess, reg)
	}
	return fmt.Errorf("conversation %s: unknown flow %q", c.ID, c.Flow)
}

// afterSignIn starts the flow of a conversation on an existing registration
// once its admin has signed in.
func (w *Wizard) afterSignIn(ctx context.Context, c *appreg.Conversation) error {
	if err := w.move(ctx, c, appreg.StateCreating, nil); err != nil {
		return err
	}
	return w.work(ctx, c)
}

// askCleanup lists what a cleanup would remove and asks to confirm.
func (w *Wizard) askCleanup(ctx context.Context, c *appreg.Conversation, sess appreg.Session, reg *appreg.Registration) error {
	plan, err := w.planCleanup(ctx, sess, reg)
	if err != nil {
		return err
	}
	if len(plan.Grants) == 0 && len(plan.Extra) == 0 {
		if err := w.move(ctx, c, appreg.StateDone, func(c *appreg.Conversation) { c.Cleanup = plan }); err != nil {
			return err
		}
		w.post(ctx, c, msgNothingToClean(reg))
		return nil
	}
	if err := w.move(ctx, c, appreg.StateAwaitingConfirm, func(c *appreg.Conversation) { c.Cleanup = plan }); err != nil {
		return err
	}
	w.post(ctx, c, msgCleanupPlan(c, reg, plan))
	return nil
}

// registration loads the record of the conversation's registration.
func (w *Wizard) registration(ctx context.Context, c *appreg.Conversation) (*appreg.Registration, error) {
	regs, err := w.store.Registrations(ctx, c.Tenant)
	if err != nil {
		return nil, err
	}
	for i := range regs {
		if regs[i].AppID == c.Progress.AppID {
			return &regs[i], nil
		}
	}
	return nil, appreg.Errorf(appreg.KindNotFound, "The bot has no record of registration %s any more.", c.Name)
}

// inspect reads the registration in the tenant; a registration deleted
// behind the bot's back ends the conversation with that news.
func (w *Wizard) inspect(ctx context.Context, c *appreg.Conversation, sess appreg.Session) (*appreg.AppState, error) {
	st, err := sess.Inspect(ctx, c.Progress.AppID)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, w.move(ctx, c, appreg.StateFailed, func(c *appreg.Conversation) { c.Reason = reasonDeletedInTenant(c) })
	}
	return st, nil
}

// newSecret adds a secret for the conversation's service to the
// registration, delivers it privately, checks it and records it. A rotation
// then asks to confirm before the old secret is removed.
func (w *Wizard) newSecret(ctx context.Context, c *appreg.Conversation, sess appreg.Session, reg *appreg.Registration) error {
	if c.Progress.SecretKeyID == "" || !c.Progress.SecretDelivered {
		st, err := w.inspect(ctx, c, sess)
		if err != nil || st == nil {
			return err
		}
		c.Progress.AppObjectID = st.ObjectID
	}
	if err := w.issueSecret(ctx, c, sess); err != nil {
		return err
	}
	rec := w.secretRecord(c)
	what := "secret added for " + c.Service
	switch c.Flow {
	case appreg.FlowRotate:
		what = "secret rotated for " + c.Service + ": new " + rec.KeyID
	case appreg.FlowReplace:
		what = "unconfirmed secret " + c.OldKeyID + " of " + c.Service + " replaced: new " + rec.KeyID
	}
	reg, err := w.store.UpdateRegistration(ctx, reg.TenantID, reg.AppID, w.change(c, what), func(r *appreg.Registration) error {
		if !slices.ContainsFunc(r.Secrets, func(s appreg.SecretRecord) bool { return s.KeyID == rec.KeyID }) {
			r.Secrets = append(r.Secrets, rec)
		}
		if !r.HasService(c.Service) {
			r.Services = append(r.Services, c.Service)
		}
		return nil
	})
	if err != nil {
		return err
	}
	plan := w.track(ctx, reg, rec)
	if c.Flow == appreg.FlowReplace { // nobody stored the old one: it goes at once
		w.post(ctx, c, msgReplacementMade(c, plan, w.localNow()))
		return w.removeOldSecret(ctx, c)
	}
	if c.Flow == appreg.FlowRotate {
		if err := w.move(ctx, c, appreg.StateAwaitingConfirm, nil); err != nil {
			return err
		}
		w.post(ctx, c, msgRotated(c, plan, w.localNow()))
		return nil
	}
	if err := w.move(ctx, c, appreg.StateDone, nil); err != nil {
		return err
	}
	w.post(ctx, c, msgSecretAdded(c, plan, w.localNow()))
	return nil
}

// removeOldSecret finishes a rotation once the requester confirmed that the
// platform uses the new secret, and a replacement as soon as the new secret
// is delivered.
func (w *Wizard) removeOldSecret(ctx context.Context, c *appreg.Conversation) error {
	if c.State != appreg.StateCreating || (c.Flow != appreg.FlowRotate && c.Flow != appreg.FlowReplace) || !c.Confirmed {
		return nil
	}
	sess := w.session(ctx, c)
	if sess == nil {
		return w.expire(ctx, c, reasonSessionLost())
	}
	reg, err := w.registration(ctx, c)
	if err != nil {
		return err
	}
	if err := sess.RemoveSecret(ctx, c.Progress.AppObjectID, c.OldKeyID); err != nil {
		return err
	}
	if old := reg.Secret(c.OldKeyID); old != nil {
		w.retire(ctx, w.sinks, recordCredential(reg, *old))
	}
	reg, err = w.store.UpdateRegistration(ctx, reg.TenantID, reg.AppID, w.change(c, "old secret "+c.OldKeyID+" removed"), func(r *appreg.Registration) error {
		r.Secrets = slices.DeleteFunc(r.Secrets, func(s appreg.SecretRecord) bool { return s.KeyID == c.OldKeyID })
		return nil
	})
	if err != nil {
		return err
	}
	w.untrack(ctx, reg, c.OldKeyID)
	why := "after the rotation was confirmed"
	if c.Flow == appreg.FlowReplace {
		why = "its delivery was never confirmed; replaced"
	}
	w.audit(ctx, appreg.AuditRecord{Actor: c.Requester.User.ID, Action: "secret.remove", Tenant: c.Tenant, Target: c.Name,
		Detail: fmt.Sprintf("old secret %s of service %s, %s", c.OldKeyID, c.Service, why)})
	if err := w.move(ctx, c, appreg.StateDone, nil); err != nil {
		return err
	}
	w.post(ctx, c, msgOldSecretRemoved(c))
	return nil
}

// planCleanup lists what is not required once the registration exists.
func (w *Wizard) planCleanup(ctx context.Context, sess appreg.Session, reg *appreg.Registration) (*appreg.CleanupPlan, error) {
	grants, err := sess.SignInAppGrants(ctx)
	if err != nil {
		return nil, err
	}
	st, err := sess.Inspect(ctx, reg.AppID)
	if err != nil {
		return nil, err
	}
	plan := &appreg.CleanupPlan{Grants: grants}
	if st != nil {
		plan.Extra = w.extraPermissions(st)
	}
	return plan, nil
}

// extraPermissions are the registration's permissions beyond the profile.
func (w *Wizard) extraPermissions(st *appreg.AppState) []appreg.Permission {
	var extra []appreg.Permission
	for _, p := range slices.Concat(st.Required, st.Consented) {
		if !w.inProfile(p) && !slices.ContainsFunc(extra, func(q appreg.Permission) bool { return q.Name == p.Name }) {
			extra = append(extra, p)
		}
	}
	return extra
}

func (w *Wizard) inProfile(p appreg.Permission) bool {
	return slices.ContainsFunc(w.cfg.Permissions, func(q appreg.Permission) bool { return strings.EqualFold(q.Name, p.Name) })
}

// runCleanup removes what the confirmed plan lists, recording each removal
// so that a retry after a Graph failure finishes the rest.
func (w *Wizard) runCleanup(ctx context.Context, c *appreg.Conversation, sess appreg.Session, reg *appreg.Registration) error {
	plan := c.Cleanup
	current, err := sess.SignInAppGrants(ctx)
	if err != nil {
		return err
	}
	for _, g := range plan.Grants {
		if slices.Contains(plan.Done, g.ID) || slices.Contains(plan.AlreadyGone, g.ID) {
			continue
		}
		if !slices.ContainsFunc(current, func(h appreg.Grant) bool { return h.ID == g.ID }) {
			plan.AlreadyGone = append(plan.AlreadyGone, g.ID)
		} else if err := sess.RemoveGrant(ctx, g.ID); err != nil {
			return err
		} else {
			plan.Done = append(plan.Done, g.ID)
		}
		if err := w.save(ctx, c); err != nil {
			return err
		}
	}
	if len(plan.Extra) > 0 {
		st, err := w.inspect(ctx, c, sess)
		if err != nil || st == nil {
			return err
		}
		for _, p := range plan.Extra {
			if slices.Contains(plan.Done, p.Name) || slices.Contains(plan.AlreadyGone, p.Name) {
				continue
			}
			has := func(q appreg.Permission) bool { return q.Name == p.Name }
			if !slices.ContainsFunc(st.Required, has) && !slices.ContainsFunc(st.Consented, has) {
				plan.AlreadyGone = append(plan.AlreadyGone, p.Name)
			} else if err := sess.RemovePermission(ctx, *st, p); err != nil {
				return err
			} else {
				plan.Done = append(plan.Done, p.Name)
			}
			if err := w.save(ctx, c); err != nil {
				return err
			}
		}
	}
	if _, err := w.store.UpdateRegistration(ctx, reg.TenantID, reg.AppID,
		w.change(c, fmt.Sprintf("cleanup: %d removed, %d already gone", len(plan.Done), len(plan.AlreadyGone))),
		func(*appreg.Registration) error { return nil }); err != nil {
		return err
	}
	w.audit(ctx, appreg.AuditRecord{Actor: c.Requester.User.ID, Action: "cleanup", Tenant: c.Tenant, Target: c.Name,
		Detail: fmt.Sprintf("removed %s; already gone %s", strings.Join(plan.Done, ", "), strings.Join(plan.AlreadyGone, ", "))})
	if err := w.move(ctx, c, appreg.StateDone, nil); err != nil {
		return err
	}
	w.post(ctx, c, msgCleanupDone(c, reg))
	return nil
}

// check compares the tenant with the record and the profile, adopts secrets
// created outside the bot, and reports each point as OK or drift.
func (w *Wizard) check(ctx context.Context, c *appreg.Conversation, sess appreg.Session, reg *appreg.Registration) error {
	st, err := w.inspect(ctx, c, sess)
	if err != nil || st == nil {
		return err
	}
	now := w.localNow()
	var fs []finding
	add := func(ok bool, what, detail string, fix appreg.Text) { fs = append(fs, finding{ok, what, detail, fix}) }

	add(st.ServicePrincipal != "", "Service principal", "present", fixServicePrincipal())
	for _, p := range w.cfg.Permissions {
		has := func(q appreg.Permission) bool { return strings.EqualFold(q.Name, p.Name) }
		switch {
		case !slices.ContainsFunc(st.Required, has):
			add(false, p.Name, "not requested by the registration", fixNotRequested())
		case !slices.ContainsFunc(st.Consented, has):
			add(false, p.Name, "requested, but without admin consent", fixNotConsented())
		default:
			add(true, p.Name, "consented", nil)
		}
	}
	for _, role := range w.cfg.NeededRoles {
		held := holdsAny(st.Roles, []string{role}) || (strings.EqualFold(role, "Teams Administrator") &&
			holdsAny(st.Roles, []string{"Teams Communications Administrator"}) && holdsAny(st.Roles, []string{"Skype for Business Administrator"}))
		add(held, "Role "+role, map[bool]string{true: "assigned", false: "not assigned"}[held],
			fixRole(reg.Name, role))
	}
	for _, p := range w.extraPermissions(st) {
		add(false, p.Name, "not in the profile: not required", fixCleanup(reg.Name))
	}

	// Reconcile the record's secrets with the tenant's, on the fresh record.
	inTenant := map[string]appreg.Secret{}
	for _, s := range st.Secrets {
		inTenant[s.KeyID] = s
	}
	var gone, adopted []appreg.SecretRecord
	reg, err = w.store.UpdateRegistration(ctx, reg.TenantID, reg.AppID, w.change(c, "check: secrets reconciled with the tenant"), func(r *appreg.Registration) error {
		gone, adopted = nil, nil
		kept := r.Secrets[:0]
		for _, rec := range r.Secrets {
			if _, ok := inTenant[rec.KeyID]; ok {
				kept = append(kept, rec)
			} else {
				gone = append(gone, rec)
			}
		}
		r.Secrets = kept
		for _, s := range st.Secrets {
			if !slices.ContainsFunc(r.Secrets, func(rec appreg.SecretRecord) bool { return rec.KeyID == s.KeyID }) {
				rec := appreg.SecretRecord{Kind: s.Kind, Thumbprint: s.Thumbprint, KeyID: s.KeyID, Name: s.Name, Expires: s.Expires, Adopted: true, CreatedAt: now.UTC()}
				r.Secrets = append(r.Secrets, rec)
				adopted = append(adopted, rec)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, rec := range gone {
		add(false, capital(rec.Kind.Noun())+" "+secretLabel(rec), "removed in the tenant", fixNewSecret(reg.Name, rec.Service, " for a new one."))
		w.untrack(ctx, reg, rec.KeyID)
		w.retire(ctx, w.sinks, recordCredential(reg, rec))
	}
	for _, rec := range reg.Secrets {
		if slices.Contains(adopted, rec) {
			add(false, capital(rec.Kind.Noun())+" "+secretLabel(rec), fmt.Sprintf("created outside the bot, expires %s: adopted, reminders scheduled", dateAt(rec.Expires, now)), nil)
			w.track(ctx, reg, rec)
			continue
		}
		if !rec.Expires.After(now) {
			add(false, capital(rec.Kind.Noun())+" "+secretLabel(rec), fmt.Sprintf("expired on %s", dateAt(rec.Expires, now)), fixNewSecret(reg.Name, rec.Service, " (calls may already be failing)."))
		} else {
			add(true, capital(rec.Kind.Noun())+" "+secretLabel(rec), fmt.Sprintf("expires %s (%d days)", dateAt(rec.Expires, now), daysLeft(rec.Expires, now)), nil)
		}
	}
	if err := w.move(ctx, c, appreg.StateDone, nil); err != nil {
		return err
	}
	w.post(ctx, c, msgCheckReport(reg, fs))
	return nil
}

func secretLabel(r appreg.SecretRecord) string {
	switch {
	case r.Service != "":
		return "for " + r.Service
	case r.Name != "":
		return "“" + r.Name + "”"
	}
	return r.KeyID
}

// recordCredential is what sinks are told of a recorded credential that is
// gone.
func recordCredential(r *appreg.Registration, s appreg.SecretRecord) appreg.Credential {
	return appreg.Credential{Kind: s.Kind.Named(), TenantID: r.TenantID, TenantDomain: r.Tenant, Registration: r.Name,
		ClientID: r.AppID, Service: s.Service, KeyID: s.KeyID, Expires: s.Expires, Thumbprint: s.Thumbprint}
}

// change is a history entry by the conversation's requester.
func (w *Wizard) change(c *appreg.Conversation, what string) appreg.Change {
	return appreg.Change{At: w.now().UTC(), By: c.Requester.User.ID, What: what}
}
