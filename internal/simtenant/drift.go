package simtenant

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Drift controls: changes made in the tenant behind the bot's back, as an
// admin would in the portal, and snapshots to check what the bot did. They
// fail (rather than panic) for an application, secret, grant or permission
// the tenant does not have; an unknown tenant still panics, as a broken test
// setup.

// Grant is a snapshot of a delegated permission grant (consentType
// AllPrincipals).
type Grant struct {
	ID, ClientID, ResourceID, Scope string
}

// RoleAssignment is a snapshot of a directory role assignment at the tenant
// scope. RoleDefinitionID is the role's template id for a built-in role.
type RoleAssignment struct {
	ID, PrincipalID, RoleDefinitionID, Role string
}

// DeleteApplication deletes an app registration by application (client) id.
// Its service principal goes with it, and with that the service principal's
// app role assignments, delegated grants and directory role assignments.
func (s *Server) DeleteApplication(tenantID, appID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.mustTenant(tenantID)
	i := slices.IndexFunc(t.apps, func(a *application) bool { return strings.EqualFold(a.AppID, appID) })
	if i < 0 {
		return fmt.Errorf("simtenant: no application %s in tenant %s", appID, tenantID)
	}
	t.apps = slices.Delete(t.apps, i, i+1)
	sp := t.spByAppID(appID)
	if sp == nil {
		return nil
	}
	id := sp.ObjectID
	t.sps = slices.DeleteFunc(t.sps, func(x *servicePrincipal) bool { return x == sp })
	t.assignments = slices.DeleteFunc(t.assignments, func(a Assignment) bool { return a.PrincipalID == id || a.ResourceID == id })
	t.grants = slices.DeleteFunc(t.grants, func(g grant) bool { return g.ClientID == id || g.ResourceID == id })
	t.roleAssigns = slices.DeleteFunc(t.roleAssigns, func(ra roleAssignment) bool { return strings.EqualFold(ra.PrincipalID, id) })
	return nil
}

// AddSecret adds a client secret to an application (by application id)
// that ends lifetime from now. It returns the secret as Graph shows it
// afterwards, without its text.
func (s *Server) AddSecret(tenantID, appID, displayName string, lifetime time.Duration) (Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.mustTenant(tenantID).appByAppID(appID)
	if err != nil {
		return Secret{}, err
	}
	now := s.opts.Now().UTC()
	return a.addSecret(displayName, now, now.Add(lifetime), 0).Secret, nil
}

// RemoveSecret removes a client secret, or a certificate, from an
// application (by application id).
func (s *Server) RemoveSecret(tenantID, appID, keyID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.mustTenant(tenantID).appByAppID(appID)
	if err != nil {
		return err
	}
	n := len(a.secrets) + len(a.certs)
	a.secrets = slices.DeleteFunc(a.secrets, func(sv *secretValue) bool { return strings.EqualFold(sv.KeyID, keyID) })
	a.certs = slices.DeleteFunc(a.certs, func(cv *certValue) bool { return strings.EqualFold(cv.KeyID, keyID) })
	if len(a.secrets)+len(a.certs) == n {
		return fmt.Errorf("simtenant: application %s has no secret %s", appID, keyID)
	}
	return nil
}

// AddPermission adds an application permission of a resource API (by the
// resource's application id and the permission's value) to a registration
// (by application id): an entry in its requiredResourceAccess and, when it
// has a service principal, admin consent (an app role assignment). Parts
// already there are left alone.
func (s *Server) AddPermission(tenantID, appID, resourceAppID, permission string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.mustTenant(tenantID)
	a, err := t.appByAppID(appID)
	if err != nil {
		return err
	}
	resource := t.spByAppID(resourceAppID)
	if resource == nil {
		return fmt.Errorf("simtenant: no service principal for the API %s in tenant %s", resourceAppID, tenantID)
	}
	r := slices.IndexFunc(resource.appRoles, func(x AppRole) bool { return x.Value == permission })
	if r < 0 {
		return fmt.Errorf("simtenant: %s has no application permission %q", resource.DisplayName, permission)
	}
	role := resource.appRoles[r]
	i := slices.IndexFunc(a.RequiredResourceAccess, func(ra ResourceAccess) bool { return strings.EqualFold(ra.ResourceAppID, resourceAppID) })
	if i < 0 {
		a.RequiredResourceAccess = append(a.RequiredResourceAccess, ResourceAccess{ResourceAppID: resource.AppID})
		i = len(a.RequiredResourceAccess) - 1
	}
	if !slices.Contains(a.RequiredResourceAccess[i].IDs, role.ID) {
		a.RequiredResourceAccess[i].IDs = append(slices.Clone(a.RequiredResourceAccess[i].IDs), role.ID)
	}
	sp := t.spByAppID(appID)
	if sp == nil || slices.ContainsFunc(t.assignments, func(as Assignment) bool {
		return as.PrincipalID == sp.ObjectID && as.ResourceID == resource.ObjectID && as.AppRoleID == role.ID
	}) {
		return nil
	}
	t.assignments = append(t.assignments, Assignment{ID: newID(), PrincipalID: sp.ObjectID, ResourceID: resource.ObjectID, AppRoleID: role.ID,
		ResourceDisplayName: resource.DisplayName, Permission: role.Value})
	return nil
}

// Grants returns the tenant's delegated permission grants.
func (s *Server) Grants(tenantID string) []Grant {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Grant
	for _, g := range s.mustTenant(tenantID).grants {
		out = append(out, Grant(g))
	}
	return out
}

// RemoveGrant removes a delegated permission grant.
func (s *Server) RemoveGrant(tenantID, grantID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.mustTenant(tenantID)
	n := len(t.grants)
	t.grants = slices.DeleteFunc(t.grants, func(g grant) bool { return g.ID == grantID })
	if len(t.grants) == n {
		return fmt.Errorf("simtenant: no grant %s in tenant %s", grantID, tenantID)
	}
	return nil
}

// RoleAssignments returns the tenant's directory role assignments, those
// of users given in User.Roles included.
func (s *Server) RoleAssignments(tenantID string) []RoleAssignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.mustTenant(tenantID)
	var out []RoleAssignment
	for _, ra := range t.roleAssigns {
		out = append(out, RoleAssignment{ID: ra.ID, PrincipalID: ra.PrincipalID, RoleDefinitionID: ra.RoleDefinitionID,
			Role: t.roleDefinitionByID(ra.RoleDefinitionID).Name})
	}
	return out
}

// AssignRole gives a directory role (by display name; a name the stand-in
// does not know gets a definition of its own) to a principal (a user's or a
// service principal's object id) and returns the assignment's id. Holding
// it already is no error.
func (s *Server) AssignRole(tenantID, principalID, role string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.mustTenant(tenantID)
	if t.spByID(principalID) == nil && t.userByID(principalID) == nil {
		return "", fmt.Errorf("simtenant: no principal %s in tenant %s", principalID, tenantID)
	}
	id, _ := t.assignRole(principalID, t.roleDefinition(role, true).ID)
	return id, nil
}

func (t *tenant) appByAppID(appID string) (*application, error) {
	for _, a := range t.apps {
		if strings.EqualFold(a.AppID, appID) {
			return a, nil
		}
	}
	return nil, fmt.Errorf("simtenant: no application %s in tenant %s", appID, t.ID)
}

// addSecret adds a client secret with a fresh text in the format of Entra's
// (three characters, "8Q~", 34 more) that fails replicate client-credential
// attempts before it works.
func (a *application) addSecret(displayName string, start, end time.Time, replicate int) *secretValue {
	text := randomText(3, mixedAlnum) + "8Q~" + randomText(34, mixedAlnum+"~._-")
	sv := &secretValue{Secret: Secret{KeyID: newID(), DisplayName: displayName, Hint: text[:3], Start: start, End: end},
		text: text, replicate: replicate}
	a.secrets = append(a.secrets, sv)
	return sv
}
