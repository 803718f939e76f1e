package wizard

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Everything the wizard says is written here, so that a reader finds the
// conversation's wording, and a translator its texts, in one place.

const usage = "*Usage*\n" +
	"• `/appreg new <tenant> [service]` — onboard a customer tenant: the admin signs in with a device code, then I create the app registration. `<tenant>` is a verified domain (contoso.onmicrosoft.com) or a tenant id.\n" +
	"• `/appreg list [tenant]` — the registrations I know, their services and secret expiry.\n" +
	"• `/appreg secret <registration> <service>` — a new client secret for another service on the same registration.\n" +
	"• `/appreg attach <registration> <service>` — attach a pending invitation to a service.\n" +
	"• `/appreg cleanup <registration>` — remove the permissions that are not required any more.\n" +
	"• `/appreg check <registration>` — compare the tenant with the bot's record: consents, roles, secrets.\n" +
	"• `/appreg role add|remove <registration or user UPN> <role> [reason]` — a directory role change, decided by an approver.\n" +
	"• `/appreg audit [registration]` — the latest requests, decisions and changes.\n" +
	"• `/appreg reminders` — the secret-expiry reminders due next.\n" +
	"• `/appreg cancel` — stop your conversation in this channel.\n" +
	"• `/appreg help` — this text."

func msgHelp(cfg Config) appreg.Message {
	text := "I create and look after the app registrations our platform needs in customers' Microsoft 365 tenants.\n\n" + usage +
		"\n\nRegistration names: 3–15 characters, no dot, no blank, none of `\\ / : * ? \" < > |`, unique per service."
	if cfg.SimulatedTenant {
		text += "\n\n:test_tube: *Simulated tenant*: this bot talks to an in-process stand-in for Entra ID and Graph, not to Microsoft. Not for production."
	}
	return appreg.Message{Text: text}
}

func msgUsageOf(cmd string) appreg.Message {
	return appreg.Message{Text: fmt.Sprintf("I did not understand that `/appreg %s` command.\n\n%s", cmd, usage)}
}

func msgUnknownCommand(cmd string) appreg.Message {
	return appreg.Message{Text: fmt.Sprintf("I don't know the command `%s`.\n\n%s", cmd, usage)}
}

func msgNotOperator() appreg.Message {
	return appreg.Message{Text: "Sorry, you are not one of this bot's operators. Ask the people who run the bot to add you (or your user group) to `BOT_OPERATORS`."}
}

func msgBadTenant(tenant string) appreg.Message {
	return appreg.Message{Text: fmt.Sprintf("`%s` is not a tenant I can sign in to. Give a verified domain such as `contoso.onmicrosoft.com` or a tenant id (a GUID).", tenant)}
}

func msgBadService(service string) appreg.Message {
	return appreg.Message{Text: fmt.Sprintf("`%s` is not a valid service name: use 1–40 letters, digits, dots, dashes or underscores, starting with a letter or digit.", service)}
}

func msgAlreadyRunning(c *appreg.Conversation) appreg.Message {
	return appreg.Message{Text: fmt.Sprintf("You already have an onboarding of *%s* running in this channel (%s). Finish it, or stop it with `/appreg cancel`, before you start another.", c.Tenant, describeState(c.State))}
}

func msgStarting(c *appreg.Conversation) appreg.Message {
	return appreg.Message{Text: fmt.Sprintf("Starting the onboarding of *%s* for service *%s*. I'm opening a thread in this channel; the sign-in code will be shown only to you.", c.Tenant, c.Service)}
}

func msgNothingToCancel() appreg.Message {
	return appreg.Message{Text: "You have no onboarding running in this channel."}
}

func msgNotYours(c *appreg.Conversation) appreg.Message {
	return appreg.Message{Text: fmt.Sprintf("Only <@%s>, who started this onboarding, can do that.", c.Requester.User.ID)}
}

func msgNotNow(c *appreg.Conversation) appreg.Message {
	return appreg.Message{Text: fmt.Sprintf("That button is no longer current: this onboarding is %s. Look at the latest message in its thread.", describeState(c.State))}
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
	return appreg.Button{ActionID: ActionCancel, Label: "Cancel", Value: c.ID, Style: "danger"}
}

// statusMessage is the thread's root message for each state.
func statusMessage(c *appreg.Conversation, loc *time.Location) appreg.Message {
	head := fmt.Sprintf("*%s* · requested by <@%s>", flowTitle(c), c.Requester.User.ID)
	var line string
	var buttons []appreg.Button
	switch c.State {
	case appreg.StateStarted:
		line = ":hourglass_flowing_sand: Asking Entra ID for a sign-in code…"
	case appreg.StateAwaitingSignIn:
		line = fmt.Sprintf(":key: Waiting for the customer admin to sign in, until %s.", clock(c.CodeExpires, loc))
		buttons = []appreg.Button{cancelButton(c)}
	case appreg.StateSignedIn, appreg.StateAwaitingName:
		line = fmt.Sprintf(":white_check_mark: %s signed in to %s. Waiting for the registration name.", c.Identity.Account, c.Identity.TenantName)
		buttons = []appreg.Button{{ActionID: ActionEnterName, Label: "Enter registration name", Value: c.ID, Style: "primary"}, cancelButton(c)}
		if c.Flow != appreg.FlowOnboard {
			line = fmt.Sprintf(":white_check_mark: %s signed in to %s.", c.Identity.Account, c.Identity.TenantName)
			buttons = []appreg.Button{cancelButton(c)}
		}
	case appreg.StateAwaitingApproval:
		line = fmt.Sprintf(":raised_hand: Waiting for an approver. Reason given: %s", orNone(c.Role.Reason))
		buttons = []appreg.Button{
			{ActionID: ActionApprove, Label: "Approve", Value: c.ID, Style: "primary"},
			{ActionID: ActionReject, Label: "Reject", Value: c.ID, Style: "danger"},
		}
		if c.Role.Approver != nil {
			line = fmt.Sprintf(":white_check_mark: Approved by <@%s>; waiting for a Privileged Role Administrator to sign in.", c.Role.Approver.User.ID)
			buttons = nil
		}
	case appreg.StateRejected:
		line = ":x: " + c.Reason
	case appreg.StateAwaitingConfirm:
		line = ":raised_hand: Waiting for <@" + c.Requester.User.ID + "> to confirm (see the thread)."
		buttons = []appreg.Button{cancelButton(c)}
	case appreg.StateCreating:
		line = ":gear: Working…"
		if c.Flow == appreg.FlowOnboard {
			line = fmt.Sprintf(":gear: Creating *%s*…", c.Name)
		}
		if c.Reason != "" {
			line = fmt.Sprintf(":warning: Stopped: %s", c.Reason)
			buttons = []appreg.Button{{ActionID: ActionRetry, Label: "Retry", Value: c.ID, Style: "primary"}, cancelButton(c)}
		}
	case appreg.StateDone:
		line = fmt.Sprintf(":white_check_mark: Done: *%s* (application id `%s`). The report is in the thread.", c.Name, c.Progress.AppID)
		if c.Role != nil {
			line = ":white_check_mark: Done: " + c.Role.Outcome
		}
	case appreg.StateCancelled:
		line = ":no_entry_sign: Cancelled. " + c.Reason
	case appreg.StateFailed:
		line = ":x: Stopped: " + c.Reason
	case appreg.StateExpired:
		line = ":double_vertical_bar: Paused: " + c.Reason
		buttons = []appreg.Button{{ActionID: ActionNewCode, Label: "New sign-in code", Value: c.ID, Style: "primary"}, cancelButton(c)}
	}
	return appreg.Message{Text: head + "\n" + line, Buttons: buttons}
}

func msgDeviceCode(c *appreg.Conversation, code appreg.DeviceCode, loc *time.Location) appreg.Message {
	who := "the customer's admin (Application Administrator or higher)"
	if c.Flow == appreg.FlowRole {
		who = "a Privileged Role Administrator (or Global Administrator) of the customer's tenant"
	}
	return appreg.Message{Text: fmt.Sprintf(
		":key: *Sign-in code for %s* (only you can see this)\n"+
			"Send it directly to %s, and nobody else: whoever enters it signs in to the bot.\n"+
			"1. Open %s\n2. Enter the code `%s`\n3. Sign in with the tenant's admin account and confirm.\n"+
			"The code works until *%s*.",
		c.Tenant, who, code.VerificationURL, code.UserCode, clock(code.ExpiresAt, loc))}
}

func msgExpired(c *appreg.Conversation) appreg.Message {
	return appreg.Message{
		Text:    ":double_vertical_bar: " + c.Reason,
		Buttons: []appreg.Button{{ActionID: ActionNewCode, Label: "New sign-in code", Value: c.ID, Style: "primary"}, cancelButton(c)},
	}
}

func msgSignedIn(id appreg.Identity) appreg.Message {
	return appreg.Message{
		Text: ":white_check_mark: *Connected to the tenant.* Check that this is the right admin and tenant before you go on:",
		Fields: []appreg.Field{
			{Label: "Signed in", Value: fmt.Sprintf("%s (%s)", id.DisplayName, id.Account)},
			{Label: "Tenant", Value: id.TenantName},
			{Label: "Tenant id", Value: id.TenantID},
			{Label: "Default domain", Value: id.DefaultDomain},
		},
	}
}

func msgAskName(c *appreg.Conversation, why string) appreg.Message {
	text := fmt.Sprintf("What should the registration for service *%s* be called? 3–15 characters, no dot, no blank, none of `\\ / : * ? \" < > |`.", c.Service)
	if why != "" {
		text = ":warning: " + why + "\n" + text
	}
	return appreg.Message{Text: text, Buttons: []appreg.Button{
		{ActionID: ActionEnterName, Label: "Enter registration name", Value: c.ID, Style: "primary"}, cancelButton(c),
	}}
}

func msgCancelled(c *appreg.Conversation, by appreg.Caller) appreg.Message {
	text := fmt.Sprintf(":no_entry_sign: Cancelled by <@%s>.", by.User.ID)
	if c.Progress.AppID != "" {
		text += fmt.Sprintf(" The registration *%s* (application id `%s`) was already created in the tenant and is left in place; a tenant admin can delete it under App registrations if it is not wanted.", c.Name, c.Progress.AppID)
	} else {
		text += " Nothing was created in the tenant."
	}
	return appreg.Message{Text: text}
}

func msgStepFailed(c *appreg.Conversation, err error) appreg.Message {
	var done []string
	if c.Progress.AppID != "" {
		done = append(done, fmt.Sprintf("registration `%s` exists", c.Progress.AppID))
	}
	if c.Progress.ServicePrincipal != "" {
		done = append(done, "service principal exists")
	}
	if len(c.Progress.Consented) > 0 {
		done = append(done, "consented: "+strings.Join(c.Progress.Consented, ", "))
	}
	text := ":warning: " + appreg.ErrorMessage(err)
	if len(done) > 0 && c.Flow == appreg.FlowOnboard {
		text += "\nDone so far: " + strings.Join(done, "; ") + ". Retry continues from there."
	}
	m := appreg.Message{Text: text}
	if c.State == appreg.StateCreating {
		m.Buttons = []appreg.Button{{ActionID: ActionRetry, Label: "Retry", Value: c.ID, Style: "primary"}, cancelButton(c)}
	}
	return m
}

func daysLeft(expires, now time.Time) int {
	return int(expires.Sub(now).Hours() / 24)
}

func msgSecret(c *appreg.Conversation, s appreg.Secret, now time.Time) appreg.Message {
	return appreg.Message{Text: fmt.Sprintf(
		":lock: *Client secret for %s, service %s* (only you can see this, and only now: it cannot be shown again)\n"+
			"Application (client) id: `%s`\nTenant id: `%s`\nSecret: `%s`\nExpires %s (in %d days).\n"+
			"Paste it into the service's configuration now; do not post it anywhere else.",
		c.Name, c.Service, c.Progress.AppID, c.Identity.TenantID, s.Text, s.Expires.Format("2006-01-02"), daysLeft(s.Expires, now))}
}

func msgReport(c *appreg.Conversation, cfg Config, grants []appreg.Grant, grantsErr error, now time.Time) appreg.Message {
	p := c.Progress
	var b strings.Builder
	fmt.Fprintf(&b, ":tada: *Registration %s created* in %s.\n", c.Name, c.Identity.TenantName)
	if p.Validated {
		b.WriteString(":white_check_mark: *Authentication validated*: the new secret gets tokens for Microsoft Graph and the Skype and Teams Tenant Admin API.\n")
	} else {
		b.WriteString(":warning: *Authentication not validated*: " + p.ValidationNote + "\n")
	}
	if len(p.Consented) > 0 {
		b.WriteString("*Permissions granted* (admin consent): " + strings.Join(p.Consented, ", ") + "\n")
	}
	if len(p.ConsentPending) > 0 {
		fmt.Fprintf(&b, ":hourglass: *Pending a Privileged Role Administrator*: admin consent for %s. %s is not allowed to grant Microsoft Graph application permissions; a Privileged Role Administrator or Global Administrator of the tenant must grant admin consent under App registrations → %s → API permissions.\n",
			strings.Join(p.ConsentPending, ", "), c.Identity.Account, c.Name)
	}
	if p.LifetimeNote != "" {
		b.WriteString(":information_source: " + p.LifetimeNote + "\n")
	}
	b.WriteString("*Permissions cleanup*: ")
	switch {
	case grantsErr != nil:
		b.WriteString("I could not list the sign-in app's permissions (" + appreg.ErrorMessage(grantsErr) + ").\n")
	case len(grants) == 0:
		b.WriteString("the sign-in app holds no delegated permissions in the tenant; nothing to remove.\n")
	default:
		b.WriteString("the app the admin signed in to holds these delegated permissions, which are not required any more; a tenant admin should remove them all:\n")
		for _, g := range grants {
			fmt.Fprintf(&b, "  • %s: %s\n", g.Resource, strings.Join(g.Scopes, ", "))
		}
	}
	if len(cfg.NeededRoles) > 0 {
		fmt.Fprintf(&b, "*Roles still needed* on the registration's service principal: %s (assigned by a Privileged Role Administrator).\n", strings.Join(cfg.NeededRoles, ", "))
	}
	fmt.Fprintf(&b, "*Expiry reminders* scheduled before %s.\n", p.SecretExpires.Format("2006-01-02"))
	b.WriteString("The secret was sent privately to <@" + c.Requester.User.ID + ">.")
	var buttons []appreg.Button
	if cfg.ApprovalsChannel != "" {
		for _, role := range cfg.NeededRoles {
			buttons = append(buttons, appreg.Button{ActionID: ActionRoleRequest, Label: "Request " + role, Value: c.Identity.TenantID + "/" + p.AppID + "|" + role})
		}
	}
	return appreg.Message{Text: b.String(), Buttons: buttons, Fields: []appreg.Field{
		{Label: "Registration", Value: c.Name},
		{Label: "Application (client) id", Value: p.AppID},
		{Label: "Tenant id", Value: c.Identity.TenantID},
		{Label: "Service", Value: c.Service},
		{Label: "Secret expires", Value: fmt.Sprintf("%s (%d days)", p.SecretExpires.Format("2006-01-02"), daysLeft(p.SecretExpires, now))},
	}}
}

// listPageSize keeps a page of /appreg list within one readable message.
const listPageSize = 15

func msgList(regs []appreg.Registration, tenant string, page int, now time.Time, loc *time.Location) appreg.Message {
	if len(regs) == 0 {
		if tenant != "" {
			return appreg.Message{Text: fmt.Sprintf("I know no registrations in *%s*.", tenant)}
		}
		return appreg.Message{Text: "I know no registrations yet. Start one with `/appreg new <tenant>`."}
	}
	pages := (len(regs) + listPageSize - 1) / listPageSize
	page = min(max(page, 0), pages-1)
	var b strings.Builder
	fmt.Fprintf(&b, "*%d registration(s)*", len(regs))
	if pages > 1 {
		fmt.Fprintf(&b, " · page %d of %d", page+1, pages)
	}
	b.WriteString("\n")
	for _, r := range regs[page*listPageSize : min(len(regs), (page+1)*listPageSize)] {
		fmt.Fprintf(&b, "• *%s* · %s · app `%s`", r.Name, r.Tenant, r.AppID)
		if r.Pending() {
			b.WriteString(" · :hourglass: pending invitation (no service attached)")
		}
		b.WriteString("\n")
		for _, sec := range r.Secrets {
			days := daysLeft(sec.Expires, now)
			mark := ""
			switch {
			case !sec.Expires.After(now):
				mark = " :red_circle: *expired*"
			case days <= 30:
				mark = " :warning: expiring soon"
			}
			fmt.Fprintf(&b, "    ◦ secret %s: expires %s (%d days)%s\n", secretLabel(sec), sec.Expires.In(loc).Format("2006-01-02"), days, mark)
		}
	}
	m := appreg.Message{Text: b.String()}
	if page+1 < pages {
		m.Buttons = []appreg.Button{{ActionID: ActionListPage, Label: "Next page", Value: fmt.Sprintf("%d|%s", page+1, tenant)}}
	}
	return m
}

func msgOfferRotation(r *appreg.Registration, old appreg.SecretRecord, now time.Time) appreg.Message {
	return appreg.Message{
		Text: fmt.Sprintf("Service *%s* already has its own secret on *%s* (expires %s, in %d days); each service gets exactly one. Rotate it instead?",
			old.Service, r.Name, old.Expires.Format("2006-01-02"), daysLeft(old.Expires, now)),
		Buttons: []appreg.Button{{ActionID: ActionRotate, Label: "Rotate secret", Value: RotateRef(r.TenantID, r.AppID, old.KeyID), Style: "primary"}},
	}
}

func flowTitle(c *appreg.Conversation) string {
	switch c.Flow {
	case appreg.FlowSecret:
		return fmt.Sprintf("New secret for %s · service %s", c.Name, c.Service)
	case appreg.FlowRotate:
		return fmt.Sprintf("Secret rotation for %s · service %s", c.Name, c.Service)
	case appreg.FlowCleanup:
		return "Permissions cleanup for " + c.Name
	case appreg.FlowCheck:
		return "Check of " + c.Name
	case appreg.FlowRole:
		return fmt.Sprintf("Role change in %s: %s %s %s %s", c.Tenant, c.Role.Op, c.Role.Role, preposition(c.Role.Op), c.Role.PrincipalLabel)
	}
	return fmt.Sprintf("App registration for %s · service %s", c.Tenant, c.Service)
}

func msgSecretAdded(c *appreg.Conversation, now time.Time) appreg.Message {
	text := fmt.Sprintf(":white_check_mark: *New secret for service %s* on %s: expires %s (%d days); sent privately to <@%s>; expiry reminders scheduled.",
		c.Service, c.Name, c.Progress.SecretExpires.Format("2006-01-02"), daysLeft(c.Progress.SecretExpires, now), c.Requester.User.ID)
	return appreg.Message{Text: text + validationLine(c)}
}

func validationLine(c *appreg.Conversation) string {
	line := ""
	if c.Progress.LifetimeNote != "" {
		line += "\n:information_source: " + c.Progress.LifetimeNote
	}
	if c.Progress.Validated {
		return line + "\n:white_check_mark: Authentication validated."
	}
	return line + "\n:warning: Authentication not validated: " + c.Progress.ValidationNote
}

func msgRotated(c *appreg.Conversation, now time.Time) appreg.Message {
	return appreg.Message{
		Text: fmt.Sprintf(":arrows_counterclockwise: *New secret for service %s* on %s, expires %s (%d days); sent privately to <@%s>.%s\n"+
			"Put it into the provider platform's configuration of service %s, check that the service works, then remove the old secret.",
			c.Service, c.Name, c.Progress.SecretExpires.Format("2006-01-02"), daysLeft(c.Progress.SecretExpires, now), c.Requester.User.ID, validationLine(c), c.Service),
		Buttons: []appreg.Button{
			{ActionID: ActionConfirm, Label: "The platform uses the new secret: remove the old one", Value: c.ID, Style: "danger"},
			{ActionID: ActionKeep, Label: "Keep both for now", Value: c.ID},
		},
	}
}

func msgNothingToClean(r *appreg.Registration) appreg.Message {
	return appreg.Message{Text: fmt.Sprintf(":white_check_mark: Nothing to clean up for *%s*: the sign-in app holds no delegated permissions in the tenant and the registration has no permissions beyond the profile.", r.Name)}
}

func msgCleanupPlan(c *appreg.Conversation, r *appreg.Registration, plan *appreg.CleanupPlan) appreg.Message {
	var b strings.Builder
	fmt.Fprintf(&b, "*Not required once %s exists:*\n", r.Name)
	for _, g := range plan.Grants {
		fmt.Fprintf(&b, "• delegated permissions of the sign-in app on %s: %s\n", g.Resource, strings.Join(g.Scopes, ", "))
	}
	for _, p := range plan.Extra {
		fmt.Fprintf(&b, "• application permission %s on the registration (not in the profile)\n", p.Name)
	}
	if c.Identity != nil {
		fmt.Fprintf(&b, "• the Application Administrator role of the onboarding admin: not removed here; request it with `/appreg role remove <admin's UPN> \"Application Administrator\"` (goes through an approval).\n")
	}
	b.WriteString("Remove the permissions listed?")
	return appreg.Message{Text: b.String(), Buttons: []appreg.Button{
		{ActionID: ActionConfirm, Label: "Remove them", Value: c.ID, Style: "danger"}, cancelButton(c),
	}}
}

func msgCleanupDone(c *appreg.Conversation, r *appreg.Registration) appreg.Message {
	plan := c.Cleanup
	text := fmt.Sprintf(":broom: *Cleanup of %s done*: %d removed", r.Name, len(plan.Done))
	if len(plan.AlreadyGone) > 0 {
		text += fmt.Sprintf(", %d were already gone", len(plan.AlreadyGone))
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
		text += " (" + strings.Join(names, "; ") + ")"
	}
	return appreg.Message{Text: text + ". Running the cleanup again is harmless."}
}

func msgCheckReport(r *appreg.Registration, fs []finding) appreg.Message {
	var b strings.Builder
	drift := 0
	for _, f := range fs {
		if !f.ok {
			drift++
		}
	}
	if drift == 0 {
		fmt.Fprintf(&b, ":white_check_mark: *%s matches the record and the profile.*\n", r.Name)
	} else {
		fmt.Fprintf(&b, ":mag: *%s: %d point(s) of drift.*\n", r.Name, drift)
	}
	for _, f := range fs {
		mark := ":white_check_mark:"
		if !f.ok {
			mark = ":warning:"
		}
		fmt.Fprintf(&b, "%s %s: %s", mark, f.what, f.detail)
		if !f.ok && f.fix != "" {
			b.WriteString(" — fix: " + f.fix)
		}
		b.WriteString("\n")
	}
	return appreg.Message{Text: b.String()}
}

func reasonDeletedInTenant(c *appreg.Conversation) string {
	return fmt.Sprintf("The registration %s (application id %s) no longer exists in the tenant: it was deleted outside the bot. Onboard again with `/appreg new %s`.", c.Name, c.Progress.AppID, c.Tenant)
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
	return fmt.Sprintf("after %d attempts the new secret still gets no token for %s. New credentials can take a few minutes to replicate; check again with `/appreg check` later.",
		attempts, strings.Join(failed, "; "))
}

// Reasons: why a conversation paused, failed or was cancelled.
const (
	reasonEntraUnreachable    = "I could not reach Entra ID to get a sign-in code. Try a new code in a minute."
	reasonCodeNotDelivered    = "I could not show you the sign-in code. Ask for a new one."
	reasonDeclined            = "The customer admin declined the sign-in. Ask for a new code when they are ready."
	reasonCodeExpired         = "The sign-in code expired before the admin signed in."
	reasonSessionLost         = "I need the customer admin to sign in again to go on (the bot restarted, and the admin's session was not kept). Nothing was lost: the creation continues where it stopped."
	reasonSignInInterrupted   = "The bot restarted while waiting for the sign-in, so the code shown earlier no longer works here."
	reasonCannotPost          = "I cannot post in that channel, so I could not open the thread. Invite me with `/invite @appreg-bot` (or use a channel I am in), then run the command again. Nothing was done."
	reasonCannotPostApprovals = "I cannot post in the approvals channel set in `BOT_APPROVALS_CHANNEL`, so the request could not be posted. Ask the people who run the bot to invite me there. Nothing was changed."
)

func reasonConditionalAccess(detail string) string {
	return "The tenant's Conditional Access policy blocked the device-code sign-in" + detailSuffix(detail) +
		". Nothing was created. The customer admin can exclude their account from the policy that blocks the device code flow for the time of the onboarding (Entra admin center → Protection → Conditional Access), or ask their Conditional Access administrator to; then start again with `/appreg new`."
}

func reasonRefused(detail string) string {
	return "Entra ID refused the sign-in" + detailSuffix(detail) + ". Ask for a new code and try again; if it happens again, the admin should check the account's sign-in logs."
}

func detailSuffix(detail string) string {
	if detail == "" {
		return ""
	}
	return " (" + detail + ")"
}

func reasonWrongTenant(id appreg.Identity, wanted string) string {
	return fmt.Sprintf("%s signed in to %s (tenant id %s, %s), not to %s as requested. Nothing was created. Start again with `/appreg new` and make sure the admin signs in with an account of the right tenant.",
		id.Account, id.TenantName, id.TenantID, id.DefaultDomain, wanted)
}

func reasonMissingRole(id appreg.Identity) string {
	return fmt.Sprintf("%s does not hold the Application Administrator role (nor Cloud Application Administrator or Global Administrator), which the onboarding requires beforehand. Nothing was created. A Global Administrator or Privileged Role Administrator can assign the role in Microsoft Entra roles and administrators; then start again with `/appreg new`.", id.Account)
}

func reasonNameTakenInTenant(name string, id *appreg.Identity) string {
	tenant := "the tenant"
	if id != nil {
		tenant = id.TenantName
	}
	return fmt.Sprintf("An app registration named %q already exists in %s. Choose another name.", name, tenant)
}

func reasonIdle(d time.Duration) string {
	return fmt.Sprintf("Nobody continued this onboarding for %s. Start again with `/appreg new`.", d.Round(time.Minute))
}

func msgAlreadyDecided(c *appreg.Conversation) appreg.Message {
	if c.Role != nil && c.Role.Approver != nil {
		return appreg.Message{Text: fmt.Sprintf("This request was already decided by <@%s> (%s).", c.Role.Approver.User.ID, c.Role.Decision)}
	}
	return appreg.Message{Text: "This request is no longer waiting for a decision (" + describeState(c.State) + ")."}
}

func reasonNotPrivileged(id appreg.Identity) string {
	return fmt.Sprintf("%s is not a Privileged Role Administrator (nor a Global Administrator) of %s, and only they can give or take directory roles. Ask for a new code and have one of them sign in.", id.Account, id.TenantName)
}

func msgAudit(recs []appreg.AuditRecord, filter string, loc *time.Location) appreg.Message {
	if len(recs) == 0 {
		if filter != "" {
			return appreg.Message{Text: fmt.Sprintf("No audit records about %q.", filter)}
		}
		return appreg.Message{Text: "No audit records yet."}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*Latest %d audit record(s)*", len(recs))
	if filter != "" {
		fmt.Fprintf(&b, " about %s", filter)
	}
	b.WriteString("\n")
	for _, r := range recs {
		fmt.Fprintf(&b, "• %s <@%s> %s", r.At.In(loc).Format("2006-01-02 15:04"), r.Actor, r.Action)
		if r.Target != "" {
			fmt.Fprintf(&b, " · %s", r.Target)
		}
		if r.Detail != "" {
			fmt.Fprintf(&b, " · %s", r.Detail)
		}
		fmt.Fprintf(&b, " → %s\n", r.Outcome)
	}
	return appreg.Message{Text: b.String()}
}

func msgUpcoming(next []Upcoming, now time.Time, loc *time.Location) appreg.Message {
	if len(next) == 0 {
		return appreg.Message{Text: "No expiry reminders are scheduled."}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*Next %d expiry reminder(s)*\n", len(next))
	for _, u := range next {
		fmt.Fprintf(&b, "• %s · *%s* (%s) service %s · secret expires %s (%d days) · %s\n",
			u.Due.In(loc).Format("2006-01-02 15:04"), u.Secret.Registration, u.Secret.Tenant, u.Secret.Service,
			u.Secret.Expires.In(loc).Format("2006-01-02"), daysLeft(u.Secret.Expires, now), u.What)
	}
	return appreg.Message{Text: b.String()}
}

func msgLateCancel(c *appreg.Conversation) appreg.Message {
	return appreg.Message{Text: fmt.Sprintf(":warning: Correction: the cancel came while the registration was being created. *%s* (application id `%s`) exists in the tenant and is left in place; a tenant admin can delete it under App registrations if it is not wanted.", c.Name, c.Progress.AppID)}
}
