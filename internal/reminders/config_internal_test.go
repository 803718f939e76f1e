package reminders

import (
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

func TestDueTimes(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	for _, tc := range []struct {
		name       string
		expires    time.Time
		thresholds []int
		tod        time.Duration
		loc        *time.Location
		want       []string // RFC 3339 in loc, least urgent first
	}{
		{"defaults in UTC", time.Date(2030, 3, 31, 15, 0, 0, 0, time.UTC), []int{30, 14, 7, 3, 1, 0}, 9 * time.Hour, time.UTC,
			[]string{"2030-03-01T09:00:00Z", "2030-03-17T09:00:00Z", "2030-03-24T09:00:00Z", "2030-03-28T09:00:00Z", "2030-03-30T09:00:00Z", "2030-03-31T09:00:00Z"}},
		// Daylight saving starts on 31 March 2030 in Berlin: 09:00 stays
		// 09:00 on the wall clock on both sides.
		{"across daylight saving", time.Date(2030, 4, 2, 6, 0, 0, 0, time.UTC), []int{3, 1}, 9 * time.Hour, berlin,
			[]string{"2030-03-30T09:00:00+01:00", "2030-04-01T09:00:00+02:00"}},
		// The expiry date is the date in the configured zone: 23:30 UTC on
		// 9 April is already 10 April in Berlin.
		{"expiry date in the location", time.Date(2030, 4, 9, 23, 30, 0, 0, time.UTC), []int{0}, 8*time.Hour + 30*time.Minute, berlin,
			[]string{"2030-04-10T08:30:00+02:00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dueTimes(tc.expires, tc.thresholds, tc.tod, tc.loc)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d reminders, want %d", len(got), len(tc.want))
			}
			for i, d := range got {
				if s := d.At.In(tc.loc).Format(time.RFC3339); s != tc.want[i] {
					t.Errorf("reminder %d (%s) at %s, want %s", i, d.Slot, s, tc.want[i])
				}
			}
		})
	}
}

func TestDaysLeft(t *testing.T) {
	exp := time.Date(2030, 3, 31, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		now  time.Time
		want int
	}{
		{time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC), 30},
		{time.Date(2030, 3, 30, 23, 59, 0, 0, time.UTC), 1},
		{time.Date(2030, 3, 31, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(2030, 4, 2, 0, 0, 0, 0, time.UTC), -2},
	} {
		if got := daysLeft(tc.now, exp, time.UTC); got != tc.want {
			t.Errorf("daysLeft(%s) = %d, want %d", tc.now, got, tc.want)
		}
	}
}

func TestSlots(t *testing.T) {
	if d, ok := ThresholdSlot(14).Threshold(); !ok || d != 14 {
		t.Errorf("ThresholdSlot(14).Threshold() = %d, %v", d, ok)
	}
	if _, ok := Slot("s2").Threshold(); ok || !Slot("s2").Snooze() {
		t.Error("s2 is a snooze")
	}
}

// TestReminderNamesTheCredential: a certificate's reminder says
// certificate, in the text and on the button; a secret's says client
// secret.
func TestReminderNamesTheCredential(t *testing.T) {
	now := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		kind         appreg.CredentialKind
		what, button string
	}{
		{"", "the client secret of", "Rotate secret"},
		{appreg.KindSecret, "the client secret of", "Rotate secret"},
		{appreg.KindCertificate, "the certificate of", "Rotate certificate"},
	} {
		ref := appreg.SecretRef{Tenant: "contoso.com", TenantID: "t", Registration: "Voice1", AppID: "a", Service: "sbc1", Kind: tc.kind, KeyID: "k",
			Expires: now.Add(14 * 24 * time.Hour)}
		m := reminderMessage(ref, Slot("t14"), now, time.UTC)
		if text := m.Text.String(); !strings.Contains(text, tc.what) {
			t.Errorf("%q: text %q lacks %q", tc.kind, text, tc.what)
		}
		if m.Buttons[0].Label != tc.button {
			t.Errorf("%q: button %q, want %q", tc.kind, m.Buttons[0].Label, tc.button)
		}
		final := reminderMessage(ref, Slot("t0"), ref.Expires.Add(time.Hour), time.UTC)
		if text := final.Text.String(); !strings.Contains(text, "Rotate the "+tc.kind.Noun()+" now") {
			t.Errorf("%q: final alert %q", tc.kind, text)
		}
	}
}
