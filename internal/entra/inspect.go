package entra

import (
	"context"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/oauth2permissiongrants"
	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Inspect reads a registration as it is in the tenant, by application
// (client) id: the application with its required permissions and its
// secrets (never a secret's text: Graph shows none after creation), its
// service principal, the admin consents that service principal holds and
// its directory roles. Permission names are resolved through the resource
// APIs' service principals, read once per session; a permission a resource
// does not (or no longer) offer is named by its app role id. It returns nil,
// nil when the application does not exist. KindInvalid for an id that is not
// a GUID.
//
// Graph requests: the application; when it exists, its service principal;
// when that exists, its app role assignments and its directory role
// assignments (with their role definitions expanded): 4 in all, plus one per
// resource API not read before in this session.
func (s *session) Inspect(ctx context.Context, appID string) (*appreg.AppState, error) {
	if !isGUID(appID) {
		return nil, appreg.Errorf(appreg.KindInvalid, "%q is not an application (client) id.", appID)
	}
	filter := "appId eq '" + appID + "'"
	res, err := applications.NewApplicationsRequestBuilderInternal(s.params(), s.graph).Get(ctx,
		&applications.ApplicationsRequestBuilderGetRequestConfiguration{QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{
			Filter: &filter, Select: []string{"id", "appId", "displayName", "requiredResourceAccess", "passwordCredentials", "keyCredentials"}}})
	if err != nil {
		return nil, s.graphError(ctx, "read the registration", err)
	}
	if len(res.GetValue()) == 0 {
		s.log.InfoContext(ctx, "registration not found", "app", appID)
		return nil, nil
	}
	app := res.GetValue()[0]
	st := &appreg.AppState{Application: toApplication(app)}
	for _, pc := range app.GetPasswordCredentials() {
		st.Secrets = append(st.Secrets, appreg.Secret{KeyID: uuidString(pc.GetKeyId()), Name: deref(pc.GetDisplayName()), Expires: deref(pc.GetEndDateTime())})
	}
	st.Secrets = append(st.Secrets, certificates(app.GetKeyCredentials())...)
	if st.Required, err = s.requiredPermissions(ctx, app.GetRequiredResourceAccess()); err != nil {
		return nil, err
	}

	sp, err := serviceprincipalswithappid.NewServicePrincipalsWithAppIdRequestBuilderInternal(s.params(), s.graph, &appID).Get(ctx,
		&serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: []string{"id"}}})
	if status, _, _ := odataDetail(err); status == http.StatusNotFound {
		return st, nil
	} else if err != nil {
		return nil, s.graphError(ctx, "read the registration's service principal", err)
	}
	st.ServicePrincipal = deref(sp.GetId())
	if st.Consented, err = s.consentedPermissions(ctx, st.ServicePrincipal); err != nil {
		return nil, err
	}
	if st.Roles, err = s.principalRoles(ctx, st.ServicePrincipal); err != nil {
		return nil, err
	}
	return st, nil
}

// requiredPermissions names the application permissions (type Role) of a
// requiredResourceAccess list; delegated scopes are left out.
func (s *session) requiredPermissions(ctx context.Context, rras []models.RequiredResourceAccessable) ([]appreg.Permission, error) {
	var out []appreg.Permission
	for _, rra := range rras {
		resource := deref(rra.GetResourceAppId())
		var r *resourceAPI
		for _, ra := range rra.GetResourceAccess() {
			if ra.GetId() == nil || !strings.EqualFold(deref(ra.GetTypeEscaped()), "Role") {
				continue
			}
			if r == nil {
				var err error
				if r, err = s.resource(ctx, resource); appreg.ErrorKind(err) == appreg.KindNotFound {
					r = &resourceAPI{appID: resource, roles: map[string]uuid.UUID{}} // the API is not in the tenant
				} else if err != nil {
					return nil, err
				}
			}
			out = append(out, appreg.Permission{Resource: resource, Name: r.roleName(*ra.GetId())})
		}
	}
	return out, nil
}

// consentedPermissions names the app role assignments a service principal
// holds.
func (s *session) consentedPermissions(ctx context.Context, servicePrincipal string) ([]appreg.Permission, error) {
	res, err := serviceprincipals.NewServicePrincipalsRequestBuilderInternal(s.params(), s.graph).ByServicePrincipalId(servicePrincipal).AppRoleAssignments().Get(ctx, nil)
	if err != nil {
		return nil, s.graphError(ctx, "read the registration's admin consents", err)
	}
	var out []appreg.Permission
	for _, as := range res.GetValue() {
		if as.GetAppRoleId() == nil {
			continue
		}
		r, err := s.resourceByObjectID(ctx, uuidString(as.GetResourceId()))
		if err != nil {
			return nil, err
		}
		out = append(out, appreg.Permission{Resource: r.appID, Name: r.roleName(*as.GetAppRoleId())})
	}
	return out, nil
}

// principalRoles returns the display names of the directory roles assigned
// to a principal.
func (s *session) principalRoles(ctx context.Context, principalID string) ([]string, error) {
	filter := "principalId eq '" + principalID + "'"
	res, err := rolemanagement.NewRoleManagementRequestBuilderInternal(s.params(), s.graph).Directory().RoleAssignments().Get(ctx,
		&rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetRequestConfiguration{QueryParameters: &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetQueryParameters{
			Filter: &filter, Expand: []string{"roleDefinition"}}})
	if err != nil {
		return nil, s.graphError(ctx, "read the registration's roles", err)
	}
	var roles []string
	for _, ra := range res.GetValue() {
		name := deref(ra.GetRoleDefinitionId())
		if d := ra.GetRoleDefinition(); d != nil && d.GetDisplayName() != nil {
			name = *d.GetDisplayName()
		}
		roles = append(roles, name)
	}
	return roles, nil
}

// resourceByObjectID returns a resource API by its service principal's
// object id, from the session's resources or with one Graph request.
func (s *session) resourceByObjectID(ctx context.Context, id string) (*resourceAPI, error) {
	s.mu.Lock()
	for _, r := range s.resources {
		if strings.EqualFold(r.id, id) {
			s.mu.Unlock()
			return r, nil
		}
	}
	s.mu.Unlock()
	sp, err := serviceprincipals.NewServicePrincipalsRequestBuilderInternal(s.params(), s.graph).ByServicePrincipalId(id).Get(ctx,
		&serviceprincipals.ServicePrincipalItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ServicePrincipalItemRequestBuilderGetQueryParameters{Select: []string{"id", "appId", "displayName", "appRoles"}}})
	if err != nil {
		return nil, s.graphError(ctx, "read the permissions of an API", err)
	}
	r := newResourceAPI(sp)
	s.mu.Lock()
	s.resources[strings.ToLower(r.appID)] = r
	s.mu.Unlock()
	return r, nil
}

// RemovePermission withdraws an application permission from a registration:
// it deletes the service principal's app role assignment for it (the admin
// consent) and takes it out of the application's requiredResourceAccess,
// leaving every other entry as it is. What is already gone is success, the
// application itself included. KindInvalid for a permission the resource
// does not offer (unless it is given by app role id, as Inspect names one it
// cannot resolve); KindForbidden when the signer may not.
//
// Graph requests: the service principal's app role assignments, the
// deletion (when consented), the application's requiredResourceAccess and
// its update (when listed): at most 4, plus the resource API once per
// session.
func (s *session) RemovePermission(ctx context.Context, app appreg.AppState, p appreg.Permission) error {
	if app.ObjectID == "" {
		return appreg.Errorf(appreg.KindInvalid, "The registration's object id is missing.")
	}
	r, roleID, err := s.permissionID(ctx, p)
	if err != nil {
		return err
	}
	consent := false
	if app.ServicePrincipal != "" && r != nil {
		if consent, err = s.removeConsent(ctx, app.ServicePrincipal, r.id, roleID, p.Name); err != nil {
			return err
		}
	}
	required, err := s.removeRequired(ctx, app.ObjectID, p.Resource, roleID)
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "permission removed", "app", app.AppID, "permission", p.Name, "resource", p.Resource,
		"consent_removed", consent, "required_removed", required)
	return nil
}

// permissionID resolves a permission to its resource (nil when the API is
// not in the tenant) and app role id; a Name that is a GUID is taken as the
// app role id when the resource has no role of that name.
func (s *session) permissionID(ctx context.Context, p appreg.Permission) (*resourceAPI, uuid.UUID, error) {
	id, idErr := uuid.Parse(p.Name)
	r, err := s.resource(ctx, p.Resource)
	switch {
	case err != nil && idErr == nil && appreg.ErrorKind(err) == appreg.KindNotFound:
		return nil, id, nil
	case err != nil:
		return nil, uuid.UUID{}, err
	}
	if rid, ok := r.roles[p.Name]; ok {
		return r, rid, nil
	}
	if idErr == nil {
		return r, id, nil
	}
	return nil, uuid.UUID{}, appreg.Errorf(appreg.KindInvalid, "%s has no application permission %q.", r.name, p.Name)
}

// removeConsent deletes the service principal's app role assignments of
// one app role, and reports whether there was one.
func (s *session) removeConsent(ctx context.Context, servicePrincipal, resourceID string, roleID uuid.UUID, name string) (bool, error) {
	assignments := serviceprincipals.NewServicePrincipalsRequestBuilderInternal(s.params(), s.graph).ByServicePrincipalId(servicePrincipal).AppRoleAssignments()
	res, err := assignments.Get(ctx, nil)
	if status, _, _ := odataDetail(err); status == http.StatusNotFound {
		return false, nil // the service principal is gone, and its consents with it
	} else if err != nil {
		return false, s.graphError(ctx, "read the registration's admin consents", err)
	}
	found := false
	for _, as := range res.GetValue() {
		if !strings.EqualFold(uuidString(as.GetResourceId()), resourceID) || as.GetAppRoleId() == nil || *as.GetAppRoleId() != roleID {
			continue
		}
		err := assignments.ByAppRoleAssignmentId(deref(as.GetId())).Delete(ctx, nil)
		if status, _, _ := odataDetail(err); err != nil && status != http.StatusNotFound {
			return false, s.graphError(ctx, "withdraw admin consent to "+name, err)
		}
		found = true
	}
	return found, nil
}

// removeRequired takes one app role out of an application's
// requiredResourceAccess, and reports whether it was there. A resource
// left with no entry is dropped from the list.
func (s *session) removeRequired(ctx context.Context, objectID, resourceAppID string, roleID uuid.UUID) (bool, error) {
	b := applications.NewApplicationsRequestBuilderInternal(s.params(), s.graph).ByApplicationId(objectID)
	app, err := b.Get(ctx, &applications.ApplicationItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationItemRequestBuilderGetQueryParameters{Select: []string{"id", "requiredResourceAccess"}}})
	if status, _, _ := odataDetail(err); status == http.StatusNotFound {
		return false, nil
	} else if err != nil {
		return false, s.graphError(ctx, "read the registration's required permissions", err)
	}
	// Fresh objects: only what is sent is what the list becomes.
	keep := []models.RequiredResourceAccessable{}
	removed := false
	for _, rra := range app.GetRequiredResourceAccess() {
		match := strings.EqualFold(deref(rra.GetResourceAppId()), resourceAppID)
		var accesses []models.ResourceAccessable
		dropped := false
		for _, ra := range rra.GetResourceAccess() {
			if match && ra.GetId() != nil && *ra.GetId() == roleID && strings.EqualFold(deref(ra.GetTypeEscaped()), "Role") {
				dropped = true
				continue
			}
			c := models.NewResourceAccess()
			c.SetId(ra.GetId())
			c.SetTypeEscaped(ra.GetTypeEscaped())
			accesses = append(accesses, c)
		}
		removed = removed || dropped
		if dropped && len(accesses) == 0 {
			continue
		}
		n := models.NewRequiredResourceAccess()
		n.SetResourceAppId(rra.GetResourceAppId())
		n.SetResourceAccess(append([]models.ResourceAccessable{}, accesses...))
		keep = append(keep, n)
	}
	if !removed {
		return false, nil
	}
	body := models.NewApplication()
	body.SetRequiredResourceAccess(keep)
	_, err = b.Patch(ctx, body, nil)
	if status, _, _ := odataDetail(err); err != nil && status != http.StatusNotFound {
		return false, s.graphError(ctx, "update the registration's required permissions", err)
	}
	return true, nil
}

// RemoveGrant deletes a delegated permission grant. A grant already gone is
// success; KindForbidden when the signer may not.
//
// Graph requests: 1.
func (s *session) RemoveGrant(ctx context.Context, grantID string) error {
	if grantID == "" || strings.ContainsAny(grantID, "/?#") {
		return appreg.Errorf(appreg.KindInvalid, "%q is not a permission grant's id.", grantID)
	}
	err := oauth2permissiongrants.NewOauth2PermissionGrantsRequestBuilderInternal(s.params(), s.graph).ByOAuth2PermissionGrantId(grantID).Delete(ctx, nil)
	switch status, _, _ := odataDetail(err); {
	case err == nil:
		s.log.InfoContext(ctx, "permission grant removed", "grant", grantID)
		return nil
	case status == http.StatusNotFound:
		return nil
	}
	return s.graphError(ctx, "remove the delegated permission grant", err)
}
