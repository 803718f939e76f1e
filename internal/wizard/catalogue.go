package wizard

import (
	"errors"
	"fmt"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Hostile is what the catalogue puts wherever a person or a customer's
// tenant supplies a value: markup of the platforms the bot knows (a Slack
// broadcast, a disguised link, bold, an entity, an Adaptive Card mention).
// An adapter shows every occurrence as these characters.
const Hostile = `<!channel> <https://evil.example|Approve> *now* & <at>All</at>`

// Catalogue returns one instance of every message the engine writes, keyed
// by the function that writes it (status messages by state and flow), with
// Hostile in every value that comes from a person or a tenant. Adapters'
// tests render each one; a test of this package checks that no function of
// messages.go is missing.
func Catalogue() map[string]appreg.Message {
	now := time.Date(2030, 3, 29, 10, 0, 0, 0, time.UTC)
	loc := time.UTC
	requester := appreg.Caller{Platform: "test", User: appreg.User{ID: "U0REQ", Name: Hostile}, Channel: "C0CHAN"}
	approver := appreg.Caller{Platform: "test", User: appreg.User{ID: "U0APP", Name: "approver"}, Channel: "C0APPR"}
	id := appreg.Identity{Account: "admin@" + "contoso.onmicrosoft.com", DisplayName: Hostile, TenantID: "8f1b6a2c-4d3e-4f50-9a61-7b8c9d0e1f23",
		TenantName: Hostile, DefaultDomain: "contoso.onmicrosoft.com", Domains: []string{"contoso.onmicrosoft.com"}}
	role := &appreg.RoleChange{Op: "add", Role: "Teams Administrator", Principal: "app-1", PrincipalLabel: "Voice&1",
		Reason: Hostile, Approver: &approver, Decision: "approved", Outcome: "Voice&1 now holds Teams Administrator."}
	conv := func(state appreg.State, flow appreg.Flow) *appreg.Conversation {
		c := &appreg.Conversation{ID: "conv-1", State: state, Flow: flow, Tenant: "contoso.onmicrosoft.com", Service: "sbc&1",
			Requester: requester, Name: "Voice&1", Identity: &id, CodeExpires: now.Add(15 * time.Minute),
			Reason: appreg.T(Hostile), Progress: appreg.Progress{AppID: "app-1", AppObjectID: "obj-1", ServicePrincipal: "sp-1",
				Consented: []string{"Organization.Read.All"}, ConsentPending: []string{"User.Read.All"},
				SecretKeyID: "key-1", SecretExpires: now.Add(365 * 24 * time.Hour), LifetimeNote: Hostile, ValidationNote: Hostile}}
		if flow == appreg.FlowRole {
			rc := *role
			c.Role = &rc
		}
		return c
	}
	c := conv(appreg.StateAwaitingName, appreg.FlowOnboard)
	delivered := conv(appreg.StateDone, appreg.FlowOnboard)
	delivered.Progress.Delivered = []appreg.Delivered{{Sink: "keyvault", Where: "Key Vault kv.example: secret contoso-voice-sbc1, version 1a2b"},
		{Sink: "webhook", Where: "webhook platform.example: delivery msg_1"}}
	reg := &appreg.Registration{Tenant: "contoso.onmicrosoft.com", TenantID: id.TenantID, Name: "Voice&1", AppID: "app-1",
		Services: []string{"sbc&1"}, Secrets: []appreg.SecretRecord{
			{KeyID: "key-1", Service: "sbc&1", Expires: now.Add(20 * 24 * time.Hour)},
			{KeyID: "key-2", Name: Hostile, Expires: now.Add(-time.Hour), Adopted: true},
		}}
	plan := &appreg.CleanupPlan{Grants: []appreg.Grant{{ID: "g1", Resource: Hostile, Scopes: []string{"Directory.Read.All"}}},
		Extra: []appreg.Permission{{Name: "Mail.Read"}}, Done: []string{"g1", "Mail.Read"}, AlreadyGone: []string{"x"}}
	withPlan := conv(appreg.StateAwaitingConfirm, appreg.FlowCleanup)
	withPlan.Cleanup = plan
	failure := appreg.Errorf(appreg.KindUnavailable, "%s", Hostile)
	cfg := Config{SimulatedTenant: true, NeededRoles: []string{"Teams Administrator"}, Approvals: map[string]string{"test": "C0APPR"}}
	findings := []finding{{ok: true, what: "Service principal", detail: "present"},
		{what: "Role Teams Administrator", detail: "not assigned", fix: fixRole("Voice&1", "Teams Administrator")},
		{what: "Mail.Read", detail: "not required", fix: fixCleanup("Voice&1")},
		{what: "Secret", detail: "removed", fix: fixNewSecret("Voice&1", "sbc&1", " for a new one.")},
		{what: "Service principal", detail: "missing", fix: fixServicePrincipal()},
		{what: "User.Read.All", detail: "not requested", fix: fixNotRequested()},
		{what: "Group.Read.All", detail: "no consent", fix: fixNotConsented()}}
	text := func(t appreg.Text) appreg.Message { return appreg.Message{Text: t} }
	reminders := appreg.ReminderPlan{Due: []time.Time{now.AddDate(0, 0, 335), now.AddDate(0, 0, 365)}}
	delivery := appreg.SecretDelivery{Key: appreg.SecretKey{TenantID: "t", AppID: "a", KeyID: "key-1"}, Tenant: Hostile, Registration: "Voice&1",
		Service: "sbc&1", To: requester, DeliveredAt: now}

	m := map[string]appreg.Message{
		"msgHelp":                 msgHelp(cfg),
		"msgMissing":              msgMissing("secret", "the service the new secret is for"),
		"msgTooMany":              msgTooMany("check", 1),
		"msgRoleOp":               msgRoleOp(Hostile),
		"msgUnknownCommand":       msgUnknownCommand(Hostile),
		"msgNotOperator":          msgNotOperator(),
		"msgBadTenant":            msgBadTenant(Hostile),
		"msgBadService":           msgBadService(Hostile),
		"msgAlreadyRunning":       msgAlreadyRunning(c),
		"msgStarting":             msgStarting(c),
		"msgStartingSecret":       msgStartingSecret(c),
		"msgStartingFlow":         msgStartingFlow(conv(appreg.StateStarted, appreg.FlowCheck)),
		"msgNothingToCancel":      msgNothingToCancel(),
		"msgCancelledReply":       msgCancelledReply(c),
		"msgNotYours":             msgNotYours(c),
		"msgNotNow":               msgNotNow(c),
		"msgRemindersOff":         msgRemindersOff(),
		"errAttachConflict":       say(errAttachConflict("sbc&1", "Voice&1").Message),
		"msgAttached":             msgAttached(reg, "sbc&2"),
		"msgDeviceCode":           msgDeviceCode(c, appreg.DeviceCode{UserCode: "ABCD-EFGH", VerificationURL: "https://microsoft.com/devicelogin", ExpiresAt: now}, loc),
		"msgExpired":              msgExpired(c),
		"msgSignedIn":             msgSignedIn(id),
		"msgAskName":              msgAskName(c, reasonNameTakenInTenant(Hostile, &id)),
		"reasonCancelledBy":       text(reasonCancelledBy(requester)),
		"msgCancelled":            msgCancelled(c, requester),
		"msgStepFailed":           msgStepFailed(conv(appreg.StateCreating, appreg.FlowOnboard), failure),
		"msgSecret":               msgSecret(c, appreg.Secret{KeyID: "key-1", Text: "not-a-real-secret", Expires: now.Add(365 * 24 * time.Hour)}, appreg.SecretKey{TenantID: "t", AppID: "a", KeyID: "key-1"}, now),
		"msgStored":               msgStored(delivery, true),
		"msgUnconfirmed":          msgUnconfirmed(delivery, 2*time.Hour, loc),
		"msgReplacementMade":      msgReplacementMade(c, reminders, now),
		"msgReport":               msgReport(c, cfg, plan.Grants, nil, reminders, now),
		"msgReport/sinks":         msgReport(delivered, cfg, plan.Grants, nil, reminders, now),
		"reasonNotDelivered":      say(reasonNotDelivered("keyvault", Hostile, false)),
		"errCertificateNeedsSink": say(appreg.ErrorMessage(errCertificateNeedsSink())),
		"msgUnknownOption":        msgUnknownOption("new", Hostile),
		"msgList":                 msgList([]appreg.Registration{*reg, {Name: Hostile, Tenant: Hostile, AppID: "app-2"}}, Hostile, 0, now, loc),
		"msgOfferRotation":        msgOfferRotation(reg, reg.Secrets[0], now),
		"msgSecretAdded":          msgSecretAdded(c, reminders, now),
		"msgRotated":              msgRotated(c, appreg.ReminderPlan{Channel: "C0REM", Due: reminders.Due}, now),
		"msgKeptBoth":             msgKeptBoth(c),
		"msgOldSecretRemoved":     msgOldSecretRemoved(c),
		"msgNothingToClean":       msgNothingToClean(reg),
		"msgCleanupPlan":          msgCleanupPlan(withPlan, reg, plan),
		"msgCleanupDone":          msgCleanupDone(withPlan, reg),
		"msgCheckReport":          msgCheckReport(reg, findings),
		"fixServicePrincipal":     text(fixServicePrincipal()),
		"fixNotRequested":         text(fixNotRequested()),
		"fixNotConsented":         text(fixNotConsented()),
		"fixRole":                 text(fixRole("Voice&1", "Teams Administrator")),
		"fixCleanup":              text(fixCleanup("Voice&1")),
		"fixNewSecret":            text(fixNewSecret("Voice&1", "sbc&1", Hostile)),
		"msgCannotOpenThread":     msgCannotOpenThread(reasonCannotPost(failure)),
		"msgNoApprovalsChannel":   msgNoApprovalsChannel(),
		"msgUnknownRole":          msgUnknownRole(Hostile, DefaultRoles()),
		"msgRoleRequested":        msgRoleRequested(role, appreg.Place{Platform: "test", Channel: "C0APPR"}),
		"msgNotApprover":          msgNotApprover(whyNotApprover),
		"msgAlreadyDecided":       msgAlreadyDecided(conv(appreg.StateDone, appreg.FlowRole)),
		"msgApproved":             msgApproved(approver),
		"msgApprovedDM":           msgApprovedDM(conv(appreg.StateAwaitingApproval, appreg.FlowRole), approver),
		"reasonRejected":          text(reasonRejected(approver, Hostile)),
		"msgRejectedDM":           msgRejectedDM(conv(appreg.StateRejected, appreg.FlowRole), approver, Hostile),
		"msgRoleDone":             msgRoleDone(role),
		"msgRoleDoneDM":           msgRoleDoneDM(role),
		"reasonApprovalExpired":   text(reasonApprovalExpired(24 * time.Hour)),
		"msgApprovalExpired":      msgApprovalExpired(conv(appreg.StateFailed, appreg.FlowRole)),
		"msgApprovalExpiredDM":    msgApprovalExpiredDM(conv(appreg.StateFailed, appreg.FlowRole)),
		"msgRejected":             msgRejected(conv(appreg.StateRejected, appreg.FlowRole)),
		"msgAudit": msgAudit([]appreg.AuditRecord{{At: now, Actor: "U0REQ", Action: "role.request", Tenant: Hostile, Target: Hostile, Detail: Hostile, Outcome: "ok"},
			{At: now, Actor: "29:teams-user", Action: "role.reject", Outcome: "denied: " + Hostile}}, Hostile, false, loc),
		"msgUpcoming": msgUpcoming([]Upcoming{{Secret: appreg.SecretRef{Tenant: Hostile, Registration: "Voice&1", Service: "sbc&1", Expires: now.Add(48 * time.Hour)},
			What: "3 days before expiry", Due: now}}, 30, now, loc),
		"msgLateCancel":             msgLateCancel(c),
		"msgCrashed":                msgCrashed(conv(appreg.StateFailed, appreg.FlowOnboard)),
		"reasonCrashed":             text(reasonCrashed()),
		"msgBrokenButton":           msgBrokenButton(),
		"reasonDeletedInTenant":     text(reasonDeletedInTenant(c)),
		"reasonEntraUnreachable":    text(reasonEntraUnreachable()),
		"reasonCodeNotDelivered":    text(reasonCodeNotDelivered(failure)),
		"reasonDeclined":            text(reasonDeclined()),
		"reasonCodeExpired":         text(reasonCodeExpired()),
		"reasonSessionLost":         text(reasonSessionLost()),
		"reasonSignInInterrupted":   text(reasonSignInInterrupted()),
		"reasonCannotPost":          text(reasonCannotPost(failure)),
		"reasonCannotPostApprovals": text(reasonCannotPostApprovals(errors.New(Hostile))),
		"reasonConditionalAccess":   text(reasonConditionalAccess(Hostile)),
		"reasonRefused":             text(reasonRefused(Hostile)),
		"reasonWrongTenant":         text(reasonWrongTenant(id, Hostile)),
		"reasonMissingRole":         text(reasonMissingRole(id)),
		"reasonRolesUnreadable":     text(reasonRolesUnreadable(id, failure)),
		"reasonNameTakenInTenant":   text(reasonNameTakenInTenant(Hostile, &id)),
		"reasonIdle":                text(reasonIdle(24 * time.Hour)),
		"reasonNotPrivileged":       text(reasonNotPrivileged(id)),
	}
	for _, flow := range []appreg.Flow{appreg.FlowOnboard, appreg.FlowSecret, appreg.FlowRotate, appreg.FlowReplace, appreg.FlowCleanup, appreg.FlowCheck, appreg.FlowRole} {
		for _, state := range appreg.States() {
			if flow != appreg.FlowRole && state == appreg.StateAwaitingApproval {
				continue // only role changes wait for an approver
			}
			sc := conv(state, flow)
			if state == appreg.StateAwaitingApproval {
				sc.Role.Approver = nil // waiting: Approve and Reject buttons
			}
			m[fmt.Sprintf("statusMessage/%s/%s", state, cmpOr(string(flow), "onboard"))] = statusMessage(sc, loc)
		}
	}
	m["statusMessage/awaiting_approval/role-approved"] = statusMessage(conv(appreg.StateAwaitingApproval, appreg.FlowRole), loc)
	return m
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
