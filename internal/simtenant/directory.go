package simtenant

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// This file serves what a cleanup and a role change need: a service
// principal's app role assignments, delegated grants by id, users, and the
// directory's role definitions and role assignments (roleManagement/directory).

var filterAndEq = regexp.MustCompile(`^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*(?:(?i:and)\s+|$)`)

// roleWriters may assign and remove directory roles.
func roleWriters() []string { return []string{GlobalAdministrator, PrivilegedRoleAdministrator} }

// appRoleAssignments lists the app role assignments a service principal
// holds (the admin consents given to it).
func (g *graphRequest) appRoleAssignments(principalID string) {
	sp := g.t.spByID(principalID)
	if sp == nil {
		g.notFound(principalID)
		return
	}
	var out []any
	for _, as := range g.t.assignments {
		if strings.EqualFold(as.PrincipalID, sp.ObjectID) {
			out = append(out, g.assignmentJSON(as))
		}
	}
	g.collection("servicePrincipals('"+sp.ObjectID+"')/appRoleAssignments", out)
}

// appRoleAssignment serves GET and DELETE of one app role assignment, seen
// from its principal (appRoleAssignments) or its resource
// (appRoleAssignedTo).
func (g *graphRequest) appRoleAssignment(spID, nav, id string) {
	sp := g.t.spByID(spID)
	if sp == nil {
		g.notFound(spID)
		return
	}
	i := slices.IndexFunc(g.t.assignments, func(a Assignment) bool {
		if !strings.EqualFold(a.ID, id) {
			return false
		}
		if nav == "appRoleAssignments" {
			return strings.EqualFold(a.PrincipalID, sp.ObjectID)
		}
		return strings.EqualFold(a.ResourceID, sp.ObjectID)
	})
	switch {
	case g.r.Method != http.MethodGet && g.r.Method != http.MethodDelete:
		g.methodNotAllowed()
	case i < 0:
		g.notFound(id)
	case g.r.Method == http.MethodGet:
		g.ok(http.StatusOK, g.assignmentJSON(g.t.assignments[i]))
	case g.require(otherConsenters()):
		g.t.assignments = slices.Delete(g.t.assignments, i, i+1)
		g.w.WriteHeader(http.StatusNoContent)
	}
}

// permissionGrant serves GET and DELETE of a delegated permission grant.
func (g *graphRequest) permissionGrant(id string) {
	i := slices.IndexFunc(g.t.grants, func(gr grant) bool { return gr.ID == id })
	switch {
	case g.r.Method != http.MethodGet && g.r.Method != http.MethodDelete:
		g.methodNotAllowed()
	case i < 0:
		g.notFound(id)
	case g.r.Method == http.MethodGet:
		g.ok(http.StatusOK, grantJSON(g.t.grants[i]))
	case g.require(otherConsenters()):
		g.t.grants = slices.Delete(g.t.grants, i, i+1)
		g.w.WriteHeader(http.StatusNoContent)
	}
}

func grantJSON(gr grant) map[string]any {
	return map[string]any{"id": gr.ID, "clientId": gr.ClientID, "consentType": "AllPrincipals",
		"principalId": nil, "resourceId": gr.ResourceID, "scope": gr.Scope}
}

// listUsers serves GET /users with $filter on userPrincipalName, id or
// displayName.
func (g *graphRequest) listUsers() {
	conds, ok := g.conditions("userPrincipalName", "id", "displayName", "mail")
	if !ok {
		return
	}
	var out []any
	for _, u := range g.t.users {
		if matches(conds, map[string]string{"userPrincipalName": u.UPN, "mail": u.UPN, "id": u.ID, "displayName": u.DisplayName}) {
			out = append(out, userJSON(u))
		}
	}
	g.collection("users", out)
}

// getUser serves GET /users/{id | userPrincipalName}.
func (g *graphRequest) getUser(key string) {
	i := slices.IndexFunc(g.t.users, func(u *user) bool { return strings.EqualFold(u.ID, key) || strings.EqualFold(u.UPN, key) })
	if i < 0 {
		g.notFound(key)
		return
	}
	out := userJSON(g.t.users[i])
	out["@odata.context"] = g.s.URL() + "/v1.0/$metadata#users/$entity"
	g.ok(http.StatusOK, out)
}

func userJSON(u *user) map[string]any {
	return map[string]any{"id": u.ID, "displayName": u.DisplayName, "userPrincipalName": u.UPN, "mail": u.UPN, "accountEnabled": true}
}

// roleDefinitions serves roleManagement/directory/roleDefinitions: the list
// ($filter on displayName, id or templateId) and one definition by id.
func (g *graphRequest) roleDefinitions(rest []string) {
	switch {
	case g.r.Method != http.MethodGet:
		g.methodNotAllowed()
	case len(rest) == 0:
		conds, ok := g.conditions("displayName", "id", "templateId")
		if !ok {
			return
		}
		var out []any
		for _, d := range g.t.roleDefs {
			if matches(conds, map[string]string{"displayName": d.Name, "id": d.ID, "templateId": d.ID}) {
				out = append(out, roleDefinitionJSON(d))
			}
		}
		g.collection("roleManagement/directory/roleDefinitions", out)
	case len(rest) == 1:
		if d := g.t.roleDefinitionByID(rest[0]); d != nil {
			g.ok(http.StatusOK, roleDefinitionJSON(*d))
		} else {
			g.notFound(rest[0])
		}
	default:
		g.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", rest[len(rest)-1]))
	}
}

func roleDefinitionJSON(d roleDefinition) map[string]any {
	return map[string]any{"id": d.ID, "templateId": d.ID, "displayName": d.Name, "description": "Can manage " + d.Name + " settings.",
		"isBuiltIn": true, "isEnabled": true, "version": "1", "resourceScopes": []string{"/"}, "rolePermissions": []any{}}
}

// roleAssignments serves roleManagement/directory/roleAssignments: the list
// ($filter on principalId and roleDefinitionId, joined by "and";
// $expand=roleDefinition), POST, and GET or DELETE of one assignment.
// Writing needs a Privileged Role Administrator or a Global Administrator.
func (g *graphRequest) roleAssignments(rest []string) {
	switch {
	case len(rest) == 0 && g.r.Method == http.MethodGet:
		conds, ok := g.conditions("principalId", "roleDefinitionId", "directoryScopeId", "id")
		if !ok {
			return
		}
		var out []any
		for _, ra := range g.t.roleAssigns {
			if matches(conds, map[string]string{"principalId": ra.PrincipalID, "roleDefinitionId": ra.RoleDefinitionID, "directoryScopeId": "/", "id": ra.ID}) {
				out = append(out, g.roleAssignmentJSON(ra))
			}
		}
		g.collection("roleManagement/directory/roleAssignments", out)
	case len(rest) == 0 && g.r.Method == http.MethodPost:
		g.createRoleAssignment()
	case len(rest) == 1 && (g.r.Method == http.MethodGet || g.r.Method == http.MethodDelete):
		i := slices.IndexFunc(g.t.roleAssigns, func(ra roleAssignment) bool { return ra.ID == rest[0] })
		switch {
		case i < 0:
			g.notFound(rest[0])
		case g.r.Method == http.MethodGet:
			g.ok(http.StatusOK, g.roleAssignmentJSON(g.t.roleAssigns[i]))
		case g.requireScope("RoleManagement.ReadWrite.Directory") && g.require(roleWriters()):
			g.t.roleAssigns = slices.Delete(g.t.roleAssigns, i, i+1)
			g.w.WriteHeader(http.StatusNoContent)
		}
	default:
		g.methodNotAllowed()
	}
}

func (g *graphRequest) createRoleAssignment() {
	var in struct {
		PrincipalID      string `json:"principalId"`
		RoleDefinitionID string `json:"roleDefinitionId"`
		DirectoryScopeID string `json:"directoryScopeId"`
	}
	if !g.requireScope("RoleManagement.ReadWrite.Directory") || !g.require(roleWriters()) || !g.decode(&in) {
		return
	}
	def := g.t.roleDefinitionByID(in.RoleDefinitionID)
	switch {
	case in.PrincipalID == "" || in.RoleDefinitionID == "" || in.DirectoryScopeID == "":
		g.fail(http.StatusBadRequest, "Request_BadRequest", "principalId, roleDefinitionId and directoryScopeId are required.")
	case in.DirectoryScopeID != "/":
		g.fail(http.StatusBadRequest, "Request_BadRequest", "The stand-in only supports the tenant-wide directory scope '/'.")
	case def == nil:
		g.notFound(in.RoleDefinitionID)
	case g.t.spByID(in.PrincipalID) == nil && g.t.userByID(in.PrincipalID) == nil:
		g.notFound(in.PrincipalID)
	default:
		if _, created := g.t.assignRole(in.PrincipalID, def.ID); !created {
			g.fail(http.StatusBadRequest, "Request_BadRequest", "A conflicting object with one or more of the specified property values is present in the directory.")
			return
		}
		out := g.roleAssignmentJSON(g.t.roleAssigns[len(g.t.roleAssigns)-1])
		out["@odata.context"] = g.s.URL() + "/v1.0/$metadata#roleManagement/directory/roleAssignments/$entity"
		g.ok(http.StatusCreated, out)
	}
}

func (g *graphRequest) roleAssignmentJSON(ra roleAssignment) map[string]any {
	out := map[string]any{"id": ra.ID, "principalId": ra.PrincipalID, "roleDefinitionId": ra.RoleDefinitionID,
		"directoryScopeId": "/", "appScopeId": nil, "principalOrganizationId": g.t.ID}
	if slices.Contains(strings.Split(g.r.URL.Query().Get("$expand"), ","), "roleDefinition") {
		if d := g.t.roleDefinitionByID(ra.RoleDefinitionID); d != nil {
			out["roleDefinition"] = roleDefinitionJSON(*d)
		}
	}
	return out
}

// conditions parses a $filter of "field eq 'v'" clauses joined by "and",
// on the allowed fields. An empty filter gives no conditions. It answers 400
// for anything else.
func (g *graphRequest) conditions(allowed ...string) (map[string]string, bool) {
	f := g.r.URL.Query().Get("$filter")
	conds := map[string]string{}
	for strings.TrimSpace(f) != "" {
		m := filterAndEq.FindStringSubmatchIndex(f)
		if m == nil || !slices.Contains(allowed, f[m[2]:m[3]]) {
			g.fail(http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported Query.")
			return nil, false
		}
		conds[f[m[2]:m[3]]] = unquote(f[m[4]:m[5]])
		f = f[m[1]:]
	}
	return conds, true
}

// matches reports whether every condition holds; values compare
// case-insensitively, as Entra's directory does.
func matches(conds, values map[string]string) bool {
	for k, v := range conds {
		if !strings.EqualFold(values[k], v) {
			return false
		}
	}
	return true
}
