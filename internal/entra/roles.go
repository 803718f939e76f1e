package entra

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// roleDefinition is a directory role definition: its id (the template id
// for a built-in role) and display name.
type roleDefinition struct {
	id, name string
}

// roleWriters says who may change directory role assignments, for the
// messages of KindForbidden.
const roleWriters = "a Privileged Role Administrator or a Global Administrator"

// FindPrincipal finds who a role change is for. A GUID is an application
// (client) id: its service principal. A name with "@" is a user principal
// name: that user. Anything else is a service principal's display name.
// KindNotFound when there is none; KindConflict when several service
// principals have that display name (the message asks for the application
// id instead); KindInvalid for an empty name.
//
// Graph requests: 1.
func (s *session) FindPrincipal(ctx context.Context, name string) (appreg.Principal, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return appreg.Principal{}, appreg.Errorf(appreg.KindInvalid, "Say who the role is for: a registration's name or application id, or a user's sign-in name.")
	case isGUID(name):
		sp, err := serviceprincipalswithappid.NewServicePrincipalsWithAppIdRequestBuilderInternal(s.params(), s.graph, &name).Get(ctx,
			&serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: []string{"id", "appId", "displayName"}}})
		if status, _, _ := odataDetail(err); status == http.StatusNotFound {
			return appreg.Principal{}, appreg.Errorf(appreg.KindNotFound, "No application with the id %s has a service principal in the tenant.", name)
		} else if err != nil {
			return appreg.Principal{}, s.graphError(ctx, "find the application "+name, err)
		}
		return appreg.Principal{ID: deref(sp.GetId()), Kind: "servicePrincipal", DisplayName: deref(sp.GetDisplayName())}, nil
	case strings.Contains(name, "@"):
		return s.findUser(ctx, name)
	}
	filter := "displayName eq '" + strings.ReplaceAll(name, "'", "''") + "'"
	res, err := serviceprincipals.NewServicePrincipalsRequestBuilderInternal(s.params(), s.graph).Get(ctx,
		&serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{
			Filter: &filter, Select: []string{"id", "appId", "displayName"}}})
	if err != nil {
		return appreg.Principal{}, s.graphError(ctx, "find the application "+name, err)
	}
	switch sps := res.GetValue(); len(sps) {
	case 0:
		return appreg.Principal{}, appreg.Errorf(appreg.KindNotFound, "No application called %q has a service principal in the tenant.", name)
	case 1:
		return appreg.Principal{ID: deref(sps[0].GetId()), Kind: "servicePrincipal", DisplayName: deref(sps[0].GetDisplayName())}, nil
	default:
		return appreg.Principal{}, appreg.Errorf(appreg.KindConflict, "%d applications are called %q in the tenant. Give the application (client) id instead.", len(sps), name)
	}
}

// findUser finds a user by user principal name. The request is built by
// hand: the users request-builder package is the SDK's largest.
func (s *session) findUser(ctx context.Context, upn string) (appreg.Principal, error) {
	ri := abstractions.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abstractions.GET,
		"{+baseurl}/users{?%24filter,%24select}", s.params())
	ri.QueryParameters["%24filter"] = "userPrincipalName eq '" + strings.ReplaceAll(upn, "'", "''") + "'"
	ri.QueryParameters["%24select"] = "id,displayName,userPrincipalName"
	ri.Headers.TryAdd("Accept", "application/json")
	res, err := s.graph.Send(ctx, ri, models.CreateUserCollectionResponseFromDiscriminatorValue, errorMapping())
	if err != nil {
		return appreg.Principal{}, s.graphError(ctx, "find the user "+upn, err)
	}
	if c, ok := res.(models.UserCollectionResponseable); ok && len(c.GetValue()) > 0 {
		u := c.GetValue()[0]
		return appreg.Principal{ID: deref(u.GetId()), Kind: "user", DisplayName: cmp.Or(deref(u.GetDisplayName()), deref(u.GetUserPrincipalName()))}, nil
	}
	return appreg.Principal{}, appreg.Errorf(appreg.KindNotFound, "No user %s is in the tenant.", upn)
}

// AssignRole gives a directory role, by display name (any case), to a
// principal at the tenant scope ("/"). It reports true when the principal
// held the role already. KindNotFound for a role the tenant does not have;
// KindForbidden when the signer is neither a Privileged Role Administrator
// nor a Global Administrator; KindInvalid for a principal id that is not a
// GUID.
//
// Graph requests: the role definitions (once per session), the principal's
// assignments of that role, and the assignment: 3, or 2 when held already.
func (s *session) AssignRole(ctx context.Context, principalID, role string) (bool, error) {
	def, existing, err := s.roleAssignmentsOf(ctx, principalID, role)
	if err != nil {
		return false, err
	}
	if len(existing) > 0 {
		s.log.InfoContext(ctx, "role already held", "principal", principalID, "role", def.name)
		return true, nil
	}
	body := models.NewUnifiedRoleAssignment()
	body.SetPrincipalId(&principalID)
	body.SetRoleDefinitionId(&def.id)
	body.SetDirectoryScopeId(ptr("/"))
	_, err = rolemanagement.NewRoleManagementRequestBuilderInternal(s.params(), s.graph).Directory().RoleAssignments().Post(ctx, body, nil)
	status, code, msg := odataDetail(err)
	switch {
	case err == nil:
		s.log.InfoContext(ctx, "role assigned", "principal", principalID, "role", def.name)
		return false, nil
	case status == http.StatusConflict || status == http.StatusBadRequest && strings.Contains(strings.ToLower(msg), "conflicting object"):
		// Assigned in the meantime: Graph answers a duplicate with a conflict.
		return true, nil
	case status == http.StatusForbidden:
		s.log.InfoContext(ctx, "role assignment refused", "principal", principalID, "role", def.name, "code", code)
		return false, appreg.Wrap(appreg.KindForbidden, fmt.Errorf("graph assign role: %d %s: %w", status, code, err),
			fmt.Sprintf("Assigning directory roles needs %s; the admin who signed in cannot give the role %s.", roleWriters, def.name))
	}
	return false, s.graphError(ctx, "give the role "+def.name, err)
}

// RemoveRole takes a directory role, by display name (any case), from a
// principal. It reports true when the principal did not hold it. Errors as
// AssignRole's.
//
// Graph requests: the role definitions (once per session), the principal's
// assignments of that role, and one deletion per assignment (normally 1).
func (s *session) RemoveRole(ctx context.Context, principalID, role string) (bool, error) {
	def, existing, err := s.roleAssignmentsOf(ctx, principalID, role)
	if err != nil {
		return false, err
	}
	if len(existing) == 0 {
		s.log.InfoContext(ctx, "role not held", "principal", principalID, "role", def.name)
		return true, nil
	}
	b := rolemanagement.NewRoleManagementRequestBuilderInternal(s.params(), s.graph).Directory().RoleAssignments()
	for _, ra := range existing {
		err := b.ByUnifiedRoleAssignmentId(deref(ra.GetId())).Delete(ctx, nil)
		status, code, _ := odataDetail(err)
		switch {
		case err == nil || status == http.StatusNotFound:
			continue
		case status == http.StatusForbidden:
			s.log.InfoContext(ctx, "role removal refused", "principal", principalID, "role", def.name, "code", code)
			return false, appreg.Wrap(appreg.KindForbidden, fmt.Errorf("graph remove role: %d %s: %w", status, code, err),
				fmt.Sprintf("Removing directory roles needs %s; the admin who signed in cannot take away the role %s.", roleWriters, def.name))
		}
		return false, s.graphError(ctx, "take away the role "+def.name, err)
	}
	s.log.InfoContext(ctx, "role removed", "principal", principalID, "role", def.name)
	return false, nil
}

// roleAssignmentsOf resolves a role by name and returns the principal's
// assignments of it.
func (s *session) roleAssignmentsOf(ctx context.Context, principalID, role string) (roleDefinition, []models.UnifiedRoleAssignmentable, error) {
	if !isGUID(principalID) {
		return roleDefinition{}, nil, appreg.Errorf(appreg.KindInvalid, "%q is not a principal's object id.", principalID)
	}
	def, err := s.roleDefinition(ctx, role)
	if err != nil {
		return roleDefinition{}, nil, err
	}
	filter := "principalId eq '" + principalID + "' and roleDefinitionId eq '" + def.id + "'"
	res, err := rolemanagement.NewRoleManagementRequestBuilderInternal(s.params(), s.graph).Directory().RoleAssignments().Get(ctx,
		&rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetRequestConfiguration{QueryParameters: &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetQueryParameters{
			Filter: &filter, Select: []string{"id", "principalId", "roleDefinitionId", "directoryScopeId"}}})
	if err != nil {
		return roleDefinition{}, nil, s.graphError(ctx, "read who holds the role "+def.name, err)
	}
	var out []models.UnifiedRoleAssignmentable
	for _, ra := range res.GetValue() {
		if cmp.Or(deref(ra.GetDirectoryScopeId()), "/") == "/" {
			out = append(out, ra)
		}
	}
	return def, out, nil
}

// roleDefinition resolves a directory role by display name, ignoring case,
// from the tenant's role definitions, read once per session. KindNotFound
// for a role the tenant does not have.
func (s *session) roleDefinition(ctx context.Context, role string) (roleDefinition, error) {
	s.mu.Lock()
	defs := s.roleDefs
	s.mu.Unlock()
	if defs == nil {
		res, err := rolemanagement.NewRoleManagementRequestBuilderInternal(s.params(), s.graph).Directory().RoleDefinitions().Get(ctx,
			&rolemanagement.DirectoryRoleDefinitionsRequestBuilderGetRequestConfiguration{QueryParameters: &rolemanagement.DirectoryRoleDefinitionsRequestBuilderGetQueryParameters{
				Select: []string{"id", "displayName", "templateId"}}})
		if err != nil {
			return roleDefinition{}, s.graphError(ctx, "read the tenant's directory roles", err)
		}
		defs = make([]roleDefinition, 0, len(res.GetValue()))
		for _, d := range res.GetValue() {
			defs = append(defs, roleDefinition{id: cmp.Or(deref(d.GetId()), deref(d.GetTemplateId())), name: deref(d.GetDisplayName())})
		}
		s.mu.Lock()
		s.roleDefs = defs
		s.mu.Unlock()
	}
	want := strings.Join(strings.Fields(role), " ")
	for _, d := range defs {
		if strings.EqualFold(d.name, want) {
			return d, nil
		}
	}
	return roleDefinition{}, appreg.Errorf(appreg.KindNotFound, "The tenant has no directory role called %q.", role)
}

func isGUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}
