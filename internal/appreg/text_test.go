package appreg

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestTextf(t *testing.T) {
	tests := []struct {
		name string
		got  Text
		want Text
	}{
		{"plain", Textf("a %s b %d%%", "x", 3), Text{Plain("a x b 3%")}},
		{"span kept", Textf("Start %s for %s.", Bold("contoso"), Code("sbc1")),
			Text{Plain("Start "), Bold("contoso"), Plain(" for "), Code("sbc1"), Plain(".")}},
		{"text and icon", Textf("%s %s!", T(IconOK, "done"), IconWarn),
			Text{IconOK.Span(), Plain("done "), IconWarn.Span(), Plain("!")}},
		{"verbs with flags", Textf("%q %5.1f %-3s|", "a<b", 2.25, "x"), Text{Plain(`"a<b"   2.2 x  |`)}},
		{"missing argument", Textf("%s and %s", "a"), Text{Plain("a and %!s(MISSING)")}},
		{"trailing percent", Textf("100%"), Text{Plain("100%")}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestTMergesPlainAndFormatsOthers(t *testing.T) {
	got := T("a", "b", Plain("c"), 7, nil, Bold(""), Text{Plain("d")})
	want := Text{Plain("abc7"), Bold(""), Plain("d")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v", got)
	}
	base := T("x")
	_ = base.Append("y")
	if base.String() != "x" {
		t.Errorf("Append changed its receiver: %q", base.String())
	}
}

func TestTextString(t *testing.T) {
	tx := T(IconOK, "Hi ", Mention(User{ID: "U1", Name: "Ann"}), " and ", MentionID("U2"), " in ", Channel("C1"),
		": ", Link("https://x.example", "here"), " ", Link("https://y.example", ""), " ", Code("<!channel>"))
	if got, want := tx.String(), "Hi @Ann and @U2 in #C1: here (https://x.example) https://y.example <!channel>"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if !T().IsEmpty() || !T("").IsEmpty() || T(IconOK).IsEmpty() {
		t.Error("IsEmpty")
	}
}

func TestTextJSON(t *testing.T) {
	in := T(IconWarn, "Rejected by ", Mention(User{ID: "U1", Name: "Ann"}), ": <!channel> & ", Bold("x"))
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Text
	if err := json.Unmarshal(b, &out); err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %s → %#v, %v", b, out, err)
	}
	// A reason stored as a plain string before Text existed.
	var c Conversation
	if err := json.Unmarshal([]byte(`{"reason":"Cancelled by someone.","status":{"channel":"C1","ts":"1.2"}}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.Reason.String() != "Cancelled by someone." || c.Thread() != (Place{Channel: "C1", Thread: "1.2"}) {
		t.Errorf("legacy conversation: reason %q, thread %+v", c.Reason.String(), c.Thread())
	}
}

func TestSecretKey(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{{"t/a/k", true}, {"t/a", false}, {"t/a/k/x", false}, {"/a/k", false}, {"t/a#b/k", false}, {"t/a|b/k", false}, {"t/a b/k", false}, {"", false}} {
		k, err := ParseSecretKey(tc.in)
		if (err == nil) != tc.ok || (tc.ok && k.String() != tc.in) {
			t.Errorf("ParseSecretKey(%q) = %+v, %v", tc.in, k, err)
		}
		if err != nil && ErrorKind(err) != KindInvalid {
			t.Errorf("ParseSecretKey(%q): kind %s", tc.in, ErrorKind(err))
		}
	}
}
