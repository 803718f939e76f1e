package teams

import (
	"context"
	"strings"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// References is where the adapter keeps what it learns from authenticated
// activities so that it can write later: per conversation and per user, a
// few named fields. internal/redisstore.TeamsRefs implements it on Redis.
type References interface {
	// SaveReference sets the non-empty fields of the reference kind/id;
	// empty values keep what is stored.
	SaveReference(ctx context.Context, kind, id string, fields map[string]string) error
	// Reference returns the fields of kind/id; an empty map when unknown.
	Reference(ctx context.Context, kind, id string) (map[string]string, error)
	// ForgetField removes one field of a reference.
	ForgetField(ctx context.Context, kind, id, field string) error
}

// Reference kinds and fields.
const (
	refConversation = "conv"
	refUser         = "user"

	fieldServiceURL = "serviceUrl"
	fieldTenant     = "tenant"
	fieldKind       = "kind"
	fieldName       = "name"
	fieldTeamsID    = "id"       // a user's 29: id
	fieldPersonal   = "personal" // a user's 1:1 conversation with the bot
)

// conversationRef is a conversation the bot has heard from: where to send
// (the service URL of its latest authenticated activity), its tenant and
// its kind.
type conversationRef struct {
	ID         string // the conversation id, without ";messageid=…"
	ServiceURL string
	TenantID   string
	Kind       ConversationKind
	Name       string // a channel's name, when Teams gave it
}

// userRef is a user the bot has heard from, by Entra object id.
type userRef struct {
	AADObjectID string
	TeamsID     string // 29:…
	Name        string
	TenantID    string
	ServiceURL  string
	Personal    string // the 1:1 conversation's id, once known
}

// refStore reads and writes references through a References.
type refStore struct{ r References }

func userKey(aadObjectID string) string { return strings.ToLower(aadObjectID) }

func (s refStore) saveConversation(ctx context.Context, c conversationRef) error {
	return s.r.SaveReference(ctx, refConversation, c.ID, map[string]string{
		fieldServiceURL: c.ServiceURL, fieldTenant: c.TenantID, fieldKind: string(c.Kind), fieldName: c.Name,
	})
}

// conversation returns the reference of a conversation; KindNotFound when
// the bot has never heard from it.
func (s refStore) conversation(ctx context.Context, id string) (conversationRef, error) {
	f, err := s.r.Reference(ctx, refConversation, id)
	if err != nil {
		return conversationRef{}, err
	}
	if f[fieldServiceURL] == "" {
		return conversationRef{}, appreg.Errorf(appreg.KindNotFound,
			"The bot has not heard from that Teams conversation yet: add the bot's app to that team or chat (or, in a channel, mention the bot there once), then try again.")
	}
	return conversationRef{ID: id, ServiceURL: f[fieldServiceURL], TenantID: f[fieldTenant], Kind: ConversationKind(f[fieldKind]), Name: f[fieldName]}, nil
}

func (s refStore) saveUser(ctx context.Context, u userRef) error {
	return s.r.SaveReference(ctx, refUser, userKey(u.AADObjectID), map[string]string{
		fieldTeamsID: u.TeamsID, fieldName: u.Name, fieldTenant: u.TenantID, fieldServiceURL: u.ServiceURL, fieldPersonal: u.Personal,
	})
}

// user returns the reference of a user by Entra object id; KindNotFound
// when the bot has never heard from them.
func (s refStore) user(ctx context.Context, aadObjectID string) (userRef, error) {
	f, err := s.r.Reference(ctx, refUser, userKey(aadObjectID))
	if err != nil {
		return userRef{}, err
	}
	if f[fieldTeamsID] == "" || f[fieldServiceURL] == "" || f[fieldTenant] == "" {
		return userRef{}, appreg.Errorf(appreg.KindNotFound,
			"The bot has not met this person in Teams yet, so it cannot message them directly: they need to add the bot's app in Teams (Apps → the bot → Add) or write to it once.")
	}
	return userRef{AADObjectID: aadObjectID, TeamsID: f[fieldTeamsID], Name: f[fieldName], TenantID: f[fieldTenant],
		ServiceURL: f[fieldServiceURL], Personal: f[fieldPersonal]}, nil
}

func (s refStore) forgetPersonal(ctx context.Context, aadObjectID string) error {
	return s.r.ForgetField(ctx, refUser, userKey(aadObjectID), fieldPersonal)
}
