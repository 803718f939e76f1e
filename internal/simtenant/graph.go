package simtenant

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// graphRequest is one Graph request being answered; mu is held throughout.
type graphRequest struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	t      *tenant
	caller *user        // the signed-in user, nil for an app-only token
	app    *application // the calling app of an app-only token
	scope  string       // the token's scopes, as requested
	body   []byte
}

var (
	keySegment = regexp.MustCompile(`^(\w+)\((\w+)='((?:[^']|'')*)'\)$`)
	filterEq   = regexp.MustCompile(`^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$`)
	filterIn   = regexp.MustCompile(`^\s*(\w+)\s+in\s+\((.*)\)\s*$`)
	quoted     = regexp.MustCompile(`'((?:[^']|'')*)'`)
)

// Privileges, by the directory roles that grant them: writing applications
// and service principals, admin consent to a Microsoft Graph application
// permission, and admin consent to another API's.
func appWriters() []string {
	return []string{GlobalAdministrator, ApplicationAdministrator, CloudApplicationAdministrator}
}

func graphConsenters() []string { return []string{GlobalAdministrator, PrivilegedRoleAdministrator} }

func otherConsenters() []string { return append(appWriters(), PrivilegedRoleAdministrator) }

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/v1.0")
	s.calls = append(s.calls, r.Method+" "+r.URL.Path)
	g := &graphRequest{s: s, w: w, r: r}
	for _, f := range s.faults {
		if f.left > 0 && (f.method == "" || f.method == r.Method) && strings.HasPrefix(path, f.prefix) {
			f.left--
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			g.fail(f.Status, f.Code, f.Message)
			return
		}
	}
	if !g.authenticate() {
		return
	}
	body, err := readBody(r)
	if err != nil {
		g.fail(http.StatusBadRequest, "BadRequest", "Unable to read the request body: "+err.Error())
		return
	}
	g.body = body
	g.route(strings.Split(strings.Trim(path, "/"), "/"))
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		rd = zr
	}
	return io.ReadAll(rd)
}

func (g *graphRequest) authenticate() bool {
	v, ok := strings.CutPrefix(g.r.Header.Get("Authorization"), "Bearer ")
	tk := g.s.tokens[v]
	switch {
	case !ok || v == "":
		g.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
	case tk == nil || tk.refresh || tk.audience != "https://graph.microsoft.com":
		g.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", "Invalid JWT token. The token is not issued for this audience.")
	case !g.s.opts.Now().Before(tk.expires):
		g.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
	default:
		g.t, g.caller, g.app, g.scope = tk.tenant, tk.user, tk.app, tk.scope
		return true
	}
	return false
}

// route dispatches on the path segments after /v1.0.
func (g *graphRequest) route(seg []string) {
	m := g.r.Method
	key := keySegment.FindStringSubmatch(seg[0])
	switch {
	case len(seg) == 1 && seg[0] == "organization" && m == http.MethodGet:
		g.organization()
	case len(seg) == 3 && seg[0] == "me" && seg[1] == "transitiveMemberOf" && seg[2] == "microsoft.graph.directoryRole" && m == http.MethodGet:
		g.myDirectoryRoles()
	case len(seg) == 1 && seg[0] == "applications" && m == http.MethodGet:
		g.listApplications()
	case len(seg) == 1 && key != nil && key[1] == "applications" && key[2] == "uniqueName":
		g.applicationByUniqueName(unquote(key[3]))
	case len(seg) >= 2 && seg[0] == "applications":
		g.application(seg[1], seg[2:])
	case len(seg) == 1 && seg[0] == "servicePrincipals" && m == http.MethodGet:
		g.listServicePrincipals()
	case len(seg) == 1 && seg[0] == "servicePrincipals" && m == http.MethodPost:
		g.createServicePrincipal()
	case len(seg) == 1 && key != nil && key[1] == "servicePrincipals" && key[2] == "appId":
		g.servicePrincipalByAppID(unquote(key[3]))
	case len(seg) == 2 && seg[0] == "servicePrincipals" && m == http.MethodGet:
		if sp := g.t.spByID(seg[1]); sp != nil {
			g.ok(http.StatusOK, g.spJSON(sp))
		} else {
			g.notFound(seg[1])
		}
	case len(seg) == 3 && seg[0] == "servicePrincipals" && seg[2] == "appRoleAssignedTo":
		g.appRoleAssignedTo(seg[1])
	case len(seg) == 4 && seg[0] == "servicePrincipals" && (seg[2] == "appRoleAssignedTo" || seg[2] == "appRoleAssignments"):
		g.appRoleAssignment(seg[1], seg[2], seg[3])
	case len(seg) == 3 && seg[0] == "servicePrincipals" && seg[2] == "appRoleAssignments" && m == http.MethodGet:
		g.appRoleAssignments(seg[1])
	case len(seg) == 1 && seg[0] == "oauth2PermissionGrants" && m == http.MethodGet:
		g.listGrants()
	case len(seg) == 2 && seg[0] == "oauth2PermissionGrants":
		g.permissionGrant(seg[1])
	case len(seg) == 1 && seg[0] == "users" && m == http.MethodGet:
		g.listUsers()
	case len(seg) == 2 && seg[0] == "users" && m == http.MethodGet:
		g.getUser(seg[1])
	case len(seg) >= 3 && seg[0] == "roleManagement" && seg[1] == "directory" && seg[2] == "roleDefinitions":
		g.roleDefinitions(seg[3:])
	case len(seg) >= 3 && seg[0] == "roleManagement" && seg[1] == "directory" && seg[2] == "roleAssignments":
		g.roleAssignments(seg[3:])
	default:
		g.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg[len(seg)-1]))
	}
}

func (g *graphRequest) organization() {
	var domains []map[string]any
	for i, d := range g.t.Domains {
		domains = append(domains, map[string]any{"name": d, "isDefault": i == 0, "isInitial": strings.HasSuffix(d, ".onmicrosoft.com"),
			"type": "Managed", "capabilities": "Email, OfficeCommunicationsOnline"})
	}
	g.collection("organization", []any{map[string]any{"id": g.t.ID, "displayName": g.t.DisplayName, "verifiedDomains": domains}})
}

func (g *graphRequest) myDirectoryRoles() {
	if g.caller == nil {
		g.fail(http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
		return
	}
	var roles []any
	for _, name := range g.t.roles(g.caller) {
		roles = append(roles, map[string]any{"@odata.type": "#microsoft.graph.directoryRole", "id": g.t.roleID(name),
			"displayName": name, "description": "", "roleTemplateId": g.t.roleDefinition(name, true).ID})
	}
	g.collection("directoryObjects/microsoft.graph.directoryRole", roles)
}

func (g *graphRequest) listApplications() {
	field, values, ok := g.filter()
	if !ok {
		return
	}
	var out []any
	for _, a := range g.t.apps {
		if field == "" || field == "displayName" && slices.Contains(values, a.DisplayName) || field == "appId" && slices.Contains(values, a.AppID) {
			out = append(out, g.appJSON(a))
		}
	}
	g.collection("applications", out)
}

// applicationByUniqueName serves GET and PATCH (upsert with Prefer:
// create-if-missing) of applications(uniqueName='…').
func (g *graphRequest) applicationByUniqueName(name string) {
	i := slices.IndexFunc(g.t.apps, func(a *application) bool { return strings.EqualFold(a.UniqueName, name) })
	switch g.r.Method {
	case http.MethodGet:
		if i < 0 {
			g.notFound(name)
			return
		}
		g.ok(http.StatusOK, g.appJSON(g.t.apps[i]))
	case http.MethodPatch:
		if !g.require(appWriters()) {
			return
		}
		var in appInput
		if !g.decode(&in) {
			return
		}
		if i >= 0 {
			g.t.apps[i].update(in)
			g.w.WriteHeader(http.StatusNoContent)
			return
		}
		if !strings.Contains(g.r.Header.Get("Prefer"), "create-if-missing") {
			g.notFound(name)
			return
		}
		if in.DisplayName == nil || *in.DisplayName == "" {
			g.fail(http.StatusBadRequest, "Request_BadRequest", "A value is required for property 'displayName' of resource 'Application'.")
			return
		}
		a := &application{Application: Application{ObjectID: newID(), AppID: newID(), UniqueName: name}, replicate: g.s.replicate, created: g.s.opts.Now()}
		a.update(in)
		g.t.apps = append(g.t.apps, a)
		g.ok(http.StatusCreated, g.appJSON(a))
	default:
		g.methodNotAllowed()
	}
}

// application serves /applications/{id} and its actions.
func (g *graphRequest) application(id string, rest []string) {
	a := g.t.appByObjectID(id)
	if a == nil {
		g.notFound(id)
		return
	}
	switch {
	case len(rest) == 0 && g.r.Method == http.MethodGet:
		g.ok(http.StatusOK, g.appJSON(a))
	case len(rest) == 0 && g.r.Method == http.MethodPatch:
		var in appInput
		if !g.require(appWriters()) || !g.decode(&in) {
			return
		}
		if in.KeyCredentials != nil {
			if status, code, msg := g.setKeyCredentials(a, *in.KeyCredentials); status != 0 {
				g.fail(status, code, msg)
				return
			}
		}
		a.update(in)
		g.w.WriteHeader(http.StatusNoContent)
	case len(rest) == 1 && rest[0] == "addPassword" && g.r.Method == http.MethodPost:
		g.addPassword(a)
	case len(rest) == 1 && rest[0] == "removePassword" && g.r.Method == http.MethodPost:
		var in struct {
			KeyID string `json:"keyId"`
		}
		if !g.require(appWriters()) || !g.decode(&in) {
			return
		}
		i := slices.IndexFunc(a.secrets, func(sv *secretValue) bool { return strings.EqualFold(sv.KeyID, in.KeyID) })
		if i < 0 {
			g.fail(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("No password credential found with keyId '%s'.", in.KeyID))
			return
		}
		a.secrets = slices.Delete(a.secrets, i, i+1)
		g.w.WriteHeader(http.StatusNoContent)
	default:
		g.methodNotAllowed()
	}
}

func (g *graphRequest) addPassword(a *application) {
	var in struct {
		PasswordCredential struct {
			DisplayName string     `json:"displayName"`
			EndDateTime *time.Time `json:"endDateTime"`
		} `json:"passwordCredential"`
	}
	if !g.require(appWriters()) || !g.decode(&in) {
		return
	}
	now := g.s.opts.Now().UTC()
	end := now.AddDate(2, 0, 0)
	if e := in.PasswordCredential.EndDateTime; e != nil {
		end = e.UTC()
	}
	if max := g.t.secretMax; max > 0 && end.Sub(now) > max {
		msg := "Credential lifetime exceeds the max value allowed as per assigned policy."
		if g.t.secretMaxShown {
			msg += fmt.Sprintf(" The maximum allowed lifetime is %d days.", int(max/(24*time.Hour)))
		}
		g.fail(http.StatusBadRequest, "Request_BadRequest", msg)
		return
	}
	sv := a.addSecret(in.PasswordCredential.DisplayName, now, end, g.s.replicate)
	text := sv.text
	out := secretJSON(sv.Secret)
	out["@odata.context"] = g.s.URL() + "/v1.0/$metadata#microsoft.graph.passwordCredential"
	out["secretText"] = text
	g.ok(http.StatusOK, out)
}

func (g *graphRequest) listServicePrincipals() {
	field, values, ok := g.filter()
	if !ok {
		return
	}
	var out []any
	for _, sp := range g.t.sps {
		if field == "" || field == "appId" && slices.Contains(values, sp.AppID) || field == "displayName" && slices.Contains(values, sp.DisplayName) ||
			field == "id" && slices.Contains(values, sp.ObjectID) {
			out = append(out, g.spJSON(sp))
		}
	}
	g.collection("servicePrincipals", out)
}

func (g *graphRequest) createServicePrincipal() {
	var in struct {
		AppID string `json:"appId"`
	}
	if !g.require(appWriters()) || !g.decode(&in) {
		return
	}
	g.newServicePrincipal(in.AppID)
}

// servicePrincipalByAppID serves GET and PATCH (upsert) of
// servicePrincipals(appId='…').
func (g *graphRequest) servicePrincipalByAppID(appID string) {
	sp := g.t.spByAppID(appID)
	switch {
	case g.r.Method == http.MethodGet && sp != nil:
		g.ok(http.StatusOK, g.spJSON(sp))
	case g.r.Method == http.MethodGet:
		g.notFound(appID)
	case g.r.Method != http.MethodPatch:
		g.methodNotAllowed()
	case !g.require(appWriters()):
	case sp != nil:
		g.w.WriteHeader(http.StatusNoContent)
	case !strings.Contains(g.r.Header.Get("Prefer"), "create-if-missing"):
		g.notFound(appID)
	default:
		g.newServicePrincipal(appID)
	}
}

func (g *graphRequest) newServicePrincipal(appID string) {
	i := slices.IndexFunc(g.t.apps, func(a *application) bool { return strings.EqualFold(a.AppID, appID) })
	switch {
	case i < 0:
		g.fail(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("The appId '%s' of the service principal does not reference a valid application object.", appID))
	case g.t.spByAppID(appID) != nil:
		g.fail(http.StatusConflict, "Request_MultipleObjectsWithSameKeyValue", fmt.Sprintf(
			"The service principal cannot be created, updated, or restored because the service principal name %s is already in use.", appID))
	default:
		g.ok(http.StatusCreated, g.spJSON(g.t.addSP(appID, g.t.apps[i].DisplayName, nil)))
	}
}

func (g *graphRequest) appRoleAssignedTo(resourceID string) {
	resource := g.t.spByID(resourceID)
	if resource == nil {
		g.notFound(resourceID)
		return
	}
	if g.r.Method == http.MethodGet {
		var out []any
		for _, as := range g.t.assignments {
			if as.ResourceID == resourceID {
				out = append(out, g.assignmentJSON(as))
			}
		}
		g.collection("servicePrincipals('"+resourceID+"')/appRoleAssignedTo", out)
		return
	}
	var in struct {
		PrincipalID string `json:"principalId"`
		ResourceID  string `json:"resourceId"`
		AppRoleID   string `json:"appRoleId"`
	}
	if g.r.Method != http.MethodPost {
		g.methodNotAllowed()
		return
	}
	need := otherConsenters()
	if resource.AppID == GraphAppID {
		need = graphConsenters()
	}
	if !g.require(need) || !g.decode(&in) {
		return
	}
	role := slices.IndexFunc(resource.appRoles, func(r AppRole) bool { return strings.EqualFold(r.ID, in.AppRoleID) })
	principal := g.t.spByID(in.PrincipalID)
	switch {
	case !strings.EqualFold(in.ResourceID, resourceID):
		g.fail(http.StatusBadRequest, "Request_BadRequest", "The resourceId of the app role assignment must be the service principal in the URL.")
	case principal == nil:
		g.fail(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", in.PrincipalID))
	case role < 0:
		g.fail(http.StatusBadRequest, "Request_BadRequest", "Permission being assigned was not found on application '"+resource.AppID+"'.")
	case slices.ContainsFunc(g.t.assignments, func(a Assignment) bool {
		return a.PrincipalID == principal.ObjectID && a.ResourceID == resourceID && strings.EqualFold(a.AppRoleID, in.AppRoleID)
	}):
		g.fail(http.StatusBadRequest, "Request_BadRequest", "Permission being assigned already exists on the object")
	default:
		as := Assignment{ID: newID(), PrincipalID: principal.ObjectID, ResourceID: resourceID, AppRoleID: resource.appRoles[role].ID,
			ResourceDisplayName: resource.DisplayName, Permission: resource.appRoles[role].Value}
		g.t.assignments = append(g.t.assignments, as)
		g.ok(http.StatusCreated, g.assignmentJSON(as))
	}
}

func (g *graphRequest) listGrants() {
	field, values, ok := g.filter()
	if !ok {
		return
	}
	var out []any
	for _, gr := range g.t.grants {
		if field == "" || field == "clientId" && slices.Contains(values, gr.ClientID) || field == "resourceId" && slices.Contains(values, gr.ResourceID) {
			out = append(out, grantJSON(gr))
		}
	}
	g.collection("oauth2PermissionGrants", out)
}

// appInput is the part of an application a PATCH may set.
type appInput struct {
	DisplayName            *string `json:"displayName"`
	RequiredResourceAccess *[]struct {
		ResourceAppID  string `json:"resourceAppId"`
		ResourceAccess []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"resourceAccess"`
	} `json:"requiredResourceAccess"`
	KeyCredentials *[]keyCredentialIn `json:"keyCredentials"`
}

func (a *application) update(in appInput) {
	if in.DisplayName != nil {
		a.DisplayName = *in.DisplayName
	}
	if in.RequiredResourceAccess != nil {
		a.RequiredResourceAccess = nil
		for _, rra := range *in.RequiredResourceAccess {
			ra := ResourceAccess{ResourceAppID: rra.ResourceAppID}
			for _, x := range rra.ResourceAccess {
				ra.IDs = append(ra.IDs, x.ID)
			}
			a.RequiredResourceAccess = append(a.RequiredResourceAccess, ra)
		}
	}
}

func (t *tenant) appByObjectID(id string) *application {
	for _, a := range t.apps {
		if strings.EqualFold(a.ObjectID, id) {
			return a
		}
	}
	return nil
}

func (t *tenant) spByID(id string) *servicePrincipal {
	for _, sp := range t.sps {
		if strings.EqualFold(sp.ObjectID, id) {
			return sp
		}
	}
	return nil
}

func (t *tenant) spByAppID(appID string) *servicePrincipal {
	for _, sp := range t.sps {
		if strings.EqualFold(sp.AppID, appID) {
			return sp
		}
	}
	return nil
}

func (g *graphRequest) appJSON(a *application) map[string]any {
	rra := []any{}
	for _, ra := range a.RequiredResourceAccess {
		acc := []any{}
		for _, id := range ra.IDs {
			acc = append(acc, map[string]any{"id": id, "type": "Role"})
		}
		rra = append(rra, map[string]any{"resourceAppId": ra.ResourceAppID, "resourceAccess": acc})
	}
	creds := []any{}
	for _, sv := range a.secrets {
		creds = append(creds, secretJSON(sv.Secret))
	}
	keys := []any{}
	for _, cv := range a.certs {
		keys = append(keys, certJSON(cv.Certificate))
	}
	return map[string]any{
		"@odata.context": g.s.URL() + "/v1.0/$metadata#applications/$entity",
		"id":             a.ObjectID, "appId": a.AppID, "displayName": a.DisplayName, "uniqueName": a.UniqueName,
		"createdDateTime": a.created.UTC().Format(time.RFC3339), "signInAudience": "AzureADMyOrg",
		"publisherDomain": g.t.Domains[0], "requiredResourceAccess": rra, "passwordCredentials": creds, "keyCredentials": keys,
	}
}

func secretJSON(sv Secret) map[string]any {
	return map[string]any{"customKeyIdentifier": nil, "displayName": sv.DisplayName, "endDateTime": sv.End.Format(time.RFC3339),
		"hint": sv.Hint, "keyId": sv.KeyID, "secretText": nil, "startDateTime": sv.Start.Format(time.RFC3339)}
}

func (g *graphRequest) spJSON(sp *servicePrincipal) map[string]any {
	roles := []any{}
	for _, r := range sp.appRoles {
		roles = append(roles, map[string]any{"allowedMemberTypes": []string{"Application"}, "description": r.Value, "displayName": r.Value,
			"id": r.ID, "isEnabled": true, "origin": "Application", "value": r.Value})
	}
	return map[string]any{"id": sp.ObjectID, "appId": sp.AppID, "displayName": sp.DisplayName, "servicePrincipalType": "Application",
		"accountEnabled": true, "appRoles": roles, "oauth2PermissionScopes": []any{}}
}

func (g *graphRequest) assignmentJSON(as Assignment) map[string]any {
	principal := g.t.spByID(as.PrincipalID)
	return map[string]any{"id": as.ID, "appRoleId": as.AppRoleID, "principalId": as.PrincipalID, "principalType": "ServicePrincipal",
		"principalDisplayName": principal.DisplayName, "resourceId": as.ResourceID, "resourceDisplayName": as.ResourceDisplayName,
		"createdDateTime": g.s.opts.Now().UTC().Format(time.RFC3339), "deletedDateTime": nil}
}

// filter parses $filter: "field eq 'v'" or "field in ('a','b')". An empty
// filter gives field "". It answers 400 for anything else.
func (g *graphRequest) filter() (field string, values []string, ok bool) {
	f := g.r.URL.Query().Get("$filter")
	if f == "" {
		return "", nil, true
	}
	if m := filterEq.FindStringSubmatch(f); m != nil {
		return m[1], []string{unquote(m[2])}, true
	}
	if m := filterIn.FindStringSubmatch(f); m != nil {
		for _, q := range quoted.FindAllStringSubmatch(m[2], -1) {
			values = append(values, unquote(q[1]))
		}
		return m[1], values, true
	}
	g.fail(http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported Query.")
	return "", nil, false
}

func unquote(s string) string { return strings.ReplaceAll(s, "''", "'") }

// require answers 403 unless the caller holds one of the roles. App-only
// callers may read but not write.
// requireScope refuses a delegated token that was not issued for
// permission (nor for .default, which is every permission consented).
func (g *graphRequest) requireScope(permission string) bool {
	if g.caller == nil || strings.Contains(g.scope, ".default") || slices.ContainsFunc(strings.Fields(g.scope), func(s string) bool {
		return s == permission || strings.HasSuffix(s, "/"+permission)
	}) {
		return true
	}
	g.fail(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation: the token lacks the "+permission+" permission.")
	return false
}

func (g *graphRequest) require(roles []string) bool {
	if g.caller != nil && g.t.hasAnyRole(g.caller, roles...) {
		return true
	}
	g.fail(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	return false
}

func (g *graphRequest) decode(v any) bool {
	if err := json.Unmarshal(g.body, v); err != nil {
		g.fail(http.StatusBadRequest, "BadRequest", "Invalid JSON in the request body.")
		return false
	}
	return true
}

func (g *graphRequest) collection(context string, items []any) {
	if items == nil {
		items = []any{}
	}
	g.ok(http.StatusOK, map[string]any{"@odata.context": g.s.URL() + "/v1.0/$metadata#" + context, "value": items})
}

func (g *graphRequest) ok(status int, v any) {
	g.w.Header().Set("request-id", newID())
	writeJSON(g.w, status, v)
}

func (g *graphRequest) notFound(id string) {
	g.fail(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

func (g *graphRequest) methodNotAllowed() {
	g.fail(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

// fail writes an OData error.
func (g *graphRequest) fail(status int, code, message string) {
	if code == "" {
		code = http.StatusText(status)
	}
	id := newID()
	g.w.Header().Set("request-id", id)
	writeJSON(g.w, status, map[string]any{"error": map[string]any{"code": code, "message": message,
		"innerError": map[string]any{"date": g.s.opts.Now().UTC().Format(time.RFC3339), "request-id": id, "client-request-id": g.r.Header.Get("client-request-id")}}})
}
