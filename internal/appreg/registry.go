package appreg

import (
	"context"
	"strings"
	"time"
)

// Registration is the bot's record of an app registration: the tenant it is
// in, the services attached to it and every client secret it knows of. It
// never holds a secret's text. A registration with no service attached is a
// pending invitation.
type Registration struct {
	Tenant   string `json:"tenant"` // the tenant's primary domain (as typed, for records made before domains were kept)
	TenantID string `json:"tenant_id"`
	// Domains are the tenant's verified domains when the registration was
	// made: a tenant is found by any of them.
	Domains          []string       `json:"domains,omitempty"`
	Name             string         `json:"name"`
	AppID            string         `json:"app_id"`
	AppObjectID      string         `json:"app_object_id"`
	ServicePrincipal string         `json:"service_principal,omitempty"`
	Services         []string       `json:"services,omitempty"`
	Secrets          []SecretRecord `json:"secrets,omitempty"`
	CreatedBy        Caller         `json:"created_by"`
	CreatedAt        time.Time      `json:"created_at"`
	Thread           Place          `json:"thread"`
}

// InTenant reports whether tenant, as a person types it (a tenant id or
// any verified domain), names the registration's tenant.
func (r *Registration) InTenant(tenant string) bool {
	if strings.EqualFold(tenant, r.Tenant) || strings.EqualFold(tenant, r.TenantID) {
		return true
	}
	for _, d := range r.Domains {
		if strings.EqualFold(tenant, d) {
			return true
		}
	}
	return false
}

// Pending reports whether the registration is a pending invitation: no
// service is attached to it yet.
func (r *Registration) Pending() bool { return len(r.Services) == 0 }

// HasService reports whether a service is attached.
func (r *Registration) HasService(service string) bool {
	for _, s := range r.Services {
		if strings.EqualFold(s, service) {
			return true
		}
	}
	return false
}

// Secret returns the record of the secret with that key id, or nil.
func (r *Registration) Secret(keyID string) *SecretRecord {
	for i := range r.Secrets {
		if r.Secrets[i].KeyID == keyID {
			return &r.Secrets[i]
		}
	}
	return nil
}

// SecretFor returns the record of the service's secret, or nil.
func (r *Registration) SecretFor(service string) *SecretRecord {
	for i := range r.Secrets {
		if strings.EqualFold(r.Secrets[i].Service, service) {
			return &r.Secrets[i]
		}
	}
	return nil
}

// SecretRecord is what the bot knows of a client secret.
type SecretRecord struct {
	Kind       CredentialKind `json:"kind,omitempty"` // "" is a secret
	Thumbprint string         `json:"thumbprint,omitempty"`
	KeyID      string         `json:"key_id"`
	Service    string         `json:"service,omitempty"` // "" for a secret adopted from the portal
	Name       string         `json:"name,omitempty"`
	Expires    time.Time      `json:"expires"`
	CreatedBy  string         `json:"created_by,omitempty"` // chat user id
	CreatedAt  time.Time      `json:"created_at,omitzero"`
	Adopted    bool           `json:"adopted,omitempty"` // created outside the bot, found by a check
}

// Change is one entry of a registration's history.
type Change struct {
	At   time.Time `json:"at"`
	By   string    `json:"by"`   // chat user id
	What string    `json:"what"` // e.g. "created", "secret added for sbc2"
}

// SecretRef names a tracked secret for the reminder schedule.
type SecretRef struct {
	Tenant       string         `json:"tenant"`
	TenantID     string         `json:"tenant_id"`
	Registration string         `json:"registration"`
	AppID        string         `json:"app_id"`
	Service      string         `json:"service"`
	Kind         CredentialKind `json:"kind,omitempty"` // "" is a secret
	KeyID        string         `json:"key_id"`
	Expires      time.Time      `json:"expires"`
	Thread       Place          `json:"thread"`   // where reminders go
	Engineer     string         `json:"engineer"` // who gets a direct message, on Thread's platform
}

// Key names the secret.
func (s SecretRef) Key() SecretKey {
	return SecretKey{TenantID: s.TenantID, AppID: s.AppID, KeyID: s.KeyID}
}

// The action ids of the buttons on a secret (reminders, the offer to
// rotate). Their Value is the secret's SecretKey.
const (
	ActionRotate = "appreg.rotate"
	ActionSnooze = "appreg.snooze"
)

// SecretDelivery is a client secret shown privately to the person who will
// store it, waiting for them to confirm that they did: a private message
// can be missed, and the text is never shown again.
type SecretDelivery struct {
	Key          SecretKey `json:"key"`
	Tenant       string    `json:"tenant"`
	Registration string    `json:"registration"`
	Service      string    `json:"service"`
	To           Caller    `json:"to"`     // who was shown the secret
	Thread       Place     `json:"thread"` // where to say that nobody confirmed
	DeliveredAt  time.Time `json:"delivered_at"`
}

// SecretKey names a secret: tenant id, application (client) id and the
// secret's key id.
type SecretKey struct {
	TenantID string
	AppID    string
	KeyID    string
}

// String is "tenantID/appID/keyID": the value of the buttons on a secret,
// which ParseSecretKey reads.
func (k SecretKey) String() string { return k.TenantID + "/" + k.AppID + "/" + k.KeyID }

// ParseSecretKey reads the form String writes. KindInvalid when s is not
// one: a part missing, or holding a separator or a blank.
func ParseSecretKey(s string) (SecretKey, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return SecretKey{}, errBrokenSecretButton()
	}
	k := SecretKey{TenantID: parts[0], AppID: parts[1], KeyID: parts[2]}
	if err := k.Validate(); err != nil {
		return SecretKey{}, err
	}
	return k, nil
}

// Validate checks that each part is present and free of the characters
// stores use as separators. KindInvalid otherwise.
func (k SecretKey) Validate() error {
	for _, p := range []string{k.TenantID, k.AppID, k.KeyID} {
		if p == "" || strings.ContainsAny(p, "/|# \t\r\n") {
			return errBrokenSecretButton()
		}
	}
	return nil
}

func errBrokenSecretButton() error {
	return &Error{Kind: KindInvalid, Message: "That button does not name a secret I know; list the registrations with the list command."}
}

// ReminderPlan is when and where a secret's expiry reminders will come.
type ReminderPlan struct {
	// Due are the times of the reminders still to come, soonest first.
	Due []time.Time
	// Channel, when set, is the reminders channel that receives them
	// instead of the registration's thread. Each also goes to the engineer
	// as a direct message.
	Channel string
}

// Reminders is the secret-expiry reminder schedule.
type Reminders interface {
	// Track schedules reminders before the secret expires, replacing any
	// earlier schedule of the same secret, and says when and where they
	// will come.
	Track(ctx context.Context, s SecretRef) (ReminderPlan, error)
	// Untrack drops a secret's reminders (it was removed or replaced).
	Untrack(ctx context.Context, tenantID, appID, keyID string) error
}

// AuditRecord is one entry of the append-only audit log: every request,
// decision, refusal and execution, allowed or denied.
type AuditRecord struct {
	ID      string    `json:"id,omitempty"` // assigned by the store
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`  // chat user id
	Action  string    `json:"action"` // e.g. "role.request", "role.approve", "role.refused"
	Tenant  string    `json:"tenant,omitempty"`
	Target  string    `json:"target,omitempty"` // registration or principal
	Detail  string    `json:"detail,omitempty"`
	Outcome string    `json:"outcome"` // "ok", "denied", "failed: …"
}
