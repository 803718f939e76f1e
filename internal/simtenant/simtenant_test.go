package simtenant_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/simtenant"
)

const tenantID = "11111111-2222-4333-8444-555555555555"

func newServer(t *testing.T) *simtenant.Server {
	t.Helper()
	s := simtenant.New(simtenant.Options{})
	t.Cleanup(s.Close)
	s.AddTenant(simtenant.Tenant{ID: tenantID, DisplayName: "Contoso", Domains: []string{"contoso.onmicrosoft.com", "contoso.example"}})
	s.AddUser(tenantID, simtenant.User{UPN: "admin@contoso.example", DisplayName: "Admin", Roles: []string{simtenant.ApplicationAdministrator}})
	return s
}

// post sends a form and decodes the JSON answer.
func post(t *testing.T, s *simtenant.Server, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := s.Client().PostForm(s.URL()+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// signIn runs the device-code flow by hand and returns the access token.
func signIn(t *testing.T, s *simtenant.Server) string {
	t.Helper()
	form := url.Values{"client_id": {s.ClientID()}, "scope": {"https://graph.microsoft.com/.default openid offline_access profile"}}
	status, dc := post(t, s, "/contoso.example/oauth2/v2.0/devicecode", form)
	if status != 200 || dc["user_code"] == "" || dc["interval"] != 5.0 || dc["expires_in"] != 900.0 {
		t.Fatalf("devicecode: %d %v", status, dc)
	}
	poll := url.Values{"grant_type": {"device_code"}, "client_id": {s.ClientID()}, "device_code": {dc["device_code"].(string)}, "scope": form["scope"]}
	if status, body := post(t, s, "/contoso.example/oauth2/v2.0/token", poll); status != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("poll before approval: %d %v", status, body)
	}
	if err := s.Approve("", "admin@contoso.example"); err != nil {
		t.Fatal(err)
	}
	status, tok := post(t, s, "/"+tenantID+"/oauth2/v2.0/token", poll)
	if status != 200 || tok["scope"] != form.Get("scope") || tok["refresh_token"] == "" || tok["token_type"] != "Bearer" {
		t.Fatalf("token: %d %v", status, tok)
	}
	info, _ := base64.RawURLEncoding.DecodeString(tok["client_info"].(string))
	claims, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok["id_token"].(string), ".")[1])
	if !strings.Contains(string(info), `"utid":"`+tenantID+`"`) || !strings.Contains(string(claims), `"preferred_username":"admin@contoso.example"`) {
		t.Errorf("client_info %s, id token %s", info, claims)
	}
	if status, body := post(t, s, "/"+tenantID+"/oauth2/v2.0/token", poll); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("second redemption: %d %v", status, body)
	}
	return tok["access_token"].(string)
}

func graph(t *testing.T, s *simtenant.Server, method, path, token string, body string, header http.Header) (*http.Response, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(body))
	_ = zw.Close()
	req, _ := http.NewRequest(method, s.URL()+"/v1.0"+path, &buf)
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Encoding", "gzip")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

func TestOpenIDConfiguration(t *testing.T) {
	s := newServer(t)
	resp, err := s.Client().Get(s.URL() + "/contoso.example/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if cfg["issuer"] != s.URL()+"/"+tenantID+"/v2.0" || cfg["token_endpoint"] != s.URL()+"/"+tenantID+"/oauth2/v2.0/token" {
		t.Errorf("configuration = %v", cfg)
	}
	if strings.Contains(s.URL(), "token") {
		t.Errorf("the server URL %s contains \"token\", which breaks MSAL's devicecode URL", s.URL())
	}
	if status, body := post(t, s, "/fabrikam.example/oauth2/v2.0/devicecode", url.Values{"client_id": {s.ClientID()}}); status != 400 || body["error"] != "invalid_tenant" {
		t.Errorf("unknown tenant: %d %v", status, body)
	}
}

func TestGraphWire(t *testing.T) {
	s := newServer(t)
	token := signIn(t, s)
	if resp, body := graph(t, s, "GET", "/organization", "", "", nil); resp.StatusCode != 401 || body["error"].(map[string]any)["code"] != "InvalidAuthenticationToken" {
		t.Errorf("without a token: %d %v", resp.StatusCode, body)
	}
	prefer := http.Header{"Prefer": {"create-if-missing"}}
	body := `{"displayName":"Contoso-DR","requiredResourceAccess":[{"resourceAppId":"` + simtenant.GraphAppID + `","resourceAccess":[{"id":"498476ce-e0fe-48b0-b801-37ba7e2685c6","type":"Role"}]}]}`
	resp, app := graph(t, s, "PATCH", "/applications(uniqueName='k1')", token, body, prefer)
	if resp.StatusCode != 201 || app["displayName"] != "Contoso-DR" {
		t.Fatalf("upsert: %d %v", resp.StatusCode, app)
	}
	if resp, _ := graph(t, s, "PATCH", "/applications(uniqueName='k1')", token, body, prefer); resp.StatusCode != 204 {
		t.Errorf("second upsert: %d, want 204", resp.StatusCode)
	}
	s.Throttle("POST", "/applications/", 1)
	path := "/applications/" + app["id"].(string) + "/addPassword"
	pw := `{"passwordCredential":{"displayName":"x","endDateTime":"` + time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339) + `"}}`
	if resp, _ := graph(t, s, "POST", path, token, pw, nil); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("throttled: %d %v", resp.StatusCode, resp.Header)
	}
	resp, cred := graph(t, s, "POST", path, token, pw, nil)
	if resp.StatusCode != 200 || len(cred["secretText"].(string)) < 30 {
		t.Errorf("addPassword: %d %v", resp.StatusCode, cred)
	}
	apps := s.Applications(tenantID)
	if len(apps) != 1 || len(apps[0].Secrets) != 1 || apps[0].RequiredResourceAccess[0].IDs[0] != "498476ce-e0fe-48b0-b801-37ba7e2685c6" {
		t.Errorf("applications = %+v", apps)
	}
	if n := len(s.GraphCalls()); n != 5 {
		t.Errorf("%d Graph calls counted, want 5", n)
	}
}

func TestAutoApprove(t *testing.T) {
	s := newServer(t)
	s.AutoApprove("admin@contoso.example", 10*time.Millisecond)
	_, dc := post(t, s, "/"+tenantID+"/oauth2/v2.0/devicecode", url.Values{"client_id": {s.ClientID()}, "scope": {"openid"}})
	poll := url.Values{"grant_type": {"device_code"}, "client_id": {s.ClientID()}, "device_code": {dc["device_code"].(string)}, "scope": {"openid"}}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if status, _ := post(t, s, "/"+tenantID+"/oauth2/v2.0/token", poll); status == 200 {
			return
		}
	}
	t.Fatal("the code was never approved")
}

func TestDirectoryWire(t *testing.T) {
	s := newServer(t)
	token := signIn(t, s)
	get := func(path string) (int, []any) {
		t.Helper()
		resp, body := graph(t, s, "GET", path, token, "", nil)
		v, _ := body["value"].([]any)
		return resp.StatusCode, v
	}
	q := url.QueryEscape
	status, users := get("/users?$filter=" + q("userPrincipalName eq 'ADMIN@contoso.example'"))
	if status != 200 || len(users) != 1 {
		t.Fatalf("users by UPN: %d %v", status, users)
	}
	admin := users[0].(map[string]any)["id"].(string)
	if status, defs := get("/roleManagement/directory/roleDefinitions?$filter=" + q("displayName eq 'teams administrator'")); status != 200 || len(defs) != 1 ||
		defs[0].(map[string]any)["id"] != "69091246-20e8-4a56-aa4d-066075b2a7a8" {
		t.Errorf("role definition by name: %d %v", status, defs)
	}
	filter := q("principalId eq '"+admin+"' and roleDefinitionId eq '9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3'") + "&$expand=roleDefinition"
	status, ras := get("/roleManagement/directory/roleAssignments?$filter=" + filter)
	if status != 200 || len(ras) != 1 || ras[0].(map[string]any)["roleDefinition"].(map[string]any)["displayName"] != simtenant.ApplicationAdministrator {
		t.Fatalf("role assignments of the admin: %d %v", status, ras)
	}
	if status, _ := get("/roleManagement/directory/roleAssignments?$filter=" + q("startswith(principalId,'a')")); status != 400 {
		t.Errorf("unsupported filter: %d, want 400", status)
	}

	// An Application Administrator may not assign directory roles.
	body := `{"principalId":"` + admin + `","roleDefinitionId":"69091246-20e8-4a56-aa4d-066075b2a7a8","directoryScopeId":"/"}`
	if resp, out := graph(t, s, "POST", "/roleManagement/directory/roleAssignments", token, body, nil); resp.StatusCode != 403 ||
		out["error"].(map[string]any)["code"] != "Authorization_RequestDenied" {
		t.Errorf("assignment as an Application Administrator: %d %v", resp.StatusCode, out)
	}
	if _, err := s.AssignRole(tenantID, admin, simtenant.PrivilegedRoleAdministrator); err != nil {
		t.Fatal(err)
	}
	resp, created := graph(t, s, "POST", "/roleManagement/directory/roleAssignments", token, body, nil)
	if resp.StatusCode != 201 || created["principalId"] != admin {
		t.Fatalf("assignment as a Privileged Role Administrator: %d %v", resp.StatusCode, created)
	}
	if resp, out := graph(t, s, "POST", "/roleManagement/directory/roleAssignments", token, body, nil); resp.StatusCode != 400 ||
		!strings.Contains(out["error"].(map[string]any)["message"].(string), "conflicting object") {
		t.Errorf("duplicate assignment: %d %v", resp.StatusCode, out)
	}
	path := "/roleManagement/directory/roleAssignments/" + created["id"].(string)
	for _, want := range []int{204, 404} {
		if resp, _ := graph(t, s, "DELETE", path, token, "", nil); resp.StatusCode != want {
			t.Errorf("DELETE role assignment: %d, want %d", resp.StatusCode, want)
		}
	}
	if n := len(s.RoleAssignments(tenantID)); n != 2 {
		t.Errorf("%d role assignments left, want 2 (the admin's own)", n)
	}

	grants := s.Grants(tenantID)
	if len(grants) != 1 || !strings.Contains(grants[0].Scope, "RoleManagement.ReadWrite.Directory") {
		t.Fatalf("grants = %+v", grants)
	}
	for _, want := range []int{204, 404} {
		if resp, _ := graph(t, s, "DELETE", "/oauth2PermissionGrants/"+grants[0].ID, token, "", nil); resp.StatusCode != want {
			t.Errorf("DELETE grant: %d, want %d", resp.StatusCode, want)
		}
	}
}

func TestDriftControls(t *testing.T) {
	s := newServer(t)
	token := signIn(t, s)
	prefer := http.Header{"Prefer": {"create-if-missing"}}
	resp, app := graph(t, s, "PATCH", "/applications(uniqueName='k1')", token, `{"displayName":"Contoso-DR"}`, prefer)
	if resp.StatusCode != 201 {
		t.Fatalf("upsert: %d %v", resp.StatusCode, app)
	}
	appID := app["appId"].(string)
	resp, sp := graph(t, s, "POST", "/servicePrincipals", token, `{"appId":"`+appID+`"}`, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("service principal: %d %v", resp.StatusCode, sp)
	}
	if err := s.AddPermission(tenantID, appID, simtenant.GraphAppID, "Organization.Read.All"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPermission(tenantID, appID, simtenant.GraphAppID, "No.Such"); err == nil {
		t.Error("AddPermission of an unknown permission succeeded")
	}
	_, list := graph(t, s, "GET", "/servicePrincipals/"+sp["id"].(string)+"/appRoleAssignments", token, "", nil)
	as := list["value"].([]any)
	if len(as) != 1 || as[0].(map[string]any)["appRoleId"] != "498476ce-e0fe-48b0-b801-37ba7e2685c6" {
		t.Fatalf("appRoleAssignments = %v", list)
	}
	sec, err := s.AddSecret(tenantID, appID, "portal", 24*time.Hour)
	if err != nil || len(s.Applications(tenantID)[0].Secrets) != 1 || len(s.Applications(tenantID)[0].RequiredResourceAccess) != 1 {
		t.Fatalf("AddSecret: %v, applications %+v", err, s.Applications(tenantID))
	}
	if err := s.RemoveSecret(tenantID, appID, sec.KeyID); err != nil || s.RemoveSecret(tenantID, appID, sec.KeyID) == nil {
		t.Errorf("RemoveSecret twice: first %v, the second must fail", err)
	}
	assignment := "/servicePrincipals/" + sp["id"].(string) + "/appRoleAssignments/" + as[0].(map[string]any)["id"].(string)
	for _, want := range []int{204, 404} {
		if resp, _ := graph(t, s, "DELETE", assignment, token, "", nil); resp.StatusCode != want {
			t.Errorf("DELETE app role assignment: %d, want %d", resp.StatusCode, want)
		}
	}
	if _, err := s.AssignRole(tenantID, sp["id"].(string), simtenant.TeamsAdministrator); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApplication(tenantID, appID); err != nil {
		t.Fatal(err)
	}
	if len(s.Applications(tenantID)) != 0 || len(s.RoleAssignments(tenantID)) != 1 || s.DeleteApplication(tenantID, appID) == nil {
		t.Errorf("after deletion: applications %+v, role assignments %+v", s.Applications(tenantID), s.RoleAssignments(tenantID))
	}
	if resp, _ := graph(t, s, "GET", "/servicePrincipals(appId='"+appID+"')", token, "", nil); resp.StatusCode != 404 {
		t.Errorf("the service principal outlived its application: %d", resp.StatusCode)
	}
}
