package appreg

import (
	"strings"
	"time"
)

// State is where an onboarding conversation stands. The happy path is
//
//	started → awaiting_sign_in → signed_in → awaiting_name → creating → done
//
// with cancelled and failed as dead ends and expired as a pause that a new
// device code (or a new sign-in) resumes. CanMoveTo holds every allowed step;
// nothing else in the code base decides which step may follow which.
type State string

// The conversation states.
const (
	StateStarted        State = "started"
	StateAwaitingSignIn State = "awaiting_sign_in"
	StateSignedIn       State = "signed_in"
	StateAwaitingName   State = "awaiting_name"
	// StateAwaitingConfirm waits for the requester to confirm a change the
	// bot has listed (a cleanup, removing a rotated secret).
	StateAwaitingConfirm State = "awaiting_confirm"
	// StateAwaitingApproval waits for an approver's decision on a role change.
	StateAwaitingApproval State = "awaiting_approval"
	// StateRejected: an approver rejected the role change.
	StateRejected  State = "rejected"
	StateCreating  State = "creating"
	StateDone      State = "done"
	StateCancelled State = "cancelled"
	StateFailed    State = "failed"
	StateExpired   State = "expired"
)

// States lists every state, in the order of the happy path first.
func States() []State {
	return []State{StateStarted, StateAwaitingApproval, StateAwaitingSignIn, StateSignedIn, StateAwaitingName, StateAwaitingConfirm,
		StateCreating, StateDone, StateCancelled, StateRejected, StateFailed, StateExpired}
}

// Terminal reports whether the conversation has ended for good.
func (s State) Terminal() bool {
	return s == StateDone || s == StateCancelled || s == StateFailed || s == StateRejected
}

// CanMoveTo reports whether the wizard may go from s to next.
//
// Besides the happy path: every live state may be cancelled or fail; a
// sign-in may expire (code expired, declined, interrupted by a restart); an
// expired conversation gets a new code (a conversation that lost its admin
// session, or sat idle too long, expires too); and a conversation that needs the
// admin again (its session was lost to a restart on a replica without the
// state key) goes back to awaiting_sign_in from signed_in, awaiting_name or
// creating. A name taken in the tenant sends creating back to awaiting_name.
func (s State) CanMoveTo(next State) bool {
	if s.Terminal() {
		return false
	}
	switch next {
	case StateCancelled, StateFailed:
		return true
	case StateRejected:
		return s == StateAwaitingApproval
	case StateExpired:
		return s != StateExpired
	}
	switch s {
	case StateStarted:
		return next == StateAwaitingSignIn || next == StateAwaitingApproval
	case StateAwaitingApproval:
		// approved: the approver signs in
		return next == StateAwaitingSignIn
	case StateAwaitingSignIn:
		// creating: a re-sign-in in the middle of a creation resumes it.
		return next == StateSignedIn || next == StateCreating || next == StateAwaitingName
	case StateSignedIn:
		// creating and awaiting_confirm: the flows on an existing registration.
		return next == StateAwaitingName || next == StateAwaitingSignIn || next == StateCreating || next == StateAwaitingConfirm || next == StateDone
	case StateAwaitingName:
		return next == StateCreating || next == StateAwaitingSignIn
	case StateAwaitingConfirm:
		return next == StateCreating || next == StateDone || next == StateAwaitingSignIn
	case StateCreating:
		return next == StateDone || next == StateAwaitingName || next == StateAwaitingSignIn || next == StateAwaitingConfirm
	case StateExpired:
		return next == StateAwaitingSignIn
	}
	return false
}

// Flow is what a conversation does once a tenant admin has signed in.
type Flow string

// The flows.
const (
	FlowOnboard Flow = ""        // /appreg new: name, create, report
	FlowSecret  Flow = "secret"  // /appreg secret: a secret for another service
	FlowRotate  Flow = "rotate"  // a new secret replacing an old one
	FlowCleanup Flow = "cleanup" // /appreg cleanup: remove what is not required
	FlowCheck   Flow = "check"   // /appreg check: compare the tenant with the record
	FlowRole    Flow = "role"    // /appreg role: a directory role change, through an approval
	// FlowReplace replaces a secret whose delivery nobody confirmed: a new
	// secret, then the old one removed at once (nobody has it stored).
	FlowReplace Flow = "replace"
)

// RoleChange is a requested directory role change and its decision.
type RoleChange struct {
	Op             string    `json:"op"`        // "add" or "remove"
	Role           string    `json:"role"`      // display name, as in the configured table
	Principal      string    `json:"principal"` // what FindPrincipal takes: an application id or a UPN
	PrincipalLabel string    `json:"principal_label"`
	Reason         string    `json:"reason,omitempty"`
	Approver       *Caller   `json:"approver,omitempty"` // who approved or rejected
	DecidedAt      time.Time `json:"decided_at,omitzero"`
	Decision       string    `json:"decision,omitempty"` // "approved" or "rejected: <reason>"
	Outcome        string    `json:"outcome,omitempty"`  // what the execution did
}

// CleanupPlan is what a cleanup removes, and how far it got.
type CleanupPlan struct {
	Grants      []Grant      `json:"grants,omitempty"`
	Extra       []Permission `json:"extra,omitempty"`
	Done        []string     `json:"done,omitempty"`         // ids of grants and names of permissions removed
	AlreadyGone []string     `json:"already_gone,omitempty"` // listed, but gone before the removal
}

// User is a chat user, by the id of their platform.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Caller is who asks the bot to do something, from where. Every privileged
// action takes one, and the audit log records it.
type Caller struct {
	Platform string `json:"platform"` // "slack", "teams", "console", …
	User     User   `json:"user"`
	Channel  string `json:"channel"`
	// Thread, when set, is the thread the caller spoke in (a Teams reply
	// chain): what the bot says about the request goes there.
	Thread string `json:"thread,omitempty"`
}

// Place is where the caller spoke: their channel (or chat), and thread.
func (c Caller) Place() Place {
	return Place{Platform: c.Platform, Channel: c.Channel, Thread: c.Thread}
}

// Place is where to post: a channel (or chat) of a platform, or a thread in
// it when Thread is set. Channel and Thread are the platform's own ids; the
// engine stores them and hands them back untouched.
type Place struct {
	Platform string `json:"platform,omitempty"`
	Channel  string `json:"channel"`
	Thread   string `json:"thread,omitempty"`
}

// MessageRef names a message the bot posted, so that it can be updated or
// replied to in its thread. ID and Thread are the platform's own; the engine
// stores them and hands them back untouched.
type MessageRef struct {
	Platform string `json:"platform,omitempty"`
	Channel  string `json:"channel"`
	// ID is the message's id. (The JSON name keeps conversations stored
	// before the platform-neutral port readable.)
	ID string `json:"ts"`
	// Thread is the id of the thread the message starts, or is in: replies
	// to it go to Place{Channel, Thread}.
	Thread string `json:"thread,omitempty"`
}

// IsZero reports whether ref names no message.
func (ref MessageRef) IsZero() bool { return ref.ID == "" }

// ThreadPlace is the place of the message's thread.
func (ref MessageRef) ThreadPlace() Place {
	return Place{Platform: ref.Platform, Channel: ref.Channel, Thread: cmpOr(ref.Thread, ref.ID)}
}

// Identity is who signed in to which tenant.
type Identity struct {
	Account       string `json:"account"`      // user principal name
	DisplayName   string `json:"display_name"` // the admin's name
	TenantID      string `json:"tenant_id"`
	TenantName    string `json:"tenant_name"`
	DefaultDomain string `json:"default_domain"`
	// Domains are the tenant's verified domains.
	Domains []string `json:"domains,omitempty"`
}

// Matches reports whether tenant, as typed in a command (a tenant id or a
// verified domain), names the tenant of this identity.
func (id Identity) Matches(tenant string) bool {
	if strings.EqualFold(tenant, id.TenantID) || strings.EqualFold(tenant, id.DefaultDomain) {
		return true
	}
	for _, d := range id.Domains {
		if strings.EqualFold(tenant, d) {
			return true
		}
	}
	return false
}

// Progress records each creation step as it completes, so that a crash or a
// retry resumes where it stopped and never creates a second registration.
type Progress struct {
	AppObjectID      string    `json:"app_object_id,omitempty"`
	AppID            string    `json:"app_id,omitempty"` // the application (client) id
	ServicePrincipal string    `json:"service_principal,omitempty"`
	Consented        []string  `json:"consented,omitempty"`       // permissions consented
	ConsentPending   []string  `json:"consent_pending,omitempty"` // need a Privileged Role Administrator
	SecretKeyID      string    `json:"secret_key_id,omitempty"`
	SecretExpires    time.Time `json:"secret_expires,omitzero"`
	SecretThumbprint string    `json:"secret_thumbprint,omitempty"` // a certificate's
	SecretDelivered  bool      `json:"secret_delivered,omitempty"`
	// Delivered says where sinks put the credential (empty: the chat).
	Delivered []Delivered `json:"delivered,omitempty"`
	// AppAttempted is recorded before the application is created: a resume
	// then knows that an application of that name may be its own.
	AppAttempted bool `json:"app_attempted,omitempty"`
	// SecretAttempted is recorded before a secret is added: a resume after a
	// crash in AddSecret looks for a secret it made but never recorded.
	SecretAttempted bool   `json:"secret_attempted,omitempty"`
	LifetimeNote    string `json:"lifetime_note,omitempty"`
	Validated       bool   `json:"validated,omitempty"`
	ValidationNote  string `json:"validation_note,omitempty"`
}

// Conversation is one onboarding wizard: the state of one thread. It is
// stored whole; Version grows by one with every stored change and is the
// compare-and-set token that keeps two replicas, retried deliveries and
// double clicks from applying a step twice.
type Conversation struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
	State   State  `json:"state"`
	Tenant  string `json:"tenant"`  // as typed: a verified domain or a tenant id
	Service string `json:"service"` // the Direct Routing service the first secret is for
	// Credential is the kind of credential the conversation makes: a
	// secret ("") or a certificate.
	Credential CredentialKind `json:"credential,omitempty"`
	Requester  Caller         `json:"requester"`
	Status     MessageRef     `json:"status,omitzero"` // the status message, which starts the thread
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`

	CodeExpires time.Time `json:"code_expires,omitzero"` // of the device code shown last
	Identity    *Identity `json:"identity,omitempty"`    // who signed in, once they have
	Name        string    `json:"name,omitempty"`        // the registration name, once accepted
	Progress    Progress  `json:"progress"`

	Flow     Flow         `json:"flow,omitempty"`
	OldKeyID string       `json:"old_key_id,omitempty"` // FlowRotate: the secret being replaced
	Cleanup  *CleanupPlan `json:"cleanup,omitempty"`
	Role     *RoleChange  `json:"role,omitempty"`
	// Confirmed is set when the requester confirmed the change the bot
	// listed (a cleanup, removing a rotated secret); nothing destructive
	// runs without it.
	Confirmed bool `json:"confirmed,omitempty"`
	// Reason says why it failed, expired, paused or was cancelled, for
	// people.
	Reason Text `json:"reason,omitempty"`
}

// HoldsSlot reports whether the conversation is its requester's one
// active conversation in its channel, which keeps them from starting
// another there until it ends. A role change does not: it waits for an
// approver, not for its requester.
func (c *Conversation) HoldsSlot() bool { return c.Flow != FlowRole }

// Thread is the place of the conversation's thread.
func (c *Conversation) Thread() Place { return c.Status.ThreadPlace() }
