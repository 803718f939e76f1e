package appreg

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Message is what the bot says, in terms every chat platform can render:
// rich text, optional labelled fields and buttons. Field labels and values
// and button labels are plain text, shown literally.
type Message struct {
	Text    Text     `json:"text"`
	Fields  []Field  `json:"fields,omitempty"`
	Buttons []Button `json:"buttons,omitempty"`
	// Ask, when set, is the form the message asks its reader to fill in.
	// A platform that can show a form inside a message (a card with
	// inputs, a prompt in the console) shows it there; the others rely on
	// the message's button that opens it.
	Ask *Form `json:"ask,omitempty"`
}

// Field is a label and a value shown side by side.
type Field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Button is a one-click action. A click comes back to the engine as an
// Action with the button's ActionID and Value.
type Button struct {
	ActionID string      `json:"action_id"`
	Label    string      `json:"label"`
	Value    string      `json:"value"`
	Style    ButtonStyle `json:"style,omitempty"`
}

// ButtonStyle marks the button a person most likely wants, or one that
// removes or stops something.
type ButtonStyle string

// The button styles.
const (
	ButtonDefault ButtonStyle = ""
	ButtonPrimary ButtonStyle = "primary"
	ButtonDanger  ButtonStyle = "danger"
)

// Form asks a person for input: a modal in Slack, a card with inputs in
// Teams, prompts in the console. Its submission comes back to the engine as
// a Submission with the same ID and Conversation.
type Form struct {
	ID           string      `json:"id"`
	Conversation string      `json:"conversation"`
	Title        string      `json:"title"`
	Submit       string      `json:"submit"`
	Inputs       []FormInput `json:"inputs"`
}

// FormInput is one input of a form.
type FormInput struct {
	ID          string `json:"id"`
	Label       string `json:"label"`
	Hint        string `json:"hint,omitempty"`
	Placeholder string `json:"placeholder,omitempty"`
	MaxLength   int    `json:"max_length,omitempty"`
}

// Chat is the chat port: what the engine needs of Slack, Teams or the
// console, in terms of intent. A Place or MessageRef names its platform; a
// user is named by the platform's id together with the platform.
//
// Implementations return *Error of KindUnavailable when the platform cannot
// be reached or rate-limits for too long (a *Throttled in the chain says
// how long the platform asked to wait), KindNotFound for an unknown channel or user, and
// KindForbidden when the bot may not post there (not a member, not
// installed for that user).
type Chat interface {
	// Post posts msg in a channel, or as a reply in a thread when
	// to.Thread is set, and returns a reference for later updates. The
	// reference of a message posted without a thread names the thread it
	// starts (MessageRef.Thread).
	Post(ctx context.Context, to Place, msg Message) (MessageRef, error)
	// Update replaces the content of a message the bot posted.
	Update(ctx context.Context, ref MessageRef, msg Message) error
	// Private shows msg to user and nobody else, near a place: in Slack an
	// ephemeral message in that channel or thread, in Teams a message in
	// the user's personal chat with the bot, in the console a printed line.
	Private(ctx context.Context, near Place, user string, msg Message) error
	// Direct sends msg to the user's direct (personal) chat with the bot.
	Direct(ctx context.Context, platform, user string, msg Message) error
	// IsOneOf reports whether user is one of entries: one of them is the
	// user's id, or names a group of the platform (a Slack user group) that
	// has the user as a member. Entries the platform does not recognise as
	// its own are ignored. A non-nil error means some group could not be
	// resolved; the answer then covers the others.
	IsOneOf(ctx context.Context, platform, user string, entries []string) (bool, error)
}

// DeviceCode is what the customer's admin needs to sign in.
type DeviceCode struct {
	UserCode        string
	VerificationURL string
	ExpiresAt       time.Time
	Interval        time.Duration
}

// SignInFailure says why a device-code sign-in ended without a session.
type SignInFailure string

// The distinct outcomes of a failed sign-in.
const (
	SignInDeclined  SignInFailure = "declined"           // the admin said no
	SignInExpired   SignInFailure = "expired"            // the code ran out
	SignInBlocked   SignInFailure = "conditional_access" // a Conditional Access policy refused the flow
	SignInCancelled SignInFailure = "cancelled"          // the bot stopped waiting
	SignInRefused   SignInFailure = "refused"            // Entra refused for another reason
)

// SignInError is the error of a sign-in that did not succeed. Detail is
// Entra's error code or description, never a token.
type SignInError struct {
	Failure SignInFailure
	Detail  string
}

func (e *SignInError) Error() string {
	if e.Detail == "" {
		return "sign-in " + string(e.Failure)
	}
	return "sign-in " + string(e.Failure) + ": " + e.Detail
}

// Tenant is the tenant port: the customer's Microsoft 365 tenant as the
// wizard needs it.
type Tenant interface {
	// BeginSignIn asks Entra ID for a device code for the tenant (a verified
	// domain or a tenant id), for a session that may do what purpose needs
	// and no more. KindInvalid for an unknown tenant.
	BeginSignIn(ctx context.Context, tenant string, purpose Purpose) (SignIn, error)
	// Restore rebuilds a session from Session.Export's bytes. KindNotFound
	// (or KindForbidden) when it can no longer act and a new sign-in is needed.
	Restore(ctx context.Context, tenant string, exported []byte) (Session, error)
	// CheckCredentials acquires app-only tokens with a client secret, for
	// Microsoft Graph and for the Skype and Teams Tenant Admin API. It returns
	// one result per resource; it does not retry.
	CheckCredentials(ctx context.Context, tenantID, clientID string, secret SecretText) []CredentialCheck
	// CheckCertificate does the same with a certificate credential: the
	// token requests carry a client assertion signed with key.
	CheckCertificate(ctx context.Context, tenantID, clientID string, cert *x509.Certificate, key PrivateKey) []CredentialCheck
}

// Purpose is what an admin signs in for. It decides the delegated
// permissions the bot asks Entra ID for: each flow gets what it needs.
type Purpose string

// The purposes of a sign-in.
const (
	// PurposeApps creates and manages app registrations: onboarding,
	// secrets, cleanup, check.
	PurposeApps Purpose = "apps"
	// PurposeRoles also gives and takes directory roles: role changes.
	PurposeRoles Purpose = "roles"
)

// SignIn is a device-code sign-in under way.
type SignIn interface {
	// Code is the code to show the admin.
	Code() DeviceCode
	// Wait polls Entra ID until the admin has signed in. A failure is a
	// *SignInError; an unreachable Entra ID is KindUnavailable.
	Wait(ctx context.Context) (Session, error)
}

// SecretText is the text of a client secret. Printed, logged or encoded as
// JSON it is "[REDACTED]", whatever the verb or the logger: only Reveal
// gives the text, for the one message that hands it to its owner and for
// the credential check.
type SecretText string

// Redacted is what a SecretText shows of itself.
const Redacted = "[REDACTED]"

// Reveal returns the secret's text.
func (s SecretText) Reveal() string { return string(s) }

func (s SecretText) String() string   { return Redacted }
func (s SecretText) GoString() string { return Redacted }

// Format writes Redacted for every verb.
func (s SecretText) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, Redacted) }

// LogValue implements slog.LogValuer.
func (s SecretText) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON implements json.Marshaler.
func (s SecretText) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (s SecretText) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// CredentialCheck is the outcome of acquiring one app-only token.
type CredentialCheck struct {
	Resource string // "Microsoft Graph", "Skype and Teams Tenant Admin API"
	OK       bool
	Reason   string // why it failed, without any secret
}

// Application is an app registration in the tenant.
type Application struct {
	ObjectID    string
	AppID       string
	DisplayName string
}

// Permission is an application permission (app role) of a resource API.
type Permission struct {
	Resource string `json:"resource"` // the resource's app id, e.g. Microsoft Graph's
	Name     string `json:"name"`     // e.g. Organization.Read.All
}

// Secret is a client credential of an application: a client secret, or a
// certificate (Kind). Text, and a certificate's Key, are only ever set on
// creation.
type Secret struct {
	Kind    CredentialKind // "" is a secret
	KeyID   string
	Text    SecretText
	Name    string
	Expires time.Time
	// Capped is set when a tenant policy refused the requested lifetime and
	// the secret got the policy's maximum instead.
	Capped bool
	// Certificate is a certificate credential's certificate (on creation;
	// Thumbprint always), Key its private key (on creation).
	Certificate *x509.Certificate
	Key         PrivateKey
	Thumbprint  string
}

// IsCertificate reports whether the credential is a certificate.
func (s Secret) IsCertificate() bool { return s.Kind == KindCertificate }

// Grant is a delegated permission grant held by an app in the tenant.
type Grant struct {
	ID       string
	Resource string // the resource's display name
	Scopes   []string
}

// Session is a signed-in tenant admin. Its methods return KindForbidden when
// the signer lacks the right (for example Graph application-permission
// consent without Privileged Role Administrator), KindUnavailable when Graph
// is down after the client's own retries, and KindConflict for clashes.
type Session interface {
	// Identity is who signed in to which tenant.
	Identity() Identity
	// Export returns what Restore needs to act again as this admin (a token
	// cache). The caller must encrypt it before storing it anywhere.
	Export() ([]byte, error)
	// DirectoryRoles returns the display names of the directory roles the
	// signer holds, directly or through a group.
	DirectoryRoles(ctx context.Context) ([]string, error)
	// FindApplication returns the app registration with that display name,
	// or nil when there is none.
	FindApplication(ctx context.Context, displayName string) (*Application, error)
	// CreateApplication creates the registration with the required
	// permissions, or returns the one this conversation created earlier: key
	// makes it idempotent.
	CreateApplication(ctx context.Context, key, displayName string, permissions []Permission) (Application, error)
	// EnsureServicePrincipal returns the object id of the app's service
	// principal, creating it when missing.
	EnsureServicePrincipal(ctx context.Context, appID string) (string, error)
	// GrantConsent gives admin consent for one application permission to the
	// service principal. Already granted is success.
	GrantConsent(ctx context.Context, servicePrincipal string, permission Permission) error
	// AddSecret adds a client secret; on a lifetime refused by a tenant policy
	// it retries with the policy's maximum and sets Secret.Capped.
	AddSecret(ctx context.Context, appObjectID, name string, lifetime time.Duration) (Secret, error)
	// AddCertificate adds a certificate credential: a self-signed
	// certificate for key, named name, ending lifetime from now, added to the
	// application's key credentials beside those it has. On a lifetime
	// refused by a tenant policy it retries shorter and sets Capped. The
	// returned Secret holds the certificate.
	AddCertificate(ctx context.Context, appObjectID, name string, lifetime time.Duration, key PrivateKey) (Secret, error)
	// RemoveSecret removes a client credential, a secret or a certificate,
	// by its key id. Already gone is success.
	RemoveSecret(ctx context.Context, appObjectID, keyID string) error
	// SignInAppGrants lists the delegated permissions that the app the admin
	// signed in to holds in the tenant.
	SignInAppGrants(ctx context.Context) ([]Grant, error)
	// RemoveGrant removes a delegated permission grant. Already gone is
	// success.
	RemoveGrant(ctx context.Context, grantID string) error
	// Inspect reads a registration as it is in the tenant, by application
	// (client) id. It returns nil, nil when the application no longer exists.
	Inspect(ctx context.Context, appID string) (*AppState, error)
	// RemovePermission withdraws an application permission from a
	// registration: its admin consent (app role assignment) and its entry in
	// the required permissions. Already gone is success.
	RemovePermission(ctx context.Context, app AppState, permission Permission) error
	// FindPrincipal finds who a role change is for: a registration's service
	// principal (by application id or display name) or a user (by user
	// principal name). KindNotFound when there is none; KindConflict when
	// several service principals share the name.
	FindPrincipal(ctx context.Context, name string) (Principal, error)
	// AssignRole gives a directory role (by display name, resolved in the
	// tenant) to a principal at the tenant scope. It reports true when the
	// principal held it already. KindForbidden when the signer is not a
	// Privileged Role Administrator; KindNotFound for an unknown role.
	AssignRole(ctx context.Context, principalID, role string) (already bool, err error)
	// RemoveRole takes a directory role from a principal. It reports true
	// when the principal did not hold it.
	RemoveRole(ctx context.Context, principalID, role string) (alreadyGone bool, err error)
}

// AppState is a registration as it is in the tenant.
type AppState struct {
	Application
	// ServicePrincipal is the service principal's object id; "" when missing.
	ServicePrincipal string
	// Required are the application permissions the registration requests
	// (requiredResourceAccess), by name.
	Required []Permission
	// Consented are the application permissions with admin consent (app role
	// assignments of the service principal), by name.
	Consented []Permission
	// Secrets are the client credentials, secrets (without text) and
	// certificates (Kind, Thumbprint, no key).
	Secrets []Secret
	// Roles are the directory roles the service principal holds.
	Roles []string
}

// Principal is who a directory role is given to or taken from.
type Principal struct {
	ID          string // object id
	Kind        string // "servicePrincipal" or "user"
	DisplayName string
}

// Store is the storage port. Every method returns KindUnavailable when the
// store cannot be reached.
type Store interface {
	// CreateConversation stores a new conversation at version 1 and, when
	// it holds its requester's slot (Conversation.HoldsSlot), makes it the
	// requester's active conversation in the requester's channel, in one
	// round trip: it is on the acknowledgement path. When the requester
	// already has an active conversation there, it stores nothing and
	// returns that conversation's id. delivery, when not empty, is the
	// delivery's idempotency key: a repeated one stores nothing and returns
	// ErrDuplicateDelivery. KindConflict if the id exists.
	CreateConversation(ctx context.Context, c *Conversation, delivery string) (active string, err error)
	// Conversation returns a stored conversation; KindNotFound when there is
	// none (never was, or expired after the idle time).
	Conversation(ctx context.Context, id string) (*Conversation, error)
	// UpdateConversation stores c if the stored version is still c.Version,
	// and then increments c.Version. KindConflict when another change came
	// first: reload and decide again.
	UpdateConversation(ctx context.Context, c *Conversation) error
	// CountTransition keeps the count of live conversations by state: a
	// conversation moved from one state to another ("" for a new one).
	// Terminal states are not counted.
	CountTransition(ctx context.Context, from, to State) error
	// StateCounts returns the live conversations by state, as counted, in
	// one round trip whatever their number.
	StateCounts(ctx context.Context) (map[State]int, error)
	// LiveConversations returns the ids of conversations that have not
	// reached a terminal state.
	LiveConversations(ctx context.Context) ([]string, error)
	// ActiveConversation returns the id of the user's live conversation in a
	// channel, or "" when there is none.
	ActiveConversation(ctx context.Context, channel, user string) (string, error)
	// ClearActiveConversation forgets the user's active conversation in a
	// channel if it is id; another one is left in place.
	ClearActiveConversation(ctx context.Context, channel, user, id string) error

	// FirstDelivery reports whether key is seen for the first time within
	// ttl: retried deliveries of one request share a key.
	FirstDelivery(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// AcquireLease takes or renews the lease on name for owner. It reports
	// false when another owner holds it.
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// ReleaseLease lets go of a lease held by owner; a lease held by another
	// owner is left alone.
	ReleaseLease(ctx context.Context, name, owner string) error

	// ReserveName claims a registration name for a service on behalf of a
	// conversation. KindConflict when another conversation or registration
	// holds it. Reserving again for the same conversation succeeds.
	ReserveName(ctx context.Context, service, name, conversation string) error
	// ReleaseName gives up a reservation held by the conversation.
	ReleaseName(ctx context.Context, service, name, conversation string) error

	// SaveSession stores an encrypted admin session for a conversation for
	// at most ttl; DropSession removes it; Session returns nil when absent.
	SaveSession(ctx context.Context, conversation string, sealed []byte, ttl time.Duration) error
	Session(ctx context.Context, conversation string) ([]byte, error)
	DropSession(ctx context.Context, conversation string) error

	// SaveHandover stores an encrypted sign-in handover (HandingOver) for a
	// conversation for at most ttl; DropHandover removes it; Handover
	// returns nil when absent.
	SaveHandover(ctx context.Context, conversation string, sealed []byte, ttl time.Duration) error
	Handover(ctx context.Context, conversation string) ([]byte, error)
	DropHandover(ctx context.Context, conversation string) error
	// HandBack records that a replica released conversations it was working
	// on (it is shutting down). HandedBack returns a number that changes
	// with every HandBack: replicas that see it change look for work at
	// once rather than at their next sweep.
	HandBack(ctx context.Context) error
	HandedBack(ctx context.Context) (int64, error)

	// SaveRegistration records a registration, new or changed, and appends
	// what changed to its history. The first save of a registration holds
	// its name for each of its services for good.
	SaveRegistration(ctx context.Context, r Registration, change Change) error
	// UpdateRegistration applies change to the stored registration
	// atomically (concurrent updates retry on the fresh record) and appends
	// what changed to its history. It returns the registration as stored.
	// KindNotFound when there is no such record; apply's error is returned
	// as it is and nothing is stored.
	UpdateRegistration(ctx context.Context, tenantID, appID string, what Change, apply func(*Registration) error) (*Registration, error)
	// Registrations lists the recorded registrations, of one tenant when
	// tenant is not empty (Registration.InTenant).
	Registrations(ctx context.Context, tenant string) ([]Registration, error)
	// History returns a registration's changes, oldest first.
	History(ctx context.Context, tenantID, appID string) ([]Change, error)

	// AwaitConfirmation records a secret delivery that nobody has confirmed
	// yet, due for a reminder at due.
	AwaitConfirmation(ctx context.Context, d SecretDelivery, due time.Time) error
	// Confirm records that a delivered secret was stored: it reports the
	// delivery, or false when none was waiting (confirmed already, or
	// reported as unconfirmed).
	Confirm(ctx context.Context, key SecretKey) (SecretDelivery, bool, error)
	// ClaimUnconfirmed returns up to limit deliveries due at now and no
	// longer waits for them; of several replicas claiming at once, each
	// delivery goes to one.
	ClaimUnconfirmed(ctx context.Context, now time.Time, limit int) ([]SecretDelivery, error)

	// Audit appends a record to the audit log, which is never rewritten.
	Audit(ctx context.Context, r AuditRecord) error
	// AuditLog returns up to limit records, newest first, whose Target or
	// Tenant contains filter (all when filter is empty), looking through at
	// most scan of the newest records; complete is false when it stopped
	// there with older records unread.
	AuditLog(ctx context.Context, filter string, limit, scan int) (recs []AuditRecord, complete bool, err error)

	// Ping checks that the store answers.
	Ping(ctx context.Context) error
}
