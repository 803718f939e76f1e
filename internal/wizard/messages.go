package wizard

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Everything the engine says is written here, so that a reader finds the
// conversation's wording, and a translator its texts, in one place. Texts
// are structured (appreg.Text), never a platform's markup: every value from
// a person or a tenant goes in as a span of its own and reaches chat
// literally.

func textf(format string, args ...any) appreg.Text { return appreg.Textf(format, args...) }
func bold(s string) appreg.Span                    { return appreg.Bold(s) }
func code(s string) appreg.Span                    { return appreg.Code(s) }
func mention(u appreg.User) appreg.Span            { return appreg.Mention(u) }
func say(parts ...any) appreg.Message              { return appreg.Message{Text: appreg.T(parts...)} }

// commandHelp is one line of the usage: the command as typed, and what it
// does.
type commandHelp struct {
	name, usage, what string
}

func commandTable() []commandHelp {
	return []commandHelp{
		{"new", "/appreg new <tenant> [service] [--certificate]", "onboard a customer tenant: the admin signs in with a device code, then I create the app registration. <tenant> is a verified domain (contoso.onmicrosoft.com) or a tenant id. --certificate makes a certificate credential instead of a client secret (--secret the other way round, when certificates are the default)."},
		{"list", "/appreg list [tenant]", "the registrations I know, their services and secret expiry."},
		{"secret", "/appreg secret <registration> <service> [--certificate]", "a new client secret (or certificate) for another service on the same registration."},
		{"attach", "/appreg attach <registration> <service>", "attach a pending invitation to a service."},
		{"cleanup", "/appreg cleanup <registration>", "remove the permissions that are not required any more."},
		{"check", "/appreg check <registration>", "compare the tenant with the bot's record: consents, roles, secrets."},
		{"role", "/appreg role add|remove <registration or user UPN> <role> [reason]", "a directory role change, decided by an approver."},
		{"audit", "/appreg audit [registration]", "the latest requests, decisions and changes."},
		{"reminders", "/appreg reminders", "the secret-expiry reminders due next."},
		{"cancel", "/appreg cancel", "stop your conversation in this channel."},
		{"help", "/appreg help", "this text."},
	}
}

func usage() appreg.Text {
	t := appreg.T(bold("Usage"))
	for _, c := range commandTable() {
		t = t.Append("\n• ", code(c.usage), " — ", c.what)
	}
	return t
}

func nameRules() appreg.Text {
	return textf("3–15 characters, no dot, no blank, none of %s", code(`\ / : * ? " < > |`))
}

func msgHelp(cfg Config) appreg.Message {
	t := appreg.T("I create and look after the app registrations our platform needs in customers' Microsoft 365 tenants.\n\n", usage(),
		"\n\nRegistration names: ", nameRules(), ", unique per service. Service names: 1–40 letters, digits, dots, dashes or underscores.",
		"\n\n", bold("Pending invitations"), ": a registration no Direct Routing service uses yet is a pending invitation, in the provider's platform and in ",
		code("/appreg list"), ". ", code("/appreg new"), " attaches its first service at once; when the platform attaches another one, ",
		code("/appreg attach <registration> <service>"), " records it here, and ", code("/appreg secret <registration> <service>"),
		" gives it a secret of its own.")
	if cfg.SimulatedTenant {
		t = t.Append("\n\n", appreg.IconTest, bold("Simulated tenant"),
			": this bot talks to an in-process stand-in for Entra ID and Graph, not to Microsoft. Not for production.")
	}
	return appreg.Message{Text: t}
}

// usageOf is one command's line of the usage.
func usageOf(cmd string) appreg.Text {
	for _, c := range commandTable() {
		if c.name == cmd {
			return appreg.T(code(c.usage), " — ", c.what)
		}
	}
	return usage()
}

// msgMissing says which argument of a command is missing, with that
// command's usage.
func msgMissing(cmd, what string) appreg.Message {
	return say(fmt.Sprintf("Missing: %s.\n", what), bold("Usage"), " ", usageOf(cmd))
}

// msgTooMany says a command got more words than it takes.
func msgTooMany(cmd string, max int) appreg.Message {
	takes := fmt.Sprintf("at most %d arguments", max)
	switch max {
	case 0:
		takes = "no arguments"
	case 1:
		takes = "at most one argument"
	}
	return say(textf("%s takes %s; the rest was not understood.\n", code("/appreg "+cmd), takes), bold("Usage"), " ", usageOf(cmd))
}

func msgRoleOp(op string) appreg.Message {
	return say(quoted(op)+" is neither add nor remove.\n", bold("Usage"), " ", usageOf("role"))
}

// echoLimit bounds how much of what a person typed the bot repeats.
const echoLimit = 60

// clipped is s, cut to echoLimit characters: what a person typed, echoed
// back.
func clipped(s string) string {
	if r := []rune(s); len(r) > echoLimit {
		return string(r[:echoLimit-1]) + "…"
	}
	return s
}

// quoted is s as typed, clipped, in quotation marks.
func quoted(s string) string { return "“" + clipped(s) + "”" }

func msgUnknownCommand(cmd string) appreg.Message {
	return say(textf("I don't know the command %s.\n\n", code(clipped(cmd))), usage())
}

func msgNotOperator() appreg.Message {
	return say(textf("Sorry, you are not one of this bot's operators. Ask the people who run the bot to add you (or your user group) to %s.", code("BOT_OPERATORS")))
}

func msgBadTenant(tenant string) appreg.Message {
	return say(textf("%s is not a tenant I can sign in to. Give a verified domain such as %s or a tenant id (a GUID).", code(clipped(tenant)), code("contoso.onmicrosoft.com")))
}

func msgBadService(service string) appreg.Message {
	return say(textf("%s is not a valid service name: use 1–40 letters, digits, dots, dashes or underscores, starting with a letter or digit.", code(clipped(service))))
}

// what names what a conversation does, for people: "the onboarding of
// contoso.com", "the role request (add Teams Administrator for Voice1)".
func what(c *appreg.Conversation) appreg.Text {
	switch c.Flow {
	case appreg.FlowSecret:
		return textf("the new %s for service %s on %s", noun(c), bold(c.Service), bold(c.Name))
	case appreg.FlowRotate:
		return textf("the %s rotation of service %s on %s", noun(c), bold(c.Service), bold(c.Name))
	case appreg.FlowReplace:
		return textf("the replacement of the unconfirmed secret of service %s on %s", bold(c.Service), bold(c.Name))
	case appreg.FlowCleanup:
		return textf("the cleanup of %s", bold(c.Name))
	case appreg.FlowCheck:
		return textf("the check of %s", bold(c.Name))
	case appreg.FlowRole:
		if c.Role != nil {
			return textf("the role request (%s)", describeRoleChange(c.Role))
		}
		return appreg.T("the role request")
	}
	return textf("the onboarding of %s", bold(c.Tenant))
}

func msgAlreadyRunning(c *appreg.Conversation) appreg.Message {
	return say(textf("You already have something running in this channel: %s (%s). Finish it, or stop it with %s, before you start another.",
		what(c), describeState(c.State), code("/appreg cancel")))
}

func msgStarting(c *appreg.Conversation) appreg.Message {
	return say(textf("Starting the onboarding of %s for service %s. I'm opening a thread in this channel; the sign-in code will be shown only to you.", bold(c.Tenant), bold(c.Service)))
}

func msgStartingSecret(c *appreg.Conversation) appreg.Message {
	return say(textf("Adding a %s for service %s to %s. A tenant admin must sign in first; I'm opening a thread.", noun(c), bold(c.Service), bold(c.Name)))
}

func msgStartingFlow(c *appreg.Conversation) appreg.Message {
	return say(textf("Starting the %s of %s. A tenant admin must sign in first; I'm opening a thread.", string(c.Flow), bold(c.Name)))
}

func msgNothingToCancel() appreg.Message {
	return say("You have nothing running in this channel to cancel. A role request waiting for an approver is withdrawn with the Withdraw button on the request.")
}

func msgCancelledReply(c *appreg.Conversation) appreg.Message {
	return say(textf("Cancelled %s.", what(c)))
}

func msgNotYours(c *appreg.Conversation) appreg.Message {
	return say(textf("Only %s, who started %s, can do that.", mention(c.Requester.User), what(c)))
}

func msgNotNow(c *appreg.Conversation) appreg.Message {
	if c.State.Terminal() {
		return say(textf("That button belongs to %s, which has ended (%s). Nothing was done.", what(c), describeState(c.State)))
	}
	return say(textf("That button is no longer current: %s is %s. Look at the latest message in its thread.", what(c), describeState(c.State)))
}

func msgRemindersOff() appreg.Message {
	return say("Expiry reminders are not running on this bot.")
}

func errAttachConflict(service, reg string) *appreg.Error {
	return appreg.Errorf(appreg.KindConflict, "Service %s is already attached to %s.", service, reg)
}

func msgAttached(r *appreg.Registration, service string) appreg.Message {
	t := textf("Attached service %s to %s.", bold(service), bold(r.Name))
	if r.SecretFor(service) == nil {
		t = t.Append(textf(" It has no secret of its own yet: %s creates one.", code("/appreg secret "+r.Name+" "+service)))
	}
	return appreg.Message{Text: t}
}

func describeState(s appreg.State) string {
	switch s {
	case appreg.StateStarted:
		return "starting"
	case appreg.StateAwaitingSignIn:
		return "waiting for the customer admin to sign in"
	case appreg.StateSignedIn:
		return "signed in"
	case appreg.StateAwaitingName:
		return "waiting for the registration name"
	case appreg.StateAwaitingApproval:
		return "waiting for an approver"
	case appreg.StateRejected:
		return "rejected"
	case appreg.StateAwaitingConfirm:
		return "waiting for your confirmation"
	case appreg.StateCreating:
		return "creating the registration"
	case appreg.StateDone:
		return "done"
	case appreg.StateCancelled:
		return "cancelled"
	case appreg.StateFailed:
		return "stopped"
	case appreg.StateExpired:
		return "paused until a new sign-in code is requested"
	}
	return string(s)
}

func clock(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("15:04 MST")
}

func cancelButton(c *appreg.Conversation) appreg.Button {
	return appreg.Button{ActionID: ActionCancel, Label: "Cancel", Value: c.ID, Style: appreg.ButtonDanger}
}

func retryButton(c *appreg.Conversation) appreg.Button {
	return appreg.Button{ActionID: ActionRetry, Label: "Retry", Value: c.ID, Style: appreg.ButtonPrimary}
}

func newCodeButton(c *appreg.Conversation) appreg.Button {
	return appreg.Button{ActionID: ActionNewCode, Label: "New sign-in code", Value: c.ID, Style: appreg.ButtonPrimary}
}

func nameButton(c *appreg.Conversation) appreg.Button {
	return appreg.Button{ActionID: ActionEnterName, Label: "Enter registration name", Value: c.ID, Style: appreg.ButtonPrimary}
}

// statusMessage is the thread's root message for each state.
func statusMessage(c *appreg.Conversation, loc *time.Location) appreg.Message {
	head := textf("%s · requested by %s", bold(flowTitle(c)), mention(c.Requester.User))
	var line appreg.Text
	var buttons []appreg.Button
	switch c.State {
	case appreg.StateStarted:
		line = appreg.T(appreg.IconWait, "Asking Entra ID for a sign-in code…")
	case appreg.StateAwaitingSignIn:
		who := "the customer admin"
		if c.Flow == appreg.FlowRole {
			who = "a Privileged Role Administrator of the tenant"
		}
		line = appreg.T(appreg.IconKey, fmt.Sprintf("Waiting for %s to sign in, until %s.", who, clock(c.CodeExpires, loc)))
		buttons = []appreg.Button{cancelButton(c)}
	case appreg.StateSignedIn, appreg.StateAwaitingName:
		if c.Flow != appreg.FlowOnboard {
			line = appreg.T(appreg.IconOK, fmt.Sprintf("%s signed in to %s.", c.Identity.Account, c.Identity.TenantName))
			buttons = []appreg.Button{cancelButton(c)}
			break
		}
		line = appreg.T(appreg.IconOK, fmt.Sprintf("%s signed in to %s. Waiting for the registration name (asked in the thread).", c.Identity.Account, c.Identity.TenantName))
		buttons = []appreg.Button{cancelButton(c)}
	case appreg.StateAwaitingApproval:
		line = appreg.T(appreg.IconAsk, "Waiting for an approver. Reason given: ", orNone(c.Role.Reason))
		buttons = []appreg.Button{
			{ActionID: ActionApprove, Label: "Approve", Value: c.ID, Style: appreg.ButtonPrimary},
			{ActionID: ActionReject, Label: "Reject", Value: c.ID, Style: appreg.ButtonDanger},
			{ActionID: ActionCancel, Label: "Withdraw (requester)", Value: c.ID},
		}
		if c.Role.Approver != nil {
			line = appreg.T(appreg.IconOK, textf("Approved by %s; waiting for a Privileged Role Administrator to sign in.", mention(c.Role.Approver.User)))
			buttons = nil
		}
	case appreg.StateRejected:
		line = appreg.T(appreg.IconFail, c.Reason)
	case appreg.StateAwaitingConfirm:
		line = appreg.T(appreg.IconAsk, textf("Waiting for %s to confirm (see the thread).", mention(c.Requester.User)))
		buttons = []appreg.Button{cancelButton(c)}
	case appreg.StateCreating:
		line = appreg.T(appreg.IconWork, "Working…")
		if c.Flow == appreg.FlowOnboard {
			line = appreg.T(appreg.IconWork, textf("Creating %s…", bold(c.Name)))
		}
		if !c.Reason.IsEmpty() {
			line = appreg.T(appreg.IconWarn, "Stopped: ", c.Reason)
			buttons = []appreg.Button{retryButton(c), cancelButton(c)}
		}
	case appreg.StateDone:
		line = appreg.T(appreg.IconOK, textf("Done: %s (application id %s). The report is in the thread.", bold(c.Name), code(c.Progress.AppID)))
		if c.Role != nil {
			line = appreg.T(appreg.IconOK, "Done: ", c.Role.Outcome)
		}
	case appreg.StateCancelled:
		line = appreg.T(appreg.IconStop, c.Reason)
	case appreg.StateFailed:
		line = appreg.T(appreg.IconFail, "Stopped: ", c.Reason)
	case appreg.StateExpired:
		line = appreg.T(appreg.IconPause, "Paused: ", c.Reason)
		buttons = []appreg.Button{newCodeButton(c), cancelButton(c)}
	}
	return appreg.Message{Text: head.Append("\n", line), Buttons: buttons}
}

func msgDeviceCode(c *appreg.Conversation, code appreg.DeviceCode, loc *time.Location) appreg.Message {
	who := "the customer's admin (Application Administrator or higher)"
	if c.Flow == appreg.FlowRole {
		who = "a Privileged Role Administrator (or Global Administrator) of the customer's tenant"
	}
	return say(appreg.IconKey, textf("%s (only you can see this)\n"+
		"Send it directly to %s, and nobody else: whoever enters it signs in to the bot.\n"+
		"1. Open %s\n2. Enter the code %s\n3. Sign in with the tenant's admin account and confirm.\n"+
		"The code works until %s.",
		bold("Sign-in code for "+c.Tenant), who, appreg.Link(code.VerificationURL, ""), appreg.Code(code.UserCode), bold(clock(code.ExpiresAt, loc))))
}

func msgExpired(c *appreg.Conversation) appreg.Message {
	return appreg.Message{
		Text:    appreg.T(appreg.IconPause, c.Reason),
		Buttons: []appreg.Button{newCodeButton(c), cancelButton(c)},
	}
}

func msgSignedIn(id appreg.Identity) appreg.Message {
	return appreg.Message{
		Text: appreg.T(appreg.IconOK, bold("Connected to the tenant."), " Check that this is the right admin and tenant before you go on:"),
		Fields: []appreg.Field{
			{Label: "Signed in", Value: fmt.Sprintf("%s (%s)", id.DisplayName, id.Account)},
			{Label: "Tenant", Value: id.TenantName},
			{Label: "Tenant id", Value: id.TenantID},
			{Label: "Default domain", Value: id.DefaultDomain},
		},
	}
}

func msgAskName(c *appreg.Conversation, why appreg.Text) appreg.Message {
	t := textf("What should the registration for service %s be called? %s.", bold(c.Service), nameRules())
	if !why.IsEmpty() {
		t = appreg.T(appreg.IconWarn, why, "\n", t)
	}
	form := nameForm(c)
	return appreg.Message{Text: t, Buttons: []appreg.Button{nameButton(c), cancelButton(c)}, Ask: &form}
}

func reasonCancelledBy(by appreg.Caller) appreg.Text {
	return textf("Cancelled by %s.", mention(by.User))
}

func msgCancelled(c *appreg.Conversation, by appreg.Caller) appreg.Message {
	t := appreg.T(appreg.IconStop, reasonCancelledBy(by))
	if c.Flow == appreg.FlowRole {
		return appreg.Message{Text: appreg.T(appreg.IconStop, textf("%s withdrew the role request. No role was changed.", mention(by.User)))}
	}
	if c.Flow != appreg.FlowOnboard {
		return appreg.Message{Text: t.Append(" Nothing more will be done; what was already done in the tenant stays, and the thread above says what that was.")}
	}
	if c.Progress.AppID != "" {
		t = t.Append(textf(" The registration %s (application id %s) was already created in the tenant and is left in place; a tenant admin can delete it under App registrations if it is not wanted.", bold(c.Name), code(c.Progress.AppID)))
	} else {
		t = t.Append(" Nothing was created in the tenant.")
	}
	return appreg.Message{Text: t}
}

// sinkLabel names a sink for people.
func sinkLabel(name string) string {
	switch name {
	case "keyvault":
		return "Azure Key Vault"
	case "webhook":
		return "the provider's platform (webhook)"
	}
	return name
}

func reasonNotDelivered(sink, why string, removed bool) string {
	gone := "It was removed from the tenant, so no credential is left that nobody holds; Retry makes a new one."
	if !removed {
		gone = "Removing it from the tenant failed too: remove it in the portal (App registrations → Certificates & secrets) if Retry does not."
	}
	return fmt.Sprintf("The new credential could not be delivered to %s: %s %s Nothing was shown in chat.", sinkLabel(sink), strings.TrimSuffix(why, ".")+".", gone)
}

func errCertificateNeedsSink() error {
	return appreg.Errorf(appreg.KindInvalid, "A certificate's private key is never shown in chat, and this bot delivers credentials only in chat: "+
		"certificates need BOT_SECRET_SINKS set to keyvault or webhook. Ask whoever runs the bot, or use a client secret (--secret).")
}

func msgUnknownOption(cmd, opt string) appreg.Message {
	return say(appreg.IconWarn, textf("%s does not know the option %s. It takes %s or %s.", code("/appreg "+cmd), quoted(opt), code("--secret"), code("--certificate")))
}

// noun is what the conversation's credential is called: "secret" or
// "certificate".
func noun(c *appreg.Conversation) string { return c.Credential.Noun() }

// capital gives s a capital first letter.
func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// joinWhere lists where sinks put a credential.
func joinWhere(ds []appreg.Delivered) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Where
	}
	return joinAnd(parts)
}

// handedTo says who has the conversation's new credential: the person,
// privately, or the sinks (it was not shown in chat).
func handedTo(c *appreg.Conversation) appreg.Text {
	if len(c.Progress.Delivered) == 0 {
		return textf("sent privately to %s", mention(c.Requester.User))
	}
	return appreg.T("delivered to ", joinWhere(c.Progress.Delivered), " (not shown in chat)")
}

func reasonCrashed() appreg.Text {
	return appreg.T("Something went wrong inside the bot (a bug), so this conversation was stopped rather than go on half-done. The people who run the bot find the details in its log.")
}

// msgCrashed ends a conversation whose job panicked, with what it had done.
func msgCrashed(c *appreg.Conversation) appreg.Message {
	t := appreg.T(appreg.IconFail, reasonCrashed())
	if done := doneSoFar(c); len(done) > 0 {
		t = t.Append("\nDone in the tenant before it stopped: ", appreg.Join(done, "; "), ". It stays; start again to finish, or remove it in the portal.")
	} else {
		t = t.Append(" Nothing was changed in the tenant; start again.")
	}
	return appreg.Message{Text: t}
}

// doneSoFar lists the creation steps a conversation has recorded.
func doneSoFar(c *appreg.Conversation) []appreg.Text {
	var done []appreg.Text
	if c.Progress.AppID != "" {
		done = append(done, textf("registration %s exists", code(c.Progress.AppID)))
	}
	if c.Progress.ServicePrincipal != "" {
		done = append(done, appreg.T("service principal exists"))
	}
	if len(c.Progress.Consented) > 0 {
		done = append(done, appreg.T("consented: "+strings.Join(c.Progress.Consented, ", ")))
	}
	if c.Progress.SecretKeyID != "" {
		done = append(done, textf("client %s %s", noun(c), code(c.Progress.SecretKeyID)))
	}
	return done
}

func msgStepFailed(c *appreg.Conversation, err error) appreg.Message {
	done := doneSoFar(c)
	t := appreg.T(appreg.IconWarn, appreg.ErrorMessage(err))
	if len(done) > 0 && c.Flow == appreg.FlowOnboard {
		t = t.Append("\nDone so far: ", appreg.Join(done, "; "), ". Retry continues from there.")
	}
	m := appreg.Message{Text: t}
	if c.State == appreg.StateCreating {
		m.Buttons = []appreg.Button{retryButton(c), cancelButton(c)}
	}
	return m
}

// daysLeft is the number of calendar days, in now's time zone, from now's
// date to the expiry date: 0 on the expiry date, negative after it. A
// secret made for 365 days has 365 days left on the day it is made, and
// the reminders count the same way.
func daysLeft(expires, now time.Time) int {
	y1, m1, d1 := now.Date()
	y2, m2, d2 := expires.In(now.Location()).Date()
	a := time.Date(y1, m1, d1, 12, 0, 0, 0, time.UTC)
	b := time.Date(y2, m2, d2, 12, 0, 0, 0, time.UTC)
	return int(b.Sub(a).Round(24*time.Hour) / (24 * time.Hour))
}

// dateAt is t's date in now's time zone.
func dateAt(t, now time.Time) string { return t.In(now.Location()).Format("2006-01-02") }

func msgSecret(c *appreg.Conversation, s appreg.Secret, key appreg.SecretKey, now time.Time) appreg.Message {
	m := say(appreg.IconLock, textf("%s (only you can see this, and only now: it cannot be shown again)\n"+
		"Application (client) id: %s\nTenant id: %s\nSecret: %s\nExpires %s (in %d days).\n"+
		"Paste it into the service's configuration now; do not post it anywhere else. Then say you stored it.",
		bold("Client secret for "+c.Name+", service "+c.Service), code(c.Progress.AppID), code(c.Identity.TenantID), code(s.Text.Reveal()),
		dateAt(s.Expires, now), daysLeft(s.Expires, now)))
	m.Buttons = []appreg.Button{{ActionID: ActionStored, Label: "I have stored it", Value: key.String(), Style: appreg.ButtonPrimary}}
	return m
}

func msgStored(d appreg.SecretDelivery, waiting bool) appreg.Message {
	if !waiting {
		return say(appreg.IconOK, "Noted. (That secret was not waiting for a confirmation any more: confirmed already, or reported as unconfirmed; if it was stored, nothing needs to be done.)")
	}
	return say(appreg.IconOK, textf("Noted: the secret for service %s of %s is stored.", bold(d.Service), bold(d.Registration)))
}

// msgUnconfirmed says that nobody confirmed storing a delivered secret.
func msgUnconfirmed(d appreg.SecretDelivery, ttl time.Duration, loc *time.Location) appreg.Message {
	return appreg.Message{
		Text: appreg.T(appreg.IconWarn, textf("Nobody confirmed storing the client secret for service %s of %s, shown privately to %s at %s (%s ago at least). "+
			"A private message is easy to miss, and the secret cannot be shown again. If it was not stored, replace it: a new secret is made and shown privately to whoever clicks, and the unconfirmed one is removed from the tenant.",
			bold(d.Service), bold(d.Registration), mention(d.To.User), d.DeliveredAt.In(loc).Format("2006-01-02 15:04 MST"), ttl.Round(time.Minute))),
		Buttons: []appreg.Button{
			{ActionID: ActionReplace, Label: "Replace the secret", Value: d.Key.String(), Style: appreg.ButtonPrimary},
			{ActionID: ActionStored, Label: "It is stored", Value: d.Key.String()},
		},
	}
}

func msgReplacementMade(c *appreg.Conversation, plan appreg.ReminderPlan, now time.Time) appreg.Message {
	return say(appreg.IconRotate, bold("New "+noun(c)+" for service "+c.Service),
		textf(" on %s, expires %s (%d days); %s. The unconfirmed one is removed next.\nExpiry reminders: %s",
			c.Name, dateAt(c.Progress.SecretExpires, now), daysLeft(c.Progress.SecretExpires, now), handedTo(c),
			reminderPlan(plan, c.Requester, now)), validationLine(c))
}

// reminderPlan says when and where a secret's expiry reminders come.
func reminderPlan(plan appreg.ReminderPlan, to appreg.Caller, now time.Time) appreg.Text {
	if len(plan.Due) == 0 {
		return appreg.T("none are scheduled (reminders are not running on this bot); note the expiry date.")
	}
	days := make([]string, 0, len(plan.Due))
	for _, d := range plan.Due {
		days = append(days, dateAt(d, now))
	}
	where := appreg.T("in this thread")
	if plan.Channel != "" {
		where = appreg.T("in ", appreg.Channel(plan.Channel))
	}
	return textf("on %s, at %s, %s and as a direct message to %s.", joinAnd(days), plan.Due[len(plan.Due)-1].In(now.Location()).Format("15:04 MST"), where, mention(to.User))
}

// joinAnd lists items as "a, b and c".
func joinAnd(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

func msgReport(c *appreg.Conversation, cfg Config, grants []appreg.Grant, grantsErr error, plan appreg.ReminderPlan, now time.Time) appreg.Message {
	p := c.Progress
	t := appreg.T(appreg.IconParty, bold("Registration "+c.Name+" created"), " in ", c.Identity.TenantName, ".\n")
	if p.Validated {
		t = t.Append(appreg.IconOK, bold("Authentication validated"), ": the new "+noun(c)+" gets tokens for Microsoft Graph and the Skype and Teams Tenant Admin API.\n")
	} else {
		t = t.Append(appreg.IconWarn, bold("Authentication not validated"), ": ", p.ValidationNote, "\n")
	}
	if len(p.Consented) > 0 {
		t = t.Append(bold("Permissions granted"), " (admin consent): ", strings.Join(p.Consented, ", "), "\n")
	}
	if len(p.ConsentPending) > 0 {
		t = t.Append(appreg.IconWait, bold("Pending a Privileged Role Administrator"), fmt.Sprintf(": admin consent for %s. %s is not allowed to grant Microsoft Graph application permissions; a Privileged Role Administrator or Global Administrator of the tenant must grant admin consent under App registrations → %s → API permissions.\n",
			strings.Join(p.ConsentPending, ", "), c.Identity.Account, c.Name))
	}
	if p.LifetimeNote != "" {
		t = t.Append(appreg.IconInfo, p.LifetimeNote, "\n")
	}
	t = t.Append(bold("Permissions cleanup"), ": ")
	switch {
	case grantsErr != nil:
		t = t.Append("I could not list the sign-in app's permissions (", appreg.ErrorMessage(grantsErr), ").\n")
	case len(grants) == 0:
		t = t.Append("the sign-in app holds no delegated permissions in the tenant; nothing to remove.\n")
	default:
		t = t.Append("the app the admin signed in to holds these delegated permissions, which are not required any more; a tenant admin should remove them all:\n")
		for _, g := range grants {
			t = t.Append(fmt.Sprintf("  • %s: %s\n", g.Resource, strings.Join(g.Scopes, ", ")))
		}
	}
	t = t.Append(bold("Expiry reminders"), ": ", reminderPlan(plan, c.Requester, now), "\n")
	t = t.Append("The "+noun(c)+" was ", handedTo(c), ".\n\n")

	approvals := cfg.approvals(c.Requester.Platform) != ""
	t = t.Append(bold("Next steps"))
	if len(grants) > 0 || grantsErr != nil {
		t = t.Append(textf("\n• %s removes the sign-in app's permissions listed above (a tenant admin signs in again).", code("/appreg cleanup "+c.Name)))
	}
	for _, role := range cfg.NeededRoles {
		t = t.Append("\n• ", bold(role), " on the registration's service principal: ")
		if approvals {
			t = t.Append(textf("the Request button below, or %s; an approver decides and a Privileged Role Administrator signs in.", code(fmt.Sprintf(`/appreg role add %s "%s"`, c.Name, role))))
		} else {
			t = t.Append("a Privileged Role Administrator assigns it in Microsoft Entra roles and administrators (role requests are off on this bot).")
		}
	}
	if len(p.ConsentPending) > 0 {
		t = t.Append(textf("\n• The pending admin consents: a Privileged Role Administrator grants them; %s then shows them granted.", code("/appreg check "+c.Name)))
	}
	t = t.Append(textf("\n• %s compares the tenant with the bot's record at any time.", code("/appreg check "+c.Name)))
	t = t.Append(textf("\n• %s gives another service a secret of its own.", code("/appreg secret "+c.Name+" <service>")))
	var buttons []appreg.Button
	if approvals {
		for _, role := range cfg.NeededRoles {
			buttons = append(buttons, appreg.Button{ActionID: ActionRoleRequest, Label: "Request " + role, Value: roleRequest{TenantID: c.Identity.TenantID, AppID: p.AppID, Role: role}.String()})
		}
	}
	return appreg.Message{Text: t, Buttons: buttons, Fields: []appreg.Field{
		{Label: "Registration", Value: c.Name},
		{Label: "Application (client) id", Value: p.AppID},
		{Label: "Tenant id", Value: c.Identity.TenantID},
		{Label: "Service", Value: c.Service},
		{Label: capital(noun(c)) + " expires", Value: fmt.Sprintf("%s (%d days)", dateAt(p.SecretExpires, now), daysLeft(p.SecretExpires, now))},
	}}
}

// listPageSize keeps a page of /appreg list within one readable message.
const listPageSize = 15

func msgList(regs []appreg.Registration, tenant string, page int, now time.Time, loc *time.Location) appreg.Message {
	if len(regs) == 0 {
		if tenant != "" {
			return say(textf("I know no registrations in %s.", bold(clipped(tenant))))
		}
		return say(textf("I know no registrations yet. Start one with %s.", code("/appreg new <tenant>")))
	}
	pages := (len(regs) + listPageSize - 1) / listPageSize
	page = min(max(page, 0), pages-1)
	t := appreg.T(bold(fmt.Sprintf("%d registration(s)", len(regs))))
	if pages > 1 {
		t = t.Append(fmt.Sprintf(" · page %d of %d", page+1, pages))
	}
	t = t.Append("\n")
	for _, r := range regs[page*listPageSize : min(len(regs), (page+1)*listPageSize)] {
		t = t.Append("• ", bold(r.Name), " · ", r.Tenant, " · app ", code(r.AppID))
		if r.Pending() {
			t = t.Append(" · ", appreg.IconWait, "pending invitation (no service attached)")
		} else {
			t = t.Append(" · services ", strings.Join(r.Services, ", "))
		}
		t = t.Append("\n")
		for _, sec := range r.Secrets {
			days := daysLeft(sec.Expires, now)
			t = t.Append(fmt.Sprintf("    ◦ %s %s: expires %s (%d days)", sec.Kind.Noun(), secretLabel(sec), sec.Expires.In(loc).Format("2006-01-02"), days))
			switch {
			case !sec.Expires.After(now):
				t = t.Append(" ", appreg.IconExpired, bold("expired"))
			case days <= 30:
				t = t.Append(" ", appreg.IconWarn, "expiring soon")
			}
			t = t.Append("\n")
		}
	}
	m := appreg.Message{Text: t}
	if page+1 < pages {
		m.Buttons = []appreg.Button{{ActionID: ActionListPage, Label: "Next page", Value: listPage{Page: page + 1, Tenant: tenant}.String()}}
	}
	return m
}

func msgOfferRotation(r *appreg.Registration, old appreg.SecretRecord, now time.Time) appreg.Message {
	key := appreg.SecretKey{TenantID: r.TenantID, AppID: r.AppID, KeyID: old.KeyID}
	return appreg.Message{
		Text: textf("Service %s already has its own %s on %s (expires %s, in %d days); each service gets exactly one. Rotate it instead?",
			bold(old.Service), old.Kind.Noun(), bold(r.Name), dateAt(old.Expires, now), daysLeft(old.Expires, now)),
		Buttons: []appreg.Button{{ActionID: appreg.ActionRotate, Label: "Rotate " + old.Kind.Noun(), Value: key.String(), Style: appreg.ButtonPrimary}},
	}
}

// tenantLabel names the conversation's tenant by its primary domain once
// someone has signed in to it, and as typed before.
func tenantLabel(c *appreg.Conversation) string {
	if c.Identity != nil && c.Identity.DefaultDomain != "" {
		return c.Identity.DefaultDomain
	}
	return c.Tenant
}

// tenantDomains are the verified domains of the signed-in tenant, its
// primary domain first.
func tenantDomains(id *appreg.Identity) []string {
	out := []string{id.DefaultDomain}
	for _, d := range id.Domains {
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, d) }) {
			out = append(out, d)
		}
	}
	return out
}

func flowTitle(c *appreg.Conversation) string {
	switch c.Flow {
	case appreg.FlowSecret:
		return fmt.Sprintf("New %s for %s · service %s", noun(c), c.Name, c.Service)
	case appreg.FlowRotate:
		return fmt.Sprintf("%s rotation for %s · service %s", capital(noun(c)), c.Name, c.Service)
	case appreg.FlowReplace:
		return fmt.Sprintf("Replacement of an unconfirmed secret for %s · service %s", c.Name, c.Service)
	case appreg.FlowCleanup:
		return "Permissions cleanup for " + c.Name
	case appreg.FlowCheck:
		return "Check of " + c.Name
	case appreg.FlowRole:
		return fmt.Sprintf("Role change in %s: %s %s %s %s", tenantLabel(c), c.Role.Op, c.Role.Role, preposition(c.Role.Op), c.Role.PrincipalLabel)
	}
	return fmt.Sprintf("App registration for %s · service %s", tenantLabel(c), c.Service)
}

func msgSecretAdded(c *appreg.Conversation, plan appreg.ReminderPlan, now time.Time) appreg.Message {
	return say(appreg.IconOK, bold("New "+noun(c)+" for service "+c.Service),
		textf(" on %s: expires %s (%d days); %s.\nExpiry reminders: %s",
			c.Name, dateAt(c.Progress.SecretExpires, now), daysLeft(c.Progress.SecretExpires, now), handedTo(c),
			reminderPlan(plan, c.Requester, now)),
		validationLine(c))
}

func validationLine(c *appreg.Conversation) appreg.Text {
	var t appreg.Text
	if c.Progress.LifetimeNote != "" {
		t = t.Append("\n", appreg.IconInfo, c.Progress.LifetimeNote)
	}
	if c.Progress.Validated {
		return t.Append("\n", appreg.IconOK, "Authentication validated.")
	}
	return t.Append("\n", appreg.IconWarn, "Authentication not validated: ", c.Progress.ValidationNote)
}

func msgRotated(c *appreg.Conversation, plan appreg.ReminderPlan, now time.Time) appreg.Message {
	return appreg.Message{
		Text: appreg.T(appreg.IconRotate, bold("New "+noun(c)+" for service "+c.Service),
			textf(" on %s, expires %s (%d days); %s.\nExpiry reminders: %s", c.Name, dateAt(c.Progress.SecretExpires, now), daysLeft(c.Progress.SecretExpires, now), handedTo(c),
				reminderPlan(plan, c.Requester, now)),
			validationLine(c),
			fmt.Sprintf("\nPut it into the provider platform's configuration of service %s, check that the service works, then remove the old %s.", c.Service, noun(c))),
		Buttons: []appreg.Button{
			{ActionID: ActionConfirm, Label: "The platform uses the new " + noun(c) + ": remove the old one", Value: c.ID, Style: appreg.ButtonDanger},
			{ActionID: ActionKeep, Label: "Keep both for now", Value: c.ID},
		},
	}
}

func msgKeptBoth(c *appreg.Conversation) appreg.Message {
	return say(textf("Both %ss of service %s stay. Remove the old one in the portal when the platform no longer uses it; %s keeps the record honest.",
		noun(c), bold(c.Service), code("/appreg check "+c.Name)))
}

func msgOldSecretRemoved(c *appreg.Conversation) appreg.Message {
	return say(appreg.IconOK, textf("The old %s of service %s was removed. Reminders now follow the new one.", noun(c), bold(c.Service)))
}

func msgNothingToClean(r *appreg.Registration) appreg.Message {
	return say(appreg.IconOK, textf("Nothing to clean up for %s: the sign-in app holds no delegated permissions in the tenant and the registration has no permissions beyond the profile.", bold(r.Name)))
}

func msgCleanupPlan(c *appreg.Conversation, r *appreg.Registration, plan *appreg.CleanupPlan) appreg.Message {
	t := appreg.T(bold("Not required once "+r.Name+" exists:"), "\n")
	for _, g := range plan.Grants {
		t = t.Append(fmt.Sprintf("• delegated permissions of the sign-in app on %s: %s\n", g.Resource, strings.Join(g.Scopes, ", ")))
	}
	for _, p := range plan.Extra {
		t = t.Append(fmt.Sprintf("• application permission %s on the registration (not in the profile)\n", p.Name))
	}
	if c.Identity != nil {
		t = t.Append(textf("• the Application Administrator role of the onboarding admin: not removed here; request it with %s (goes through an approval).\n",
			code(`/appreg role remove <admin's UPN> "Application Administrator"`)))
	}
	t = t.Append("Remove the permissions listed?")
	return appreg.Message{Text: t, Buttons: []appreg.Button{
		{ActionID: ActionConfirm, Label: "Remove them", Value: c.ID, Style: appreg.ButtonDanger}, cancelButton(c),
	}}
}

func msgCleanupDone(c *appreg.Conversation, r *appreg.Registration) appreg.Message {
	plan := c.Cleanup
	t := appreg.T(appreg.IconClean, bold("Cleanup of "+r.Name+" done"), fmt.Sprintf(": %d removed", len(plan.Done)))
	if len(plan.AlreadyGone) > 0 {
		t = t.Append(fmt.Sprintf(", %d were already gone", len(plan.AlreadyGone)))
	}
	var names []string
	for _, g := range plan.Grants {
		if slices.Contains(plan.Done, g.ID) {
			names = append(names, "delegated grant on "+g.Resource)
		}
	}
	for _, p := range plan.Extra {
		if slices.Contains(plan.Done, p.Name) {
			names = append(names, p.Name)
		}
	}
	if len(names) > 0 {
		t = t.Append(" (" + strings.Join(names, "; ") + ")")
	}
	return appreg.Message{Text: t.Append(". Running the cleanup again is harmless.")}
}

// finding is one line of a check: OK, or drift with what fixes it.
type finding struct {
	ok     bool
	what   string
	detail string
	fix    appreg.Text
}

// The fixes a check proposes for its findings.

func fixServicePrincipal() appreg.Text {
	return textf("A tenant admin must create it: open the registration in Entra ID → Enterprise applications, or run %s again.", code("/appreg new"))
}

func fixNotRequested() appreg.Text {
	return appreg.T("Add it under API permissions, then grant admin consent (a Privileged Role Administrator).")
}

func fixNotConsented() appreg.Text {
	return appreg.T("A Privileged Role Administrator or Global Administrator grants admin consent under API permissions.")
}

func fixRole(reg, role string) appreg.Text {
	return textf("%s (through an approval).", code(fmt.Sprintf(`/appreg role add %s "%s"`, reg, role)))
}

func fixCleanup(reg string) appreg.Text { return appreg.T(code("/appreg cleanup " + reg)) }

func fixNewSecret(reg, service, why string) appreg.Text {
	return appreg.T(code("/appreg secret "+reg+" "+service), why)
}

func msgCheckReport(r *appreg.Registration, fs []finding) appreg.Message {
	drift := 0
	for _, f := range fs {
		if !f.ok {
			drift++
		}
	}
	var t appreg.Text
	if drift == 0 {
		t = appreg.T(appreg.IconOK, bold(r.Name+" matches the record and the profile."), "\n")
	} else {
		t = appreg.T(appreg.IconSearch, bold(fmt.Sprintf("%s: %d point(s) of drift.", r.Name, drift)), "\n")
	}
	for _, f := range fs {
		mark := appreg.IconOK
		if !f.ok {
			mark = appreg.IconWarn
		}
		t = t.Append(mark, f.what+": "+f.detail)
		if !f.ok && !f.fix.IsEmpty() {
			t = t.Append(" — fix: ", f.fix)
		}
		t = t.Append("\n")
	}
	return appreg.Message{Text: t}
}

func reasonDeletedInTenant(c *appreg.Conversation) appreg.Text {
	return textf("The registration %s (application id %s) no longer exists in the tenant: it was deleted outside the bot. Onboard again with %s.",
		c.Name, c.Progress.AppID, code("/appreg new "+c.Tenant))
}

func lifetimeCappedNote(wanted, got time.Duration) string {
	return fmt.Sprintf("The tenant's app-management policy does not allow a secret lifetime of %d days; the secret was created with the policy's maximum instead (%d days).",
		int(wanted.Hours()/24), int((got+12*time.Hour).Hours()/24))
}

func validationFailedNote(checks []appreg.CredentialCheck, attempts int) string {
	var failed []string
	for _, ch := range checks {
		if !ch.OK {
			failed = append(failed, fmt.Sprintf("%s (%s)", ch.Resource, ch.Reason))
		}
	}
	return fmt.Sprintf("after %d attempts the new secret still gets no token for %s. New credentials can take a few minutes to replicate; check again with /appreg check later.",
		attempts, strings.Join(failed, "; "))
}

func validationSkippedNote(c *appreg.Conversation) string {
	return "not checked: the bot restarted after delivering the secret. Check it with /appreg check " + c.Name + "."
}

const validationStoppedNote = "not finished: the bot stopped while checking."

// Reasons: why a conversation paused, failed or was cancelled.

func reasonEntraUnreachable() appreg.Text {
	return appreg.T("I could not reach Entra ID to get a sign-in code. Try a new code in a minute.")
}

func reasonCodeNotDelivered(err error) appreg.Text {
	return appreg.T("I could not show you the sign-in code (", appreg.ErrorMessage(err), "). Ask for a new one once that is fixed.")
}

func reasonDeclined() appreg.Text {
	return appreg.T("The customer admin declined the sign-in. Ask for a new code when they are ready.")
}

func reasonCodeExpired() appreg.Text {
	return appreg.T("The sign-in code expired before the admin signed in.")
}

func reasonSessionLost() appreg.Text {
	return appreg.T("I need the customer admin to sign in again to go on (the bot restarted, and the admin's session was not kept). Nothing was lost: the creation continues where it stopped.")
}

func reasonSignInInterrupted() appreg.Text {
	return appreg.T("The bot restarted while waiting for the sign-in, so the code shown earlier no longer works here.")
}

func reasonCannotPost(err error) appreg.Text {
	return appreg.T("I cannot post in that channel, so I could not open the thread (", appreg.ErrorMessage(err), "). Invite me to the channel (or use one I am in), then run the command again. Nothing was done.")
}

func reasonCannotPostApprovals(err error) appreg.Text {
	return appreg.T("I cannot post in the approvals channel, so the request could not be posted (", appreg.ErrorMessage(err), "). Ask the people who run the bot to invite me there. Nothing was changed.")
}

func reasonConditionalAccess(detail string) appreg.Text {
	return textf("The tenant's Conditional Access policy blocked the device-code sign-in%s. Nothing was created. The customer admin can exclude their account from the policy that blocks the device code flow for the time of the onboarding (Entra admin center → Protection → Conditional Access), or ask their Conditional Access administrator to; then start again with %s.",
		detailSuffix(detail), code("/appreg new"))
}

func reasonRefused(detail string) appreg.Text {
	return appreg.T("Entra ID refused the sign-in" + detailSuffix(detail) + ". Ask for a new code and try again; if it happens again, the admin should check the account's sign-in logs.")
}

func detailSuffix(detail string) string {
	if detail == "" {
		return ""
	}
	return " (" + detail + ")"
}

func reasonWrongTenant(id appreg.Identity, wanted string) appreg.Text {
	return textf("%s signed in to %s (tenant id %s, %s), not to %s as requested. Nothing was created. Start again with %s and make sure the admin signs in with an account of the right tenant.",
		id.Account, id.TenantName, id.TenantID, id.DefaultDomain, wanted, code("/appreg new"))
}

func reasonMissingRole(id appreg.Identity) appreg.Text {
	return textf("%s does not hold the Application Administrator role (nor Cloud Application Administrator or Global Administrator), which the onboarding requires beforehand. Nothing was created. A Global Administrator or Privileged Role Administrator can assign the role in Microsoft Entra roles and administrators; then start again with %s.",
		id.Account, code("/appreg new"))
}

func reasonRolesUnreadable(id appreg.Identity, err error) appreg.Text {
	return appreg.T("I could not read the directory roles of ", id.Account, ": ", appreg.ErrorMessage(err))
}

func reasonNameTakenInTenant(name string, id *appreg.Identity) appreg.Text {
	tenant := "the tenant"
	if id != nil {
		tenant = id.TenantName
	}
	return appreg.T(fmt.Sprintf("An app registration named %s already exists in %s. Choose another name.", quoted(name), tenant))
}

func reasonIdle(d time.Duration) appreg.Text {
	return textf("Nobody continued this onboarding for %s. Start again with %s.", d.Round(time.Minute), code("/appreg new"))
}

func reasonNotPrivileged(id appreg.Identity) appreg.Text {
	return appreg.T(fmt.Sprintf("%s is not a Privileged Role Administrator (nor a Global Administrator) of %s, and only they can give or take directory roles. Ask for a new code and have one of them sign in.", id.Account, id.TenantName))
}

func msgCannotOpenThread(reason appreg.Text) appreg.Message {
	return say(appreg.IconWarn, reason)
}

// Role changes.

func msgNoApprovalsChannel() appreg.Message {
	return say(textf("Role changes need an approvals channel: ask the people who run the bot to set %s.", code("BOT_APPROVALS_CHANNEL")))
}

func msgUnknownRole(typed string, roles []string) appreg.Message {
	return say(fmt.Sprintf("I don't know the role %s. Roles I can request: %s.", quoted(typed), strings.Join(roles, ", ")))
}

func msgRoleRequested(rc *appreg.RoleChange, approvals appreg.Place) appreg.Message {
	return say(textf("Requested: %s %s %s %s. An approver decides in %s; I'll message you on each change.",
		rc.Op, bold(rc.Role), preposition(rc.Op), bold(rc.PrincipalLabel), appreg.Channel(approvals.Channel)))
}

func describeRoleChange(rc *appreg.RoleChange) appreg.Text {
	return textf("%s %s %s %s", rc.Op, bold(rc.Role), preposition(rc.Op), bold(rc.PrincipalLabel))
}

func msgNotApprover(why string) appreg.Message {
	return say(appreg.IconStop, why)
}

const (
	whySelfApproval = "You requested this change, so you cannot decide it: another approver must."
	whyNotApprover  = "Only the approvers named in BOT_APPROVERS can decide role changes."
)

func msgAlreadyDecided(c *appreg.Conversation) appreg.Message {
	if c.Role != nil && c.Role.Approver != nil {
		return say(textf("This request was already decided by %s (%s).", mention(c.Role.Approver.User), c.Role.Decision))
	}
	return say("This request is no longer waiting for a decision (" + describeState(c.State) + ").")
}

func msgApproved(approver appreg.Caller) appreg.Message {
	return say(appreg.IconOK, textf("Approved by %s. Next: a Privileged Role Administrator of the tenant signs in; the code goes to %s only.",
		mention(approver.User), mention(approver.User)))
}

func msgApprovedDM(c *appreg.Conversation, approver appreg.Caller) appreg.Message {
	return say(textf("Your request to %s was approved by %s.", describeRoleChange(c.Role), mention(approver.User)))
}

func reasonRejected(approver appreg.Caller, why string) appreg.Text {
	return textf("Rejected by %s: %s", mention(approver.User), why)
}

func msgRejectedDM(c *appreg.Conversation, approver appreg.Caller, why string) appreg.Message {
	return say(textf("Your request to %s was rejected by %s: %s", describeRoleChange(c.Role), mention(approver.User), why))
}

const (
	whyRejectNeedsReason = "Please say why, for the requester."
	whyNotRoleChange     = "This is not a role change."
	whyDecidedMeanwhile  = "Someone decided this request meanwhile."
	whyChangedMeanwhile  = "This conversation changed meanwhile; look at the thread."
)

func rejectForm(c *appreg.Conversation) appreg.Form {
	return appreg.Form{
		ID: FormReject, Conversation: c.ID, Title: "Reject role change", Submit: "Reject",
		Inputs: []appreg.FormInput{{ID: InputReason, Label: "Why is it rejected?", Hint: "The requester sees this.", MaxLength: 300}},
	}
}

func nameForm(c *appreg.Conversation) appreg.Form {
	return appreg.Form{
		ID: FormName, Conversation: c.ID, Title: "Registration name", Submit: "Create",
		Inputs: []appreg.FormInput{{
			ID: InputName, Label: "Registration name for service " + c.Service,
			Hint:        "3–15 characters; no dot, no blank, none of \\ / : * ? \" < > |; unique per service.",
			Placeholder: "e.g. DR-Contoso", MaxLength: 64,
		}},
	}
}

func roleOutcome(rc *appreg.RoleChange, changed bool) string {
	switch {
	case rc.Op == "add" && changed:
		return fmt.Sprintf("%s now holds %s.", rc.PrincipalLabel, rc.Role)
	case rc.Op == "add":
		return fmt.Sprintf("%s already held %s; nothing changed.", rc.PrincipalLabel, rc.Role)
	case changed:
		return fmt.Sprintf("%s no longer holds %s.", rc.PrincipalLabel, rc.Role)
	}
	return fmt.Sprintf("%s did not hold %s; nothing changed.", rc.PrincipalLabel, rc.Role)
}

func msgRoleDone(rc *appreg.RoleChange) appreg.Message { return say(appreg.IconOK, rc.Outcome) }

func msgRoleDoneDM(rc *appreg.RoleChange) appreg.Message {
	return say("Your role change is done: " + rc.Outcome)
}

func reasonApprovalExpired(ttl time.Duration) appreg.Text {
	return appreg.T(fmt.Sprintf("Expired: nobody decided within %s. Request it again if it is still needed.", ttl.Round(time.Minute)))
}

func msgApprovalExpired(c *appreg.Conversation) appreg.Message { return say(appreg.IconWait, c.Reason) }

func msgApprovalExpiredDM(c *appreg.Conversation) appreg.Message {
	return say(textf("Your request to %s expired without a decision.", describeRoleChange(c.Role)))
}

func msgRejected(c *appreg.Conversation) appreg.Message { return say(appreg.IconFail, c.Reason) }

func msgAudit(recs []appreg.AuditRecord, filter string, complete bool, loc *time.Location) appreg.Message {
	partial := ""
	if !complete {
		partial = fmt.Sprintf(" I looked through the newest %d records only; the audit export (GET /audit) reaches further.", auditScan)
	}
	if len(recs) == 0 {
		if filter != "" {
			return say(fmt.Sprintf("No audit records about %s.%s", quoted(filter), partial))
		}
		return say("No audit records yet.")
	}
	t := appreg.T(bold(fmt.Sprintf("Latest %d audit record(s)", len(recs))))
	if filter != "" {
		t = t.Append(" about ", filter)
	}
	t = t.Append("\n")
	for _, r := range recs {
		t = t.Append("• ", r.At.In(loc).Format("2006-01-02 15:04"), " ", appreg.MentionID(r.Actor), " ", r.Action)
		if r.Target != "" {
			t = t.Append(" · ", r.Target)
		}
		if r.Detail != "" {
			t = t.Append(" · ", r.Detail)
		}
		t = t.Append(" → ", r.Outcome, "\n")
	}
	return appreg.Message{Text: t.Append(partial)}
}

func msgUpcoming(next []Upcoming, total int, now time.Time, loc *time.Location) appreg.Message {
	if len(next) == 0 {
		return say("No expiry reminders are scheduled.")
	}
	head := fmt.Sprintf("Next %d expiry reminder(s)", len(next))
	if total > len(next) {
		head = fmt.Sprintf("Next %d of %d expiry reminders", len(next), total)
	}
	t := appreg.T(bold(head), "\n")
	for _, u := range next {
		t = t.Append("• ", u.Due.In(loc).Format("2006-01-02 15:04"), " · ", bold(u.Secret.Registration),
			fmt.Sprintf(" (%s) service %s · secret expires %s (%d days) · %s\n",
				u.Secret.Tenant, u.Secret.Service, u.Secret.Expires.In(loc).Format("2006-01-02"), daysLeft(u.Secret.Expires, now), u.What))
	}
	return appreg.Message{Text: t}
}

func msgLateCancel(c *appreg.Conversation) appreg.Message {
	return say(appreg.IconWarn, textf("Correction: the cancel came while the registration was being created. %s (application id %s) exists in the tenant and is left in place; a tenant admin can delete it under App registrations if it is not wanted.",
		bold(c.Name), code(c.Progress.AppID)))
}

func msgBrokenButton() appreg.Message {
	return say(textf("That button is broken; run %s.", code("/appreg list")))
}

func orNone(s string) string {
	if s == "" {
		return "(none given)"
	}
	return s
}
