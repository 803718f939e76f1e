package wizard

import (
	"context"
	"fmt"
	"strings"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Role changes run through an approval thread: the request is posted in the
// approvals channel; an approver other than the requester decides; on
// approval the approver has a Privileged Role Administrator of the tenant
// sign in (the code is shown to the approver only), and the bot assigns or
// removes the role. Every step, and every refused click, is audited.

// DefaultRoles is the role table of domain.md.
func DefaultRoles() []string {
	return []string{"Teams Administrator", "Teams Communications Administrator", "Skype for Business Administrator",
		"User Administrator", "Domain Name Administrator", "Application Administrator"}
}

// privilegedRoles may assign directory roles.
var privilegedRoles = []string{"Privileged Role Administrator", "Global Administrator"}

// parseRole splits "<role words…> [reason…]": the longest prefix of words
// that names a role in the table is the role, the rest is the reason.
func (w *Wizard) parseRole(words []string) (role, reason string, ok bool) {
	for n := len(words); n > 0; n-- {
		candidate := strings.Trim(strings.Join(words[:n], " "), `"'“”`)
		for _, r := range w.cfg.Roles {
			if strings.EqualFold(r, candidate) {
				return r, strings.Trim(strings.Join(words[n:], " "), `"'“” `), true
			}
		}
	}
	return "", "", false
}

func (w *Wizard) roleCommand(ctx context.Context, caller appreg.Caller, args []string, delivery string) appreg.Reply {
	if len(args) > 0 && args[0] != "add" && args[0] != "remove" {
		return reply(msgRoleOp(args[0]))
	}
	if r, bad := checkArgs("role", args, 3, len(args), "add or remove", "who the role is for: a registration, or a user by UPN",
		"the role, one of "+strings.Join(w.cfg.Roles, ", ")); bad {
		return r
	}
	if w.cfg.approvals(caller.Platform) == "" {
		return reply(msgNoApprovalsChannel())
	}
	role, reason, ok := w.parseRole(args[2:])
	if !ok {
		return reply(msgUnknownRole(strings.Join(args[2:], " "), w.cfg.Roles))
	}
	c, err := w.roleConversation(ctx, args[0], args[1], role, reason)
	if err != nil {
		return w.errorReply(err)
	}
	if rep, ok := w.begin(ctx, caller, c, delivery); !ok {
		return rep
	}
	w.audit(ctx, appreg.AuditRecord{Actor: caller.User.ID, Action: "role.request", Tenant: c.Tenant, Target: c.Role.PrincipalLabel,
		Detail: fmt.Sprintf("%s %s; reason: %s", c.Role.Op, c.Role.Role, orNone(reason))})
	return reply(msgRoleRequested(c.Role, w.approvalsPlace(c)))
}

// roleConversation prepares a role change for a registration (by name or
// application id) or a user (by UPN; the tenant is the UPN's domain).
func (w *Wizard) roleConversation(ctx context.Context, op, principal, role, reason string) (*appreg.Conversation, error) {
	change := &appreg.RoleChange{Op: op, Role: role, Reason: reason}
	c := &appreg.Conversation{Flow: appreg.FlowRole, Role: change}
	if _, domain, isUser := strings.Cut(principal, "@"); isUser {
		if !domainPattern.MatchString(domain) {
			return nil, appreg.Errorf(appreg.KindInvalid, "%s is not a user principal name.", quoted(principal))
		}
		change.Principal, change.PrincipalLabel = principal, principal
		c.Tenant, c.Name = strings.ToLower(domain), principal
		return c, nil
	}
	r, err := w.findRegistration(ctx, principal)
	if err != nil {
		return nil, err
	}
	change.Principal, change.PrincipalLabel = r.AppID, r.Name
	c.Tenant, c.Name = r.Tenant, r.Name
	c.Progress.AppID = r.AppID
	return c, nil
}

// approvalsPlace is where a role change's request is posted: the approvals
// channel of its requester's platform.
func (w *Wizard) approvalsPlace(c *appreg.Conversation) appreg.Place {
	return appreg.Place{Platform: c.Requester.Platform, Channel: w.cfg.approvals(c.Requester.Platform)}
}

// requestApproval posts the request in the approvals channel: the thread
// of the conversation.
func (w *Wizard) requestApproval(ctx context.Context, c *appreg.Conversation) error {
	if err := w.move(ctx, c, appreg.StateAwaitingApproval, nil); err != nil {
		return err
	}
	return w.postRequest(ctx, c)
}

// postRequest posts a request waiting for approval and records where.
func (w *Wizard) postRequest(ctx context.Context, c *appreg.Conversation) error {
	ref, err := w.chat.Post(ctx, w.approvalsPlace(c), statusMessage(c, w.cfg.Location))
	if err != nil {
		return w.cannotPost(ctx, c, err, reasonCannotPostApprovals)
	}
	return w.recordStatus(ctx, c, ref)
}

// mayApprove reports whether caller may decide c, and why not. The
// platform answers at decision time, from no cache.
func (w *Wizard) mayApprove(ctx context.Context, c *appreg.Conversation, caller appreg.Caller) (bool, string) {
	if caller.User.ID == c.Requester.User.ID {
		return false, whySelfApproval
	}
	ok, err := w.chat.IsOneOf(ctx, caller.Platform, caller.User.ID, w.cfg.Approvers)
	if err != nil {
		w.log.Warn("approvers not all resolved", "err", err)
	}
	if !ok {
		return false, whyNotApprover
	}
	return true, ""
}

// decide handles Approve and Reject clicks.
func (w *Wizard) decide(ctx context.Context, c *appreg.Conversation, a appreg.Action) (appreg.Answer, error) {
	action := map[string]string{ActionApprove: "role.approve", ActionReject: "role.reject"}[a.ActionID]
	record := appreg.AuditRecord{Actor: a.Caller.User.ID, Action: action, Tenant: c.Tenant, Target: c.Role.PrincipalLabel,
		Detail: fmt.Sprintf("%s %s (request %s)", c.Role.Op, c.Role.Role, c.ID)}
	if ok, why := w.mayApprove(ctx, c, a.Caller); !ok {
		record.Outcome = "denied: " + why
		w.audit(ctx, record)
		return appreg.Notice(msgNotApprover(why)), nil
	}
	if c.State != appreg.StateAwaitingApproval || c.Role.Approver != nil {
		return appreg.Notice(msgAlreadyDecided(c)), nil
	}
	if a.ActionID == ActionReject {
		form := rejectForm(c)
		return appreg.Answer{Form: &form}, nil
	}
	approver := a.Caller
	c, decided, err := w.decideOnce(ctx, c, func(c *appreg.Conversation) error {
		c.Role.Approver, c.Role.Decision, c.Role.DecidedAt = &approver, "approved", w.now().UTC()
		return w.save(ctx, c)
	})
	if err != nil {
		return appreg.Answer{}, err
	}
	if !decided {
		return appreg.Notice(msgAlreadyDecided(c)), nil
	}
	w.audit(ctx, record)
	w.updateStatus(ctx, c)
	w.post(ctx, c, msgApproved(approver))
	w.direct(ctx, c, msgApprovedDM(c, approver))
	w.spawn(c.ID, w.signIn)
	return appreg.Answer{}, nil
}

// decideOnce records a decision on a role request with step, a
// compare-and-set on the conversation: of two approvers deciding at once,
// one wins, the other is told. A conflict with another change (the
// request's thread being recorded) is retried on the fresh conversation.
// It reports decided false, with the fresh conversation, when the request
// was decided meanwhile.
func (w *Wizard) decideOnce(ctx context.Context, c *appreg.Conversation, step func(*appreg.Conversation) error) (*appreg.Conversation, bool, error) {
	for {
		err := step(c)
		if err == nil {
			return c, true, nil
		}
		if appreg.ErrorKind(err) != appreg.KindConflict {
			return c, false, err
		}
		cur, lerr := w.store.Conversation(ctx, c.ID)
		if lerr != nil {
			return c, false, lerr
		}
		if cur.State != appreg.StateAwaitingApproval || cur.Role == nil || cur.Role.Approver != nil {
			return cur, false, nil
		}
		c = cur
	}
}

// reject handles the rejection form.
func (w *Wizard) reject(ctx context.Context, s appreg.Submission) (map[string]string, error) {
	fail := func(msg string) (map[string]string, error) { return map[string]string{InputReason: msg}, nil }
	// The answer to the form (the checks, the decision) is bounded by
	// AckTimeout; telling the thread and the requester, once decided, is not.
	ackCtx, cancel := w.ackContext(ctx)
	defer cancel()
	c, err := w.store.Conversation(ackCtx, s.Conversation)
	if err != nil {
		return fail(appreg.ErrorMessage(err))
	}
	if c.Role == nil {
		return fail(whyNotRoleChange)
	}
	if ok, why := w.mayApprove(ackCtx, c, s.Caller); !ok {
		w.audit(ackCtx, appreg.AuditRecord{Actor: s.Caller.User.ID, Action: "role.reject", Tenant: c.Tenant, Target: c.Role.PrincipalLabel, Outcome: "denied: " + why})
		return fail(why)
	}
	reason := strings.TrimSpace(s.Values[InputReason])
	if reason == "" {
		return fail(whyRejectNeedsReason)
	}
	if c.State != appreg.StateAwaitingApproval || c.Role.Approver != nil {
		return fail(msgAlreadyDecided(c).Text.String())
	}
	approver := s.Caller
	c, decided, err := w.decideOnce(ackCtx, c, func(c *appreg.Conversation) error {
		return w.move(ackCtx, c, appreg.StateRejected, func(c *appreg.Conversation) {
			rc := *c.Role
			rc.Approver, rc.Decision, rc.DecidedAt = &approver, "rejected: "+reason, w.now().UTC()
			c.Role = &rc
			c.Reason = reasonRejected(approver, reason)
		})
	})
	if err != nil {
		return fail(appreg.ErrorMessage(err))
	}
	if !decided {
		return fail(whyDecidedMeanwhile)
	}
	w.audit(ctx, appreg.AuditRecord{Actor: approver.User.ID, Action: "role.reject", Tenant: c.Tenant, Target: c.Role.PrincipalLabel,
		Detail: fmt.Sprintf("%s %s (request %s): %s", c.Role.Op, c.Role.Role, c.ID, reason)})
	w.post(ctx, c, msgRejected(c))
	w.direct(ctx, c, msgRejectedDM(c, approver, reason))
	return nil, nil
}

func preposition(op string) string {
	if op == "remove" {
		return "from"
	}
	return "for"
}

// executeRole assigns or removes the role once a Privileged Role
// Administrator has signed in.
func (w *Wizard) executeRole(ctx context.Context, c *appreg.Conversation, sess appreg.Session) error {
	rc := c.Role
	record := appreg.AuditRecord{Actor: rc.Approver.User.ID, Action: "role.execute", Tenant: c.Tenant, Target: rc.PrincipalLabel,
		Detail: fmt.Sprintf("%s %s (request %s) signed by %s", rc.Op, rc.Role, c.ID, c.Identity.Account)}
	changed, err := w.applyRole(ctx, sess, rc)
	if err != nil {
		record.Outcome = "failed: " + appreg.ErrorMessage(err)
		w.audit(ctx, record)
		return err
	}
	rc.Outcome = roleOutcome(rc, changed)
	record.Outcome = "ok: " + rc.Outcome
	if err := w.move(ctx, c, appreg.StateDone, nil); err != nil {
		return err
	}
	w.audit(ctx, record)
	w.post(ctx, c, msgRoleDone(rc))
	w.direct(ctx, c, msgRoleDoneDM(rc))
	return nil
}

// applyRole makes the change in the tenant; it reports whether anything
// changed (false: already assigned, or already gone).
func (w *Wizard) applyRole(ctx context.Context, sess appreg.Session, rc *appreg.RoleChange) (bool, error) {
	p, err := sess.FindPrincipal(ctx, rc.Principal)
	if err != nil {
		return false, err
	}
	if rc.Op == "add" {
		already, err := sess.AssignRole(ctx, p.ID, rc.Role)
		return !already, err
	}
	gone, err := sess.RemoveRole(ctx, p.ID, rc.Role)
	return !gone, err
}

// expireApproval ends a request nobody decided within the approval TTL.
func (w *Wizard) expireApproval(ctx context.Context, c *appreg.Conversation) error {
	if err := w.move(ctx, c, appreg.StateFailed, func(c *appreg.Conversation) {
		c.Reason = reasonApprovalExpired(w.cfg.ApprovalTTL)
	}); err != nil {
		return err
	}
	w.audit(ctx, appreg.AuditRecord{Actor: "bot", Action: "role.expire", Tenant: c.Tenant, Target: c.Role.PrincipalLabel, Detail: "request " + c.ID})
	w.post(ctx, c, msgApprovalExpired(c))
	w.direct(ctx, c, msgApprovalExpiredDM(c))
	return nil
}

// signer is who signs in for a conversation and sees its codes: the
// approver of a role change, otherwise the requester.
func signer(c *appreg.Conversation) appreg.Caller {
	if c.Role != nil && c.Role.Approver != nil {
		return *c.Role.Approver
	}
	return c.Requester
}
