package teams

import (
	"encoding/json"
	"strings"
	"time"
	"unicode"
)

// Activity types.
const (
	TypeMessage            = "message"
	TypeInvoke             = "invoke"
	TypeConversationUpdate = "conversationUpdate"
	TypeInstallationUpdate = "installationUpdate"
	TypeMessageReaction    = "messageReaction"
	TypeTyping             = "typing"
)

const (
	// ChannelIDMSTeams is the channelId of every activity from Teams.
	ChannelIDMSTeams = "msteams"
	// EntityMention is the type of a mention entity.
	EntityMention = "mention"

	conversationThreadParam = ";messageid="
)

// Activity is the subset of the Bot Framework Activity schema that Teams
// sends to /api/messages and that the bot sends to the connector. Fields
// this package does not name are dropped when an Activity is decoded.
type Activity struct {
	Type         string              `json:"type"`
	ID           string              `json:"id,omitempty"`
	Timestamp    time.Time           `json:"timestamp,omitzero"`
	ServiceURL   string              `json:"serviceUrl,omitempty"`
	ChannelID    string              `json:"channelId,omitempty"`
	From         ChannelAccount      `json:"from,omitzero"`
	Recipient    ChannelAccount      `json:"recipient,omitzero"`
	Conversation ConversationAccount `json:"conversation,omitzero"`
	Text         string              `json:"text,omitempty"`
	// TextFormat is "plain", "markdown" or "xml" on outgoing messages.
	TextFormat  string       `json:"textFormat,omitempty"`
	Entities    []Entity     `json:"entities,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
	// Value is the payload of an invoke or of an Action.Submit message.
	Value json.RawMessage `json:"value,omitempty"`
	// Name names an invoke, e.g. "adaptiveCard/action".
	Name         string           `json:"name,omitempty"`
	ReplyToID    string           `json:"replyToId,omitempty"`
	ChannelData  *ChannelData     `json:"channelData,omitempty"`
	MembersAdded []ChannelAccount `json:"membersAdded,omitempty"`
}

// ChannelAccount is a user or bot. In Teams a user's ID is "29:…", a bot's
// "28:{app id}"; AADObjectID is the user's Entra object id.
type ChannelAccount struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	AADObjectID string `json:"aadObjectId,omitempty"`
}

// ConversationAccount identifies a conversation: a 1:1 chat ("a:…"), a
// group chat or a channel ("19:…@thread.tacv2", with ";messageid=…" for a
// thread).
type ConversationAccount struct {
	ID               string `json:"id"`
	ConversationType string `json:"conversationType,omitempty"`
	TenantID         string `json:"tenantId,omitempty"`
	IsGroup          bool   `json:"isGroup,omitempty"`
	Name             string `json:"name,omitempty"`
}

// Entity is an item of an activity's entities. Only mentions are read:
// Type "mention", the account Mentioned and the Text that stands for it
// in the activity's text ("<at>Name</at>").
type Entity struct {
	Type      string          `json:"type"`
	Mentioned *ChannelAccount `json:"mentioned,omitempty"`
	Text      string          `json:"text,omitempty"`
}

// Attachment is a card or file attached to an activity.
type Attachment struct {
	ContentType string          `json:"contentType"`
	Content     json.RawMessage `json:"content,omitempty"`
	ContentURL  string          `json:"contentUrl,omitempty"`
	Name        string          `json:"name,omitempty"`
}

// ChannelData is the Teams-specific part of an activity.
type ChannelData struct {
	Team      *TeamInfo    `json:"team,omitempty"`
	Channel   *ChannelInfo `json:"channel,omitempty"`
	Tenant    *TenantInfo  `json:"tenant,omitempty"`
	EventType string       `json:"eventType,omitempty"`
}

// TeamInfo identifies the team of a channel conversation.
type TeamInfo struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// ChannelInfo identifies a channel of a team.
type ChannelInfo struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// TenantInfo identifies the Microsoft 365 tenant of a conversation.
type TenantInfo struct {
	ID string `json:"id"`
}

// ConversationKind says where an activity happened.
type ConversationKind string

// The kinds of Teams conversation.
const (
	ConversationPersonal  ConversationKind = "personal"  // a 1:1 chat with the bot
	ConversationGroupChat ConversationKind = "groupChat" // a chat of several people
	ConversationChannel   ConversationKind = "channel"   // a channel of a team
)

// Kind returns the kind of the activity's conversation: its
// conversationType when Teams sent a known one; otherwise a channel when
// channelData names one, a group chat when the conversation is a group, and
// a 1:1 chat if not.
func (a *Activity) Kind() ConversationKind {
	switch k := ConversationKind(a.Conversation.ConversationType); k {
	case ConversationPersonal, ConversationGroupChat, ConversationChannel:
		return k
	}
	switch {
	case a.ChannelData != nil && a.ChannelData.Channel != nil && a.ChannelData.Channel.ID != "":
		return ConversationChannel
	case a.Conversation.IsGroup:
		return ConversationGroupChat
	default:
		return ConversationPersonal
	}
}

// TenantID returns the conversation's tenant id, or channelData's when the
// conversation carries none; "" when neither does.
func (a *Activity) TenantID() string {
	if a.Conversation.TenantID != "" {
		return a.Conversation.TenantID
	}
	if a.ChannelData != nil && a.ChannelData.Tenant != nil {
		return a.ChannelData.Tenant.ID
	}
	return ""
}

// Mentions returns the mention entities of the activity that name an
// account, in the order sent.
func (a *Activity) Mentions() []Entity {
	var out []Entity
	for _, e := range a.Entities {
		if e.Type == EntityMention && e.Mentioned != nil && e.Mentioned.ID != "" {
			out = append(out, e)
		}
	}
	return out
}

// TextWithoutMention returns the activity's text without the bot's own
// @mention: the text of every mention entity that names the recipient (the
// bot), and any "<at>{recipient name}</at>" left over (compared without
// regard to case), with the surrounding blanks trimmed. Mentions of other
// accounts stay in the text. In a channel, Teams only delivers messages
// that mention the bot, so this is the command the user typed.
func (a *Activity) TextWithoutMention() string {
	text := a.Text
	if a.Recipient.ID != "" {
		for _, m := range a.Mentions() {
			if m.Mentioned.ID == a.Recipient.ID && m.Text != "" {
				text = strings.ReplaceAll(text, m.Text, "")
			}
		}
	}
	if a.Recipient.Name != "" {
		text = removeFold(text, "<at>"+a.Recipient.Name+"</at>")
	}
	return strings.TrimFunc(text, unicode.IsSpace)
}

// removeFold removes every occurrence of sub in s, compared with simple
// Unicode case folding.
func removeFold(s, sub string) string {
	var b strings.Builder
	for {
		i := indexFold(s, sub)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i+len(sub):]
	}
}

// indexFold is strings.Index with strings.EqualFold; it only matches at
// byte offsets where sub's byte length fits, which holds for the ASCII tags
// and for names whose case variants have the same length.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// ThreadConversationID returns the conversation id that addresses the
// thread under the channel message rootActivityID:
// "{channel conversation id};messageid={rootActivityID}". A thread id
// given as channelConversationID is first cut back to its channel.
func ThreadConversationID(channelConversationID, rootActivityID string) string {
	channel, _ := SplitThread(channelConversationID)
	return channel + conversationThreadParam + rootActivityID
}

// SplitThread splits a channel conversation id into the channel's id and
// the id of the thread's root message; root is "" when conversationID
// names no thread.
func SplitThread(conversationID string) (channel, root string) {
	channel, root, _ = strings.Cut(conversationID, conversationThreadParam)
	return channel, root
}
