package wizard

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/panics"
)

// adminRoles are the roles that may create an app registration; the
// provider's documentation requires one of them before onboarding.
var adminRoles = []string{"Application Administrator", "Cloud Application Administrator", "Global Administrator"}

// start opens the conversation's thread and begins the sign-in.
func (w *Wizard) start(ctx context.Context, c *appreg.Conversation) error {
	if c.State != appreg.StateStarted {
		return nil
	}
	if c.Flow == appreg.FlowRole {
		return w.requestApproval(ctx, c)
	}
	if c.Status.IsZero() {
		ref, err := w.chat.Post(ctx, c.Requester.Place(), statusMessage(c, w.cfg.Location))
		if err != nil {
			return w.cannotPost(ctx, c, err, reasonCannotPost)
		}
		if err := w.recordStatus(ctx, c, ref); err != nil {
			return err
		}
	}
	return w.signIn(ctx, c)
}

// signIn shows a new device code to the requester and waits for the admin.
// It runs from started, expired, or a state that needs the admin again.
func (w *Wizard) signIn(ctx context.Context, c *appreg.Conversation) error {
	approved := c.State == appreg.StateAwaitingApproval && c.Role != nil && c.Role.Approver != nil
	if c.State != appreg.StateStarted && c.State != appreg.StateExpired && !approved {
		return nil // another job got there first
	}
	purpose := appreg.PurposeApps
	if c.Flow == appreg.FlowRole {
		purpose = appreg.PurposeRoles
	}
	attempt, err := w.tenant.BeginSignIn(ctx, c.Tenant, purpose)
	if err != nil {
		if appreg.ErrorKind(err) == appreg.KindInvalid || appreg.ErrorKind(err) == appreg.KindNotFound {
			return w.move(ctx, c, appreg.StateFailed, func(c *appreg.Conversation) { c.Reason = appreg.T(appreg.ErrorMessage(err)) })
		}
		w.log.Warn("device code not issued", "conversation", c.ID, "err", err)
		return w.expire(ctx, c, reasonEntraUnreachable())
	}
	code := attempt.Code()
	// Stored before anyone sees the code: from then on a restart hands the
	// sign-in over rather than lose it.
	w.keepHandover(ctx, c, attempt)
	if err := w.move(ctx, c, appreg.StateAwaitingSignIn, func(c *appreg.Conversation) {
		c.CodeExpires = code.ExpiresAt
		c.Reason = nil
	}); err != nil {
		w.dropHandover(c)
		return err
	}
	if err := w.tell(ctx, c, msgDeviceCode(c, code, w.cfg.Location)); err != nil {
		// Nobody can sign in with a code nobody saw.
		w.log.Warn("device code not delivered", "conversation", c.ID, "err", err)
		w.dropHandover(c)
		return w.expire(ctx, c, reasonCodeNotDelivered(err))
	}
	return w.waitSignIn(ctx, c, attempt)
}

// waitSignIn waits for the admin to use the code shown for c (by this
// replica, or by one that handed the sign-in over), then goes on.
func (w *Wizard) waitSignIn(ctx context.Context, c *appreg.Conversation, attempt appreg.SignIn) error {
	waitCtx, cancel := context.WithDeadline(ctx, attempt.Code().ExpiresAt.Add(5*time.Second))
	defer cancel()
	panics.Go(w.log, w.obs.Panic, func() { w.watch(waitCtx, cancel, c.ID, c.Version) }, "conversation", c.ID)
	sess, err := attempt.Wait(waitCtx)
	if err == nil {
		// Kept until the conversation records it: a store outage must not
		// lose a sign-in the admin has made.
		w.holdSignIn(c.ID, sess)
	}

	// The conversation may have moved on (cancelled) while we waited.
	cur, lerr := w.reload(ctx, c.ID)
	if lerr != nil {
		return lerr
	}
	w.dropHandover(c) // the sign-in has ended: nobody needs to poll again
	if cur.Version != c.Version {
		w.holdSignIn(c.ID, nil)
		return nil
	}
	*c = *cur
	if err != nil {
		return w.signInFailed(ctx, c, err)
	}
	return w.signedInHeld(ctx, c, sess)
}

// watch cancels a sign-in wait when the conversation changes in the store,
// for example when it is cancelled through another replica.
func (w *Wizard) watch(ctx context.Context, cancel context.CancelFunc, id string, version int64) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c, err := w.store.Conversation(ctx, id)
			if (err == nil && c.Version != version) || appreg.ErrorKind(err) == appreg.KindNotFound {
				cancel()
				return
			}
		}
	}
}

func (w *Wizard) signInFailed(ctx context.Context, c *appreg.Conversation, err error) error {
	var se *appreg.SignInError
	if !errors.As(err, &se) {
		if w.ctx.Err() != nil { // shutting down: the sweep takes it from here
			return nil
		}
		w.log.Warn("sign-in wait failed", "conversation", c.ID, "err", err)
		return w.expire(ctx, c, reasonEntraUnreachable())
	}
	w.log.Info("sign-in ended", "conversation", c.ID, "failure", se.Failure, "detail", se.Detail)
	switch se.Failure {
	case appreg.SignInDeclined:
		return w.expire(ctx, c, reasonDeclined())
	case appreg.SignInExpired:
		return w.expire(ctx, c, reasonCodeExpired())
	case appreg.SignInBlocked:
		return w.move(ctx, c, appreg.StateFailed, func(c *appreg.Conversation) { c.Reason = reasonConditionalAccess(se.Detail) })
	case appreg.SignInCancelled:
		if w.ctx.Err() != nil {
			return nil
		}
		return w.expire(ctx, c, reasonCodeExpired())
	}
	return w.expire(ctx, c, reasonRefused(se.Detail))
}

// expire pauses the conversation with a reason and offers a new code.
func (w *Wizard) expire(ctx context.Context, c *appreg.Conversation, reason appreg.Text) error {
	if err := w.move(ctx, c, appreg.StateExpired, func(c *appreg.Conversation) { c.Reason = reason }); err != nil {
		return err
	}
	w.post(ctx, c, msgExpired(c))
	return nil
}

// signedIn checks who signed in where, then asks for the name, or resumes a
// creation that needed the admin again.
func (w *Wizard) signedIn(ctx context.Context, c *appreg.Conversation, sess appreg.Session) error {
	id := sess.Identity()
	w.log.Info("audit: admin signed in", "conversation", c.ID, "account", id.Account, "tenant_id", id.TenantID)
	if !id.Matches(c.Tenant) {
		return w.move(ctx, c, appreg.StateFailed, func(c *appreg.Conversation) {
			c.Identity = &id
			c.Reason = reasonWrongTenant(id, c.Tenant)
		})
	}
	roles, err := sess.DirectoryRoles(ctx)
	if err != nil {
		return w.move(ctx, c, appreg.StateFailed, func(c *appreg.Conversation) {
			c.Identity = &id
			c.Reason = reasonRolesUnreadable(id, err)
		})
	}
	if c.Flow == appreg.FlowRole {
		if !holdsAny(roles, privilegedRoles) {
			return w.expire(ctx, c, reasonNotPrivileged(id))
		}
	} else if !holdsAny(roles, adminRoles) {
		return w.move(ctx, c, appreg.StateFailed, func(c *appreg.Conversation) {
			c.Identity = &id
			c.Reason = reasonMissingRole(id)
		})
	}
	w.keepSession(ctx, c.ID, sess)
	if c.Flow != appreg.FlowOnboard {
		if err := w.move(ctx, c, appreg.StateSignedIn, func(c *appreg.Conversation) { c.Identity = &id; c.Reason = nil }); err != nil {
			return err
		}
		w.post(ctx, c, msgSignedIn(id))
		return w.afterSignIn(ctx, c)
	}
	if c.Name != "" { // a creation that needed a new sign-in
		if err := w.move(ctx, c, appreg.StateCreating, func(c *appreg.Conversation) { c.Identity = &id; c.Reason = nil }); err != nil {
			return err
		}
		w.post(ctx, c, msgSignedIn(id))
		return w.work(ctx, c)
	}
	if err := w.move(ctx, c, appreg.StateSignedIn, func(c *appreg.Conversation) { c.Identity = &id }); err != nil {
		return err
	}
	w.post(ctx, c, msgSignedIn(id))
	return w.askName(ctx, c, nil)
}

// askName moves to awaiting_name and posts the button that opens the form.
func (w *Wizard) askName(ctx context.Context, c *appreg.Conversation, why appreg.Text) error {
	if err := w.move(ctx, c, appreg.StateAwaitingName, func(c *appreg.Conversation) { c.Reason = why }); err != nil {
		return err
	}
	w.post(ctx, c, msgAskName(c, why))
	return nil
}

func holdsAny(held, wanted []string) bool {
	return slices.ContainsFunc(held, func(h string) bool {
		return slices.ContainsFunc(wanted, func(r string) bool { return strings.EqualFold(h, r) })
	})
}
