package reminders

import (
	"fmt"
	"strconv"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// reminderMessage is the text, fields and buttons of a reminder delivered at
// now: tenant, registration, service, expiry date, days left, and the
// Rotate and Snooze buttons. A reminder on or after the expiry date, and
// the 0-day reminder, is the final alert.
func reminderMessage(s appreg.SecretRef, slot Slot, now time.Time, loc *time.Location) appreg.Message {
	tenant := s.Tenant
	if tenant == "" {
		tenant = s.TenantID
	}
	service := s.Service
	if service == "" {
		service = "(no service)"
	}
	expires := s.Expires.In(loc)
	left := daysLeft(now, s.Expires, loc)
	expired := !now.Before(s.Expires)
	th, isThreshold := slot.Threshold()

	var text appreg.Text
	var leftText string
	noun := s.Kind.Noun()
	what := appreg.Textf("the %s of %s for service %s in %s", credentialName(s.Kind), appreg.Bold(s.Registration), appreg.Bold(service), appreg.Bold(tenant))
	switch {
	case expired:
		leftText = "expired"
		text = appreg.T(appreg.IconAlert, appreg.Bold("Final alert:"), " ", what,
			fmt.Sprintf(" expired on %s. Calls through this registration may already be failing. Rotate the %s now.", expires.Format("Mon 2 Jan 2006 15:04 MST"), noun))
	case left <= 0 || (isThreshold && th == 0):
		leftText = "0 (expires today)"
		text = appreg.T(appreg.IconAlert, appreg.Bold("Final alert:"), " ", what,
			fmt.Sprintf(" expires today at %s. Calls through this registration may already be failing where it is in use. Rotate the %s now.", expires.Format("15:04 MST"), noun))
	default:
		leftText = strconv.Itoa(left)
		when := appreg.Bold(fmt.Sprintf("in %d days", left))
		if left == 1 {
			when = appreg.Bold("tomorrow")
		}
		text = appreg.T(appreg.IconWait, "Reminder: ", what, " expires ", when, fmt.Sprintf(", on %s. Rotate it before then.", expires.Format("Mon 2 Jan 2006")))
	}
	if slot.Snooze() {
		text = text.Append(" ", appreg.Italic("(snoozed reminder)"))
	}
	ref := Ref(s)
	return appreg.Message{
		Text: text,
		Fields: []appreg.Field{
			{Label: "Tenant", Value: tenant},
			{Label: "Registration", Value: s.Registration},
			{Label: "Service", Value: service},
			{Label: "Expires", Value: expires.Format("Mon 2 Jan 2006 15:04 MST")},
			{Label: "Days left", Value: leftText},
		},
		Buttons: []appreg.Button{
			{ActionID: appreg.ActionRotate, Label: "Rotate " + noun, Value: ref, Style: appreg.ButtonPrimary},
			{ActionID: appreg.ActionSnooze, Label: "Snooze 1 day", Value: ref},
		},
	}
}

// credentialName names a kind of credential in a sentence.
func credentialName(k appreg.CredentialKind) string {
	if k == appreg.KindCertificate {
		return "certificate"
	}
	return "client secret"
}

// snoozedMessage confirms a snooze to the person who clicked.
func snoozedMessage(s appreg.SecretRef, next time.Time, already bool, loc *time.Location) appreg.Message {
	verb := "Snoozed"
	if already {
		verb = "Already snoozed"
	}
	return appreg.Message{Text: appreg.T(appreg.IconSnooze, appreg.Textf("%s: the next reminder for the %s of %s (service %s) is due %s.",
		verb, s.Kind.Noun(), appreg.Bold(s.Registration), appreg.Bold(s.Service), next.In(loc).Format("Mon 2 Jan 2006 15:04 MST")))}
}
