package wizard

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

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

// Action ids of the approval thread.
const (
	ActionApprove     = "appreg.approve"
	ActionReject      = "appreg.reject"
	ActionRoleRequest = "appreg.role_request" // value: RotateRef-like "tenantID/appID|role"
	FormReject        = "appreg.reject"
	InputReason       = "reason"
)

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
	if len(args) < 3 || (args[0] != "add" && args[0] != "remove") {
		return reply(msgUsageOf("role"))
	}
	if w.cfg.ApprovalsChannel == "" {
		return reply(appreg.Message{Text: "Role changes need an approvals channel: ask the people who run the bot to set `BOT_APPROVALS_CHANNEL`."})
	}
	role, reason, ok := w.parseRole(args[2:])
	if !ok {
		return reply(appreg.Message{Text: fmt.Sprintf("I don't know the role %q. Roles I can request: %s.", strings.Join(args[2:], " "), strings.Join(w.cfg.Roles, ", "))})
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
	return reply(appreg.Message{Text: fmt.Sprintf("Requested: %s *%s* %s *%s*. An approver decides in <#%s>; I'll message you on each change.",
		c.Role.Op, c.Role.Role, map[string]string{"add": "for", "remove": "from"}[c.Role.Op], c.Role.PrincipalLabel, w.cfg.ApprovalsChannel)})
}

// roleConversation prepares a role change for a registration (by name or
// application id) or a user (by UPN; the tenant is the UPN's domain).
func (w *Wizard) roleConversation(ctx context.Context, op, principal, role, reason string) (*appreg.Conversation, error) {
	change := &appreg.RoleChange{Op: op, Role: role, Reason: reason}
	c := &appreg.Conversation{Flow: appreg.FlowRole, Role: change}
	if _, domain, isUser := strings.Cut(principal, "@"); isUser {
		if !domainPattern.MatchString(domain) {
			return nil, appreg.Errorf(appreg.KindInvalid, "%q is not a user principal name.", principal)
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

func orNone(s string) string {
	if s == "" {
		return "(none given)"
	}
	return s
}

// requestApproval posts the request in the approvals channel: the thread
// of the conversation.
func (w *Wizard) requestApproval(ctx context.Context, c *appreg.Conversation) error {
	if err := w.move(ctx, c, appreg.StateAwaitingApproval, nil); err != nil {
		return err
	}
	ref, err := w.chat.Post(ctx, appreg.Place{Channel: w.cfg.ApprovalsChannel}, statusMessage(c, w.cfg.Location))
	if err != nil {
		return w.cannotPost(ctx, c, err, reasonCannotPostApprovals)
	}
	c.Status = ref
	return w.save(ctx, c)
}

// mayApprove reports whether caller may decide c, and why not.
func (w *Wizard) mayApprove(ctx context.Context, c *appreg.Conversation, caller appreg.Caller) (bool, string) {
	if caller.User.ID == c.Requester.User.ID {
		return false, "You requested this change, so you cannot decide it: another approver must."
	}
	for _, a := range w.cfg.Approvers {
		if a == caller.User.ID {
			return true, ""
		}
		if isGroupID(a) {
			members, err := w.chat.GroupMembers(ctx, a) // at decision time: no cache
			if err != nil {
				w.log.Warn("approver group not resolved", "group", a, "err", err)
				continue
			}
			if slices.Contains(members, caller.User.ID) {
				return true, ""
			}
		}
	}
	return false, "Only the approvers named in `BOT_APPROVERS` can decide role changes."
}

// decide handles Approve and Reject clicks.
func (w *Wizard) decide(ctx context.Context, c *appreg.Conversation, a appreg.Action) error {
	action := map[string]string{ActionApprove: "role.approve", ActionReject: "role.reject"}[a.ActionID]
	record := appreg.AuditRecord{Actor: a.Caller.User.ID, Action: action, Tenant: c.Tenant, Target: c.Role.PrincipalLabel,
		Detail: fmt.Sprintf("%s %s (request %s)", c.Role.Op, c.Role.Role, c.ID)}
	if ok, why := w.mayApprove(ctx, c, a.Caller); !ok {
		record.Outcome = "denied: " + why
		w.audit(ctx, record)
		w.privately(ctx, a.Caller, appreg.Message{Text: ":no_entry: " + why})
		return nil
	}
	if c.State != appreg.StateAwaitingApproval || c.Role.Approver != nil {
		w.privately(ctx, a.Caller, msgAlreadyDecided(c))
		return nil
	}
	if a.ActionID == ActionReject {
		return w.chat.OpenForm(ctx, a.Trigger, a.Caller.User.ID, appreg.Form{
			ID: FormReject, Conversation: c.ID, Title: "Reject role change", Submit: "Reject",
			Inputs: []appreg.FormInput{{ID: InputReason, Label: "Why is it rejected?", Hint: "The requester sees this.", MaxLength: 300}},
		})
	}
	// Recording the approver is the compare-and-set that makes the decision
	// once: of two approvers clicking at once, one wins, the other is told.
	approver := a.Caller
	c.Role.Approver, c.Role.Decision, c.Role.DecidedAt = &approver, "approved", w.now().UTC()
	if err := w.save(ctx, c); err != nil {
		if appreg.ErrorKind(err) == appreg.KindConflict {
			if cur, lerr := w.store.Conversation(ctx, c.ID); lerr == nil {
				w.privately(ctx, a.Caller, msgAlreadyDecided(cur))
			}
			return nil
		}
		return err
	}
	w.audit(ctx, record)
	w.updateStatus(ctx, c)
	w.post(ctx, c, appreg.Message{Text: fmt.Sprintf(":white_check_mark: Approved by <@%s>. Next: a Privileged Role Administrator of the tenant signs in; the code goes to <@%s> only.", approver.User.ID, approver.User.ID)})
	w.dmRequester(ctx, c, fmt.Sprintf("Your request to %s *%s* %s *%s* was approved by <@%s>.", c.Role.Op, c.Role.Role, preposition(c.Role.Op), c.Role.PrincipalLabel, approver.User.ID))
	w.spawn(c.ID, w.signIn)
	return nil
}

// reject handles the rejection form.
func (w *Wizard) reject(ctx context.Context, s appreg.Submission) (map[string]string, error) {
	fail := func(msg string) (map[string]string, error) { return map[string]string{InputReason: msg}, nil }
	c, err := w.store.Conversation(ctx, s.Conversation)
	if err != nil {
		return fail(appreg.ErrorMessage(err))
	}
	if c.Role == nil {
		return fail("This is not a role change.")
	}
	if ok, why := w.mayApprove(ctx, c, s.Caller); !ok {
		w.audit(ctx, appreg.AuditRecord{Actor: s.Caller.User.ID, Action: "role.reject", Tenant: c.Tenant, Target: c.Role.PrincipalLabel, Outcome: "denied: " + why})
		return fail(why)
	}
	reason := strings.TrimSpace(s.Values[InputReason])
	if reason == "" {
		return fail("Please say why, for the requester.")
	}
	if c.State != appreg.StateAwaitingApproval || c.Role.Approver != nil {
		return fail(msgAlreadyDecided(c).Text)
	}
	approver := s.Caller
	if err := w.move(ctx, c, appreg.StateRejected, func(c *appreg.Conversation) {
		rc := *c.Role
		rc.Approver, rc.Decision, rc.DecidedAt = &approver, "rejected: "+reason, w.now().UTC()
		c.Role = &rc
		c.Reason = fmt.Sprintf("Rejected by <@%s>: %s", approver.User.ID, reason)
	}); err != nil {
		if appreg.ErrorKind(err) == appreg.KindConflict {
			return fail("Someone decided this request meanwhile.")
		}
		return fail(appreg.ErrorMessage(err))
	}
	w.audit(ctx, appreg.AuditRecord{Actor: approver.User.ID, Action: "role.reject", Tenant: c.Tenant, Target: c.Role.PrincipalLabel,
		Detail: fmt.Sprintf("%s %s (request %s): %s", c.Role.Op, c.Role.Role, c.ID, reason)})
	w.post(ctx, c, appreg.Message{Text: ":x: " + c.Reason})
	w.dmRequester(ctx, c, fmt.Sprintf("Your request to %s *%s* %s *%s* was rejected by <@%s>: %s", c.Role.Op, c.Role.Role, preposition(c.Role.Op), c.Role.PrincipalLabel, approver.User.ID, reason))
	return nil, nil
}

func preposition(op string) string {
	if op == "remove" {
		return "from"
	}
	return "for"
}

// dmRequester sends the requester a direct message about their request.
func (w *Wizard) dmRequester(ctx context.Context, c *appreg.Conversation, text string) {
	if _, err := w.chat.Post(ctx, appreg.Place{Channel: c.Requester.User.ID}, appreg.Message{Text: text}); err != nil {
		w.log.Warn("requester not messaged", "conversation", c.ID, "err", err)
	}
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
	switch {
	case rc.Op == "add" && changed:
		rc.Outcome = fmt.Sprintf("%s now holds %s.", rc.PrincipalLabel, rc.Role)
	case rc.Op == "add":
		rc.Outcome = fmt.Sprintf("%s already held %s; nothing changed.", rc.PrincipalLabel, rc.Role)
	case changed:
		rc.Outcome = fmt.Sprintf("%s no longer holds %s.", rc.PrincipalLabel, rc.Role)
	default:
		rc.Outcome = fmt.Sprintf("%s did not hold %s; nothing changed.", rc.PrincipalLabel, rc.Role)
	}
	record.Outcome = "ok: " + rc.Outcome
	if err := w.move(ctx, c, appreg.StateDone, nil); err != nil {
		return err
	}
	w.audit(ctx, record)
	w.post(ctx, c, appreg.Message{Text: ":white_check_mark: " + rc.Outcome})
	w.dmRequester(ctx, c, "Your role change is done: "+rc.Outcome)
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
		c.Reason = fmt.Sprintf("Expired: nobody decided within %s. Request it again if it is still needed.", w.cfg.ApprovalTTL.Round(time.Minute))
	}); err != nil {
		return err
	}
	w.audit(ctx, appreg.AuditRecord{Actor: "bot", Action: "role.expire", Tenant: c.Tenant, Target: c.Role.PrincipalLabel, Detail: "request " + c.ID})
	w.post(ctx, c, appreg.Message{Text: ":hourglass: " + c.Reason})
	w.dmRequester(ctx, c, fmt.Sprintf("Your request to %s *%s* %s *%s* expired without a decision.", c.Role.Op, c.Role.Role, preposition(c.Role.Op), c.Role.PrincipalLabel))
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
