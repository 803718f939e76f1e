package teams_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/handlers/teams"
)

// channelMessage is a message as Teams POSTs it when someone @mentions the
// bot in a channel thread (ids shortened).
const channelMessage = `{
  "text": "<at>appreg</at> new contoso.onmicrosoft.com\n",
  "textFormat": "plain",
  "type": "message",
  "timestamp": "2026-03-02T09:15:01.2345678Z",
  "localTimestamp": "2026-03-02T10:15:01.2345678+01:00",
  "id": "1772442901234",
  "channelId": "msteams",
  "serviceUrl": "https://smba.trafficmanager.net/emea/",
  "from": {"id": "29:1AbC", "name": "Ada Support", "aadObjectId": "0b7e4f52-8c1d-4a5e-9f3b-6d2c1a0e9b87"},
  "conversation": {"isGroup": true, "conversationType": "channel", "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "id": "19:abc123@thread.tacv2;messageid=1772442800000"},
  "recipient": {"id": "28:5f0c9a1e-4b8d-4c3e-9a7f-2d6b1e8c0a11", "name": "appreg"},
  "entities": [
    {"mentioned": {"id": "28:5f0c9a1e-4b8d-4c3e-9a7f-2d6b1e8c0a11", "name": "appreg"}, "text": "<at>appreg</at>", "type": "mention"},
    {"locale": "en-GB", "country": "GB", "platform": "Web", "timezone": "Europe/London", "type": "clientInfo"}
  ],
  "channelData": {
    "teamsChannelId": "19:abc123@thread.tacv2",
    "teamsTeamId": "19:team@thread.tacv2",
    "channel": {"id": "19:abc123@thread.tacv2"},
    "team": {"id": "19:team@thread.tacv2"},
    "tenant": {"id": "72f988bf-86f1-41af-91ab-2d7cd011db47"}
  },
  "locale": "en-GB"
}`

func TestActivityDecode(t *testing.T) {
	var a teams.Activity
	if err := json.Unmarshal([]byte(channelMessage), &a); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"type", a.Type, teams.TypeMessage},
		{"serviceUrl", a.ServiceURL, "https://smba.trafficmanager.net/emea/"},
		{"channelId", a.ChannelID, "msteams"},
		{"from.aadObjectId", a.From.AADObjectID, "0b7e4f52-8c1d-4a5e-9f3b-6d2c1a0e9b87"},
		{"kind", string(a.Kind()), string(teams.ConversationChannel)},
		{"tenant", a.TenantID(), "72f988bf-86f1-41af-91ab-2d7cd011db47"},
		{"team", a.ChannelData.Team.ID, "19:team@thread.tacv2"},
		{"channel", a.ChannelData.Channel.ID, "19:abc123@thread.tacv2"},
		{"text without mention", a.TextWithoutMention(), "new contoso.onmicrosoft.com"},
		{"timestamp", a.Timestamp.Format(time.RFC3339Nano), "2026-03-02T09:15:01.2345678Z"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q; want %q", c.name, c.got, c.want)
		}
	}
	if m := a.Mentions(); len(m) != 1 || m[0].Mentioned.Name != "appreg" {
		t.Errorf("mentions = %+v", m)
	}
	channel, root := teams.SplitThread(a.Conversation.ID)
	if channel != "19:abc123@thread.tacv2" || root != "1772442800000" {
		t.Errorf("SplitThread = %q, %q", channel, root)
	}
}

// An outgoing activity carries only what is set.
func TestActivityEncodeOmitsEmpty(t *testing.T) {
	b, err := json.Marshal(teams.Activity{Type: teams.TypeMessage, Text: "Done.", TextFormat: "markdown"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"message","text":"Done.","textFormat":"markdown"}`; string(b) != want {
		t.Errorf("got %s; want %s", b, want)
	}
}

func TestTextWithoutMention(t *testing.T) {
	bot := teams.ChannelAccount{ID: "28:bot", Name: "appreg"}
	mention := func(id, name string) teams.Entity {
		return teams.Entity{Type: teams.EntityMention, Mentioned: &teams.ChannelAccount{ID: id, Name: name}, Text: "<at>" + name + "</at>"}
	}
	cases := []struct {
		name     string
		text     string
		entities []teams.Entity
		want     string
	}{
		{"personal chat, no mention", "list contoso", nil, "list contoso"},
		{"leading mention", "<at>appreg</at> list", []teams.Entity{mention("28:bot", "appreg")}, "list"},
		{"mention under another display name", "<at>AppReg Bot (prod)</at>  help\n", []teams.Entity{mention("28:bot", "AppReg Bot (prod)")}, "help"},
		{"no entity: the tag with the bot's name, any case", "<AT>AppReg</AT> help", nil, "help"},
		{"trailing mention", "cancel <at>appreg</at>", []teams.Entity{mention("28:bot", "appreg")}, "cancel"},
		{"another user's mention stays", "<at>appreg</at> role add <at>Grace</at> Teams Administrator",
			[]teams.Entity{mention("28:bot", "appreg"), mention("29:grace", "Grace")}, "role add <at>Grace</at> Teams Administrator"},
		{"a mention entity of someone else named like the tag is not removed by id", "<at>Grace</at> hi", []teams.Entity{mention("29:grace", "Grace")}, "<at>Grace</at> hi"},
		{"non-breaking space after the mention", "<at>appreg</at>\u00a0help", []teams.Entity{mention("28:bot", "appreg")}, "help"},
		{"only the mention", "<at>appreg</at>", []teams.Entity{mention("28:bot", "appreg")}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := teams.Activity{Text: c.text, Entities: c.entities, Recipient: bot}
			if got := a.TextWithoutMention(); got != c.want {
				t.Errorf("got %q; want %q", got, c.want)
			}
		})
	}
}

func TestKind(t *testing.T) {
	cases := []struct {
		name string
		a    teams.Activity
		want teams.ConversationKind
	}{
		{"personal", teams.Activity{Conversation: teams.ConversationAccount{ConversationType: "personal"}}, teams.ConversationPersonal},
		{"group chat", teams.Activity{Conversation: teams.ConversationAccount{ConversationType: "groupChat", IsGroup: true}}, teams.ConversationGroupChat},
		{"channel", teams.Activity{Conversation: teams.ConversationAccount{ConversationType: "channel", IsGroup: true}}, teams.ConversationChannel},
		{"no type, channel data names a channel", teams.Activity{ChannelData: &teams.ChannelData{Channel: &teams.ChannelInfo{ID: "19:x@thread.tacv2"}}}, teams.ConversationChannel},
		{"no type, a group", teams.Activity{Conversation: teams.ConversationAccount{IsGroup: true}}, teams.ConversationGroupChat},
		{"unknown type, nothing else", teams.Activity{Conversation: teams.ConversationAccount{ConversationType: "meeting"}}, teams.ConversationPersonal},
	}
	for _, c := range cases {
		if got := c.a.Kind(); got != c.want {
			t.Errorf("%s: Kind = %q; want %q", c.name, got, c.want)
		}
	}
}

func TestTenantID(t *testing.T) {
	a := teams.Activity{ChannelData: &teams.ChannelData{Tenant: &teams.TenantInfo{ID: "from-channel-data"}}}
	if got := a.TenantID(); got != "from-channel-data" {
		t.Errorf("TenantID = %q", got)
	}
	a.Conversation.TenantID = "from-conversation"
	if got := a.TenantID(); got != "from-conversation" {
		t.Errorf("TenantID = %q", got)
	}
	if got := (&teams.Activity{}).TenantID(); got != "" {
		t.Errorf("TenantID of nothing = %q", got)
	}
}

func TestThreadConversationID(t *testing.T) {
	cases := []struct{ conv, root, want string }{
		{"19:abc@thread.tacv2", "1772442800000", "19:abc@thread.tacv2;messageid=1772442800000"},
		{"19:abc@thread.tacv2;messageid=111", "222", "19:abc@thread.tacv2;messageid=222"},
	}
	for _, c := range cases {
		if got := teams.ThreadConversationID(c.conv, c.root); got != c.want {
			t.Errorf("ThreadConversationID(%q, %q) = %q; want %q", c.conv, c.root, got, c.want)
		}
	}
	if ch, root := teams.SplitThread("a:1personal"); ch != "a:1personal" || root != "" {
		t.Errorf("SplitThread of a 1:1 chat = %q, %q", ch, root)
	}
}
