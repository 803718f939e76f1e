package teams

import (
	"cmp"
	"context"
	"log/slog"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Platform is the name of Teams in appreg.Caller, Place and MessageRef.
const Platform = "teams"

// Chat implements appreg.Chat with the Bot Connector. It is safe for
// concurrent use.
//
// Places and references use Teams' own ids: a Place's Channel is a
// conversation id (a channel "19:…@thread.tacv2", a group chat, or a 1:1
// chat "a:…"), its Thread the id of a channel message that roots a reply
// chain; users are named by their Entra object id (aadObjectId).
//
// Chat sends only to the service URL recorded for a conversation or user
// from an authenticated activity: a conversation or user the bot has never
// heard from is KindNotFound with a message saying to install the app there
// (or mention the bot there once). Other errors are the Connector's: a 1:1
// chat that cannot be opened because the app is not installed for the user
// is KindForbidden with ErrAppNotInstalled in its chain and a message
// saying what to do; throttling that outlasts the retries is
// KindUnavailable with a Retry-After in its chain.
type Chat struct {
	conn *Connector
	refs refStore
	log  *slog.Logger
}

var _ appreg.Chat = (*Chat)(nil)

// NewChat returns a Chat that sends through conn to the conversations and
// users recorded in refs. A nil log discards.
func NewChat(conn *Connector, refs References, log *slog.Logger) *Chat {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Chat{conn: conn, refs: refStore{refs}, log: log}
}

// Post sends msg to a conversation. In a channel with a thread (to.Thread,
// or a Channel of the form "{channel};messageid={root}") it goes into that
// reply chain; otherwise to the conversation itself (personal and group
// chats have no threads, so a thread there is ignored). The reference's
// Channel is the conversation id sent to, and its Thread the root of the
// reply chain the message is in or starts (a root post in a channel starts
// one); in a chat Thread is empty.
func (c *Chat) Post(ctx context.Context, to appreg.Place, msg appreg.Message) (appreg.MessageRef, error) {
	return c.send(ctx, to, func() *Activity { return c.activity(ctx, msg) })
}

// postCard posts a card as Post posts a message.
func (c *Chat) postCard(ctx context.Context, to appreg.Place, cd card) error {
	_, err := c.send(ctx, to, func() *Activity {
		return &Activity{Type: TypeMessage, Attachments: []Attachment{cardAttachment(cd)}}
	})
	return err
}

func (c *Chat) send(ctx context.Context, to appreg.Place, activity func() *Activity) (appreg.MessageRef, error) {
	channel, root := SplitThread(to.Channel)
	thread := cmp.Or(to.Thread, root)
	conv, err := c.refs.conversation(ctx, channel)
	if err != nil {
		return appreg.MessageRef{}, err
	}
	target := channel
	switch {
	case conv.Kind != ConversationChannel:
		thread = ""
	case thread != "":
		target = ThreadConversationID(channel, thread)
	}
	id, err := c.conn.Send(ctx, conv.ServiceURL, target, activity())
	if err != nil {
		return appreg.MessageRef{}, err
	}
	if conv.Kind == ConversationChannel && thread == "" {
		thread = id
	}
	return appreg.MessageRef{Platform: Platform, Channel: target, ID: id, Thread: thread}, nil
}

// Update replaces a message the bot sent (a reference Post returned).
func (c *Chat) Update(ctx context.Context, ref appreg.MessageRef, msg appreg.Message) error {
	channel, _ := SplitThread(ref.Channel)
	conv, err := c.refs.conversation(ctx, channel)
	if err != nil {
		return err
	}
	return c.conn.Update(ctx, conv.ServiceURL, ref.Channel, ref.ID, c.activity(ctx, msg))
}

// Private sends msg to the user's personal chat with the bot: in Teams
// nothing in a channel or group chat is seen by one person only. near is
// not used.
func (c *Chat) Private(ctx context.Context, _ appreg.Place, user string, msg appreg.Message) error {
	return c.direct(ctx, user, msg)
}

// Direct sends msg to the user's personal chat with the bot, opening it
// when the bot has none with them yet.
func (c *Chat) Direct(ctx context.Context, _ string, user string, msg appreg.Message) error {
	return c.direct(ctx, user, msg)
}

func (c *Chat) direct(ctx context.Context, user string, msg appreg.Message) error {
	u, err := c.refs.user(ctx, user)
	if err != nil {
		return err
	}
	act := c.activity(ctx, msg)
	if u.Personal != "" {
		_, err := c.conn.Send(ctx, u.ServiceURL, u.Personal, act)
		if k := appreg.ErrorKind(err); err == nil || (k != appreg.KindForbidden && k != appreg.KindNotFound) {
			return err
		}
		// The chat is gone (the app was removed for the user): open it
		// again, which says what to do when that is not possible.
		c.log.InfoContext(ctx, "teams: personal chat refused; opening it again", "user", user, "err", err)
		if err := c.refs.forgetPersonal(ctx, user); err != nil {
			return err
		}
	}
	conv, err := c.conn.CreateConversation(ctx, u.ServiceURL, u.TenantID, u.TeamsID)
	if err != nil {
		return err
	}
	if err := c.refs.saveConversation(ctx, conversationRef{ID: conv, ServiceURL: u.ServiceURL, TenantID: u.TenantID, Kind: ConversationPersonal}); err != nil {
		return err
	}
	u.Personal = conv
	if err := c.refs.saveUser(ctx, u); err != nil {
		return err
	}
	_, err = c.conn.Send(ctx, u.ServiceURL, conv, act)
	return err
}

// IsOneOf reports whether user (an Entra object id) is one of entries,
// compared without regard to case. Entries that are not Entra object ids
// (another platform's) are ignored; there are no groups.
func (c *Chat) IsOneOf(_ context.Context, _ string, user string, entries []string) (bool, error) {
	for _, e := range entries {
		if objectID.MatchString(e) && strings.EqualFold(e, user) {
			return true, nil
		}
	}
	return false, nil
}

var objectID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// activity is msg as a message activity carrying one card.
func (c *Chat) activity(ctx context.Context, msg appreg.Message) *Activity {
	return &Activity{Type: TypeMessage, Attachments: []Attachment{cardAttachment(messageCard(msg, c.names(ctx, msg.Text)))}}
}

// names looks up the names of the users and channels t names by id only.
// A name that cannot be found is left out: the id is shown.
func (c *Chat) names(ctx context.Context, t appreg.Text) names {
	var nm names
	for _, sp := range t {
		if sp.Text != "" || sp.ID == "" || (sp.Kind != appreg.SpanUser && sp.Kind != appreg.SpanChannel) {
			continue
		}
		kind, id := refUser, userKey(sp.ID)
		if sp.Kind == appreg.SpanChannel {
			kind, id = refConversation, sp.ID
		}
		if f, err := c.refs.r.Reference(ctx, kind, id); err == nil && f[fieldName] != "" {
			if nm == nil {
				nm = names{}
			}
			nm[sp.ID] = f[fieldName]
		}
	}
	return nm
}

// UnauthenticatedCredential is the credential of development mode: a
// fixed, meaningless bearer token for a local emulator (Microsoft 365
// Agents Playground) that checks none. Never use it with Teams.
func UnauthenticatedCredential() azcore.TokenCredential { return devCredential{} }

type devCredential struct{}

func (devCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "development-mode-no-token"}, nil
}
