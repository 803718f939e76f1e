package entra

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/google/uuid"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	kiotaazure "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/applicationswithuniquename"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/oauth2permissiongrants"
	"github.com/microsoftgraph/msgraph-sdk-go/organization"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// session is a signed-in admin: an MSAL client with one account and a Graph
// request adapter that takes its tokens from it.
type session struct {
	t        *Tenant
	tenant   string // as in the authority
	client   public.Client
	cache    *tokenCache
	account  public.Account
	identity appreg.Identity
	scopes   []string // the delegated permissions it was signed in for
	graph    abstractions.RequestAdapter
	log      *slog.Logger

	mu        sync.Mutex
	resources map[string]*resourceAPI // by lower-case app id
	roleDefs  []roleDefinition        // the directory's role definitions, read once
}

var _ appreg.Session = (*session)(nil)

// resourceAPI is a resource's service principal in the tenant.
type resourceAPI struct {
	id, appID, name string
	roles           map[string]uuid.UUID // app role value → id
}

// roleName returns the value of the app role with that id, or the id
// itself when the resource has no such role.
func (r *resourceAPI) roleName(id uuid.UUID) string {
	for name, rid := range r.roles {
		if rid == id {
			return name
		}
	}
	return id.String()
}

// newResourceAPI reads a resource's service principal (id, appId,
// displayName, appRoles).
func newResourceAPI(sp models.ServicePrincipalable) *resourceAPI {
	r := &resourceAPI{id: deref(sp.GetId()), appID: deref(sp.GetAppId()), name: deref(sp.GetDisplayName()), roles: map[string]uuid.UUID{}}
	for _, role := range sp.GetAppRoles() {
		if role.GetValue() != nil && role.GetId() != nil {
			r.roles[*role.GetValue()] = *role.GetId()
		}
	}
	return r
}

// newGraphHTTPClient is Graph's middleware over base, in a fixed order:
// compression before retry, so that a retried request resends the same
// compressed body (the default order is a map's and changes between runs).
func newGraphHTTPClient(base http.RoundTripper) *http.Client {
	if base == nil {
		base = http.DefaultTransport
	}
	base = ownBody{base}
	opts := core.GraphClientOptions{GraphServiceLibraryVersion: "1.89.0"}
	return &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(base,
		core.NewGraphTelemetryHandler(&opts),
		khttp.NewUrlReplaceHandler(true, map[string]string{"/users/me-token-to-replace": "/me"}),
		khttp.NewCompressionHandler(),
		newRetryHandler(), // within maxGraphWait: throttle.go
		khttp.NewRedirectHandler(),
		khttp.NewParametersNameDecodingHandler(),
		khttp.NewUserAgentHandler(),
		khttp.NewHeadersInspectionHandler(),
	)}
}

func (t *Tenant) newSession(tenant string, client public.Client, tc *tokenCache, account public.Account, scopes []string) (*session, error) {
	s := &session{t: t, tenant: tenant, client: client, cache: tc, account: account, scopes: scopes,
		log: t.log.With("tenant", account.Realm), resources: map[string]*resourceAPI{}}
	auth, err := kiotaazure.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(s.credential(), scopes, []string{t.graphHost})
	if err != nil {
		return nil, appreg.Wrap(appreg.KindInternal, err, "The Microsoft Graph client cannot be set up.")
	}
	parse := absser.NewParseNodeFactoryRegistry()
	parse.ContentTypeAssociatedFactories["application/json"] = jsonser.NewJsonParseNodeFactory()
	write := absser.NewSerializationWriterFactoryRegistry()
	write.ContentTypeAssociatedFactories["application/json"] = jsonser.NewJsonSerializationWriterFactory()
	adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, core.GraphClientOptions{GraphServiceLibraryVersion: "1.89.0"}, parse, write, t.graphHTTP)
	if err != nil {
		return nil, appreg.Wrap(appreg.KindInternal, err, "The Microsoft Graph client cannot be set up.")
	}
	adapter.SetBaseUrl(t.cfg.GraphEndpoint + "/v1.0")
	s.graph = adapter
	return s, nil
}

func (s *session) credential() msalCredential {
	return msalCredential{client: s.client, account: s.account}
}

// params are fresh path parameters for a request builder (they write into
// the map).
func (s *session) params() map[string]string {
	return map[string]string{"baseurl": s.graph.GetBaseUrl()}
}

func (s *session) Identity() appreg.Identity { return s.identity }

// Export returns the session's MSAL token cache and account as bytes. They
// hold a refresh token: the caller must encrypt them and never log them.
func (s *session) Export() ([]byte, error) {
	b, err := json.Marshal(exportedSession{Version: 1, Tenant: s.tenant, HomeAccountID: s.account.HomeAccountID,
		Identity: s.identity, Cache: s.cache.bytes(), Scopes: s.scopes})
	if err != nil {
		return nil, appreg.Wrap(appreg.KindInternal, err, "The sign-in cannot be saved.")
	}
	return b, nil
}

func (s *session) readOrganization(ctx context.Context, id *appreg.Identity) error {
	orgs, err := organization.NewOrganizationRequestBuilderInternal(s.params(), s.graph).Get(ctx,
		&organization.OrganizationRequestBuilderGetRequestConfiguration{QueryParameters: &organization.OrganizationRequestBuilderGetQueryParameters{
			Select: []string{"id", "displayName", "verifiedDomains"}}})
	if err != nil {
		return s.graphError(ctx, "read the tenant's name", err)
	}
	for _, o := range orgs.GetValue() {
		id.TenantName = deref(o.GetDisplayName())
		id.TenantID = cmp.Or(id.TenantID, deref(o.GetId()))
		for _, d := range o.GetVerifiedDomains() {
			id.Domains = append(id.Domains, deref(d.GetName()))
			if deref(d.GetIsDefault()) {
				id.DefaultDomain = deref(d.GetName())
			}
		}
	}
	return nil
}

// DirectoryRoles returns the display names of the directory roles the admin
// holds, directly or through a group (transitiveMemberOf).
func (s *session) DirectoryRoles(ctx context.Context) ([]string, error) {
	ri := abstractions.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abstractions.GET,
		"{+baseurl}/me/transitiveMemberOf/microsoft.graph.directoryRole{?%24select}", s.params())
	ri.QueryParameters["%24select"] = "displayName"
	ri.Headers.TryAdd("Accept", "application/json")
	res, err := s.graph.Send(ctx, ri, models.CreateDirectoryRoleCollectionResponseFromDiscriminatorValue, errorMapping())
	if err != nil {
		return nil, s.graphError(ctx, "read the admin's roles", err)
	}
	var roles []string
	if c, ok := res.(models.DirectoryRoleCollectionResponseable); ok {
		for _, r := range c.GetValue() {
			roles = append(roles, deref(r.GetDisplayName()))
		}
	}
	return roles, nil
}

// FindApplication returns the registration with that display name, or nil.
func (s *session) FindApplication(ctx context.Context, displayName string) (*appreg.Application, error) {
	filter := "displayName eq '" + strings.ReplaceAll(displayName, "'", "''") + "'"
	res, err := applications.NewApplicationsRequestBuilderInternal(s.params(), s.graph).Get(ctx,
		&applications.ApplicationsRequestBuilderGetRequestConfiguration{QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{
			Filter: &filter, Select: []string{"id", "appId", "displayName"}}})
	if err != nil {
		return nil, s.graphError(ctx, "look up the registration name", err)
	}
	for _, a := range res.GetValue() {
		app := toApplication(a)
		return &app, nil
	}
	return nil, nil
}

// CreateApplication creates the registration, with the permissions as its
// required resource access, under the unique name key: Graph's upsert
// (PATCH applications(uniqueName=…) with Prefer: create-if-missing) makes
// a repeated call return the registration created first. KindInvalid for a
// permission the resource does not offer.
func (s *session) CreateApplication(ctx context.Context, key, displayName string, permissions []appreg.Permission) (appreg.Application, error) {
	rra, err := s.requiredResourceAccess(ctx, permissions)
	if err != nil {
		return appreg.Application{}, err
	}
	body := models.NewApplication()
	body.SetDisplayName(&displayName)
	body.SetRequiredResourceAccess(rra)
	headers := abstractions.NewRequestHeaders()
	headers.Add("Prefer", "create-if-missing")
	b := applicationswithuniquename.NewApplicationsWithUniqueNameRequestBuilderInternal(s.params(), s.graph, &key)
	app, err := b.Patch(ctx, body, &applicationswithuniquename.ApplicationsWithUniqueNameRequestBuilderPatchRequestConfiguration{Headers: headers})
	if err == nil && app == nil { // 204: it was there already
		app, err = b.Get(ctx, &applicationswithuniquename.ApplicationsWithUniqueNameRequestBuilderGetRequestConfiguration{
			QueryParameters: &applicationswithuniquename.ApplicationsWithUniqueNameRequestBuilderGetQueryParameters{Select: []string{"id", "appId", "displayName"}}})
	}
	if err != nil {
		return appreg.Application{}, s.graphError(ctx, "create the registration", err)
	}
	out := toApplication(app)
	s.log.InfoContext(ctx, "registration created", "app", out.AppID, "object", out.ObjectID, "name", out.DisplayName)
	return out, nil
}

func (s *session) requiredResourceAccess(ctx context.Context, permissions []appreg.Permission) ([]models.RequiredResourceAccessable, error) {
	var out []models.RequiredResourceAccessable
	byResource := map[string]models.RequiredResourceAccessable{}
	for _, p := range permissions {
		_, id, err := s.appRole(ctx, p)
		if err != nil {
			return nil, err
		}
		rra, ok := byResource[strings.ToLower(p.Resource)]
		if !ok {
			rra = models.NewRequiredResourceAccess()
			rra.SetResourceAppId(&p.Resource)
			byResource[strings.ToLower(p.Resource)] = rra
			out = append(out, rra)
		}
		ra := models.NewResourceAccess()
		ra.SetId(&id)
		ra.SetTypeEscaped(ptr("Role"))
		rra.SetResourceAccess(append(rra.GetResourceAccess(), ra))
	}
	return out, nil
}

// appRole resolves a permission to its resource and app role id.
// KindInvalid when the resource has no such permission.
func (s *session) appRole(ctx context.Context, p appreg.Permission) (*resourceAPI, uuid.UUID, error) {
	r, err := s.resource(ctx, p.Resource)
	if err != nil {
		return nil, uuid.UUID{}, err
	}
	id, ok := r.roles[p.Name]
	if !ok {
		return nil, uuid.UUID{}, appreg.Errorf(appreg.KindInvalid, "%s has no application permission %q.", r.name, p.Name)
	}
	return r, id, nil
}

// resource returns a resource API's service principal, fetched once per
// session.
func (s *session) resource(ctx context.Context, appID string) (*resourceAPI, error) {
	s.mu.Lock()
	r := s.resources[strings.ToLower(appID)]
	s.mu.Unlock()
	if r != nil {
		return r, nil
	}
	sp, err := serviceprincipalswithappid.NewServicePrincipalsWithAppIdRequestBuilderInternal(s.params(), s.graph, &appID).Get(ctx,
		&serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: []string{"id", "appId", "displayName", "appRoles"}}})
	if err != nil {
		return nil, s.graphError(ctx, "read the permissions of the API "+appID, err)
	}
	r = newResourceAPI(sp)
	r.appID = cmp.Or(r.appID, appID)
	s.mu.Lock()
	s.resources[strings.ToLower(appID)] = r
	s.mu.Unlock()
	return r, nil
}

// EnsureServicePrincipal returns the object id of the app's service
// principal, creating it when missing (upsert by appId; a conflict from a
// concurrent creation means it exists).
func (s *session) EnsureServicePrincipal(ctx context.Context, appID string) (string, error) {
	headers := abstractions.NewRequestHeaders()
	headers.Add("Prefer", "create-if-missing")
	b := serviceprincipalswithappid.NewServicePrincipalsWithAppIdRequestBuilderInternal(s.params(), s.graph, &appID)
	sp, err := b.Patch(ctx, models.NewServicePrincipal(), &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderPatchRequestConfiguration{Headers: headers})
	if (err == nil && sp == nil) || isConflict(err) {
		sp, err = b.Get(ctx, &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: []string{"id"}}})
	}
	if err != nil {
		return "", s.graphError(ctx, "create the registration's service principal", err)
	}
	s.log.InfoContext(ctx, "service principal ready", "app", appID, "object", deref(sp.GetId()))
	return deref(sp.GetId()), nil
}

// GrantConsent gives admin consent to one application permission (an app
// role assignment on the resource's service principal). Already granted is
// success. KindForbidden when the signer may not: Microsoft Graph's
// application permissions need a Privileged Role Administrator or a Global
// Administrator.
func (s *session) GrantConsent(ctx context.Context, servicePrincipal string, p appreg.Permission) error {
	principal, err := uuid.Parse(servicePrincipal)
	if err != nil {
		return appreg.Errorf(appreg.KindInvalid, "%q is not a service principal id.", servicePrincipal)
	}
	r, roleID, err := s.appRole(ctx, p)
	if err != nil {
		return err
	}
	resourceID, err := uuid.Parse(r.id)
	if err != nil {
		return appreg.Wrap(appreg.KindInternal, err, "Microsoft Graph gave an unexpected service principal id.")
	}
	body := models.NewAppRoleAssignment()
	body.SetPrincipalId(&principal)
	body.SetResourceId(&resourceID)
	body.SetAppRoleId(&roleID)
	_, err = serviceprincipals.NewServicePrincipalsRequestBuilderInternal(s.params(), s.graph).ByServicePrincipalId(r.id).AppRoleAssignedTo().Post(ctx, body, nil)
	status, code, msg := odataDetail(err)
	switch {
	case err == nil:
		s.log.InfoContext(ctx, "consent granted", "principal", servicePrincipal, "permission", p.Name)
		return nil
	case status == http.StatusBadRequest && strings.Contains(strings.ToLower(msg), "already exists"):
		return nil
	case status == http.StatusForbidden:
		who := "a Privileged Role Administrator or a Global Administrator"
		if !strings.EqualFold(p.Resource, GraphAppID) {
			who = "an Application Administrator, a Cloud Application Administrator, a Privileged Role Administrator or a Global Administrator"
		}
		s.log.InfoContext(ctx, "consent refused", "principal", servicePrincipal, "permission", p.Name, "code", code)
		return appreg.Wrap(appreg.KindForbidden, fmt.Errorf("graph grant consent: %d %s: %w", status, code, err),
			fmt.Sprintf("Admin consent to %s (%s) must be granted by %s; the admin who signed in cannot grant it.", p.Name, r.name, who))
	}
	return s.graphError(ctx, "grant admin consent to "+p.Name, err)
}

// fallbackLifetimes are tried, in order, when a tenant policy refuses a
// secret's lifetime without saying its maximum.
func fallbackLifetimes() []time.Duration {
	return []time.Duration{180 * 24 * time.Hour, 90 * 24 * time.Hour, 30 * 24 * time.Hour}
}

var policyDays = regexp.MustCompile(`(?i)(?:P(\d+)D|(\d+)\s*days?)`)

// AddSecret adds a client secret ending lifetime from now. When a tenant
// policy refuses the lifetime, it retries with the policy's maximum if the
// refusal names it, else with 180, 90 and 30 days, and sets Capped. The
// secret's text is only in the returned Secret: never logged.
func (s *session) AddSecret(ctx context.Context, appObjectID, name string, lifetime time.Duration) (appreg.Secret, error) {
	l := lifetime
	for {
		body := applications.NewItemAddPasswordPostRequestBody()
		cred := models.NewPasswordCredential()
		end := s.t.cfg.Now().Add(l).UTC()
		cred.SetDisplayName(&name)
		cred.SetEndDateTime(&end)
		body.SetPasswordCredential(cred)
		pc, err := applications.NewApplicationsRequestBuilderInternal(s.params(), s.graph).ByApplicationId(appObjectID).AddPassword().Post(ctx, body, nil)
		if err == nil {
			sec := appreg.Secret{KeyID: uuidString(pc.GetKeyId()), Text: appreg.SecretText(deref(pc.GetSecretText())), Name: name,
				Expires: derefTime(pc.GetEndDateTime(), end), Capped: l != lifetime}
			s.log.InfoContext(ctx, "secret added", "object", appObjectID, "key", sec.KeyID, "expires", sec.Expires, "capped", sec.Capped)
			return sec, nil
		}
		next, refused := s.policyLifetime(err, l)
		if !refused {
			return appreg.Secret{}, s.graphError(ctx, "add a client secret", err)
		}
		s.log.InfoContext(ctx, "secret lifetime refused by tenant policy", "object", appObjectID, "requested", l, "next", next)
		if next == 0 {
			return appreg.Secret{}, appreg.Wrap(appreg.KindForbidden, err, "The tenant's credential policy refuses even a 30-day client secret.")
		}
		l = next
	}
}

// policyLifetime reads a refusal of a credential's lifetime l by a tenant
// policy: refused is false for any other error; next is the lifetime to
// try instead (the policy's maximum when the refusal names it, else the
// next shorter fallback), 0 when there is none left.
func (s *session) policyLifetime(err error, l time.Duration) (next time.Duration, refused bool) {
	status, _, msg := odataDetail(err)
	low := strings.ToLower(msg)
	if status != http.StatusBadRequest || !strings.Contains(low, "lifetime") || !strings.Contains(low, "policy") {
		return 0, false
	}
	if m := policyDays.FindStringSubmatch(msg); m != nil {
		days, _ := strconv.Atoi(m[1] + m[2])
		next = time.Duration(days) * 24 * time.Hour
	}
	if next <= 0 || next >= l {
		next = 0
		for _, f := range fallbackLifetimes() {
			if f < l {
				return f, true
			}
		}
	}
	return next, true
}

// RemoveSecret removes a client credential by key id: a client secret, or
// else a certificate. One already gone is success.
func (s *session) RemoveSecret(ctx context.Context, appObjectID, keyID string) error {
	id, err := uuid.Parse(keyID)
	if err != nil {
		return appreg.Errorf(appreg.KindInvalid, "%q is not a secret's key id.", keyID)
	}
	body := applications.NewItemRemovePasswordPostRequestBody()
	body.SetKeyId(&id)
	err = applications.NewApplicationsRequestBuilderInternal(s.params(), s.graph).ByApplicationId(appObjectID).RemovePassword().Post(ctx, body, nil)
	status, _, msg := odataDetail(err)
	switch {
	case err == nil:
		s.log.InfoContext(ctx, "secret removed", "object", appObjectID, "key", keyID)
		return nil
	case status == http.StatusNotFound && strings.Contains(msg, "password credential"),
		status == http.StatusBadRequest && strings.Contains(strings.ToLower(msg), "no password credential"):
		// Not a secret: a certificate, or gone.
		_, err := s.removeCertificate(ctx, appObjectID, keyID)
		return err
	}
	return s.graphError(ctx, "remove the client secret", err)
}

// SignInAppGrants lists the delegated permission grants of the sign-in app's
// service principal, with the resources' display names.
func (s *session) SignInAppGrants(ctx context.Context) ([]appreg.Grant, error) {
	clientID := s.t.cfg.ClientID
	sp, err := serviceprincipalswithappid.NewServicePrincipalsWithAppIdRequestBuilderInternal(s.params(), s.graph, &clientID).Get(ctx,
		&serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: []string{"id"}}})
	if status, _, _ := odataDetail(err); status == http.StatusNotFound {
		return nil, nil
	} else if err != nil {
		return nil, s.graphError(ctx, "find the sign-in app", err)
	}
	filter := "clientId eq '" + deref(sp.GetId()) + "'"
	res, err := oauth2permissiongrants.NewOauth2PermissionGrantsRequestBuilderInternal(s.params(), s.graph).Get(ctx,
		&oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetRequestConfiguration{
			QueryParameters: &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetQueryParameters{Filter: &filter}})
	if err != nil {
		return nil, s.graphError(ctx, "list the sign-in app's permissions", err)
	}
	names, err := s.resourceNames(ctx, res.GetValue())
	if err != nil {
		return nil, err
	}
	var out []appreg.Grant
	for _, g := range res.GetValue() {
		out = append(out, appreg.Grant{ID: deref(g.GetId()), Resource: names[deref(g.GetResourceId())], Scopes: strings.Fields(deref(g.GetScope()))})
	}
	return out, nil
}

// resourceNames maps the grants' resource ids to display names, from the
// session's resources and, for the others, one Graph request.
func (s *session) resourceNames(ctx context.Context, grants []models.OAuth2PermissionGrantable) (map[string]string, error) {
	names := map[string]string{}
	s.mu.Lock()
	for _, r := range s.resources {
		names[r.id] = r.name
	}
	s.mu.Unlock()
	var missing []string
	for _, g := range grants {
		if id := deref(g.GetResourceId()); names[id] == "" && !slices.Contains(missing, "'"+id+"'") {
			missing = append(missing, "'"+id+"'")
		}
	}
	if len(missing) == 0 {
		return names, nil
	}
	filter := "id in (" + strings.Join(missing, ",") + ")"
	res, err := serviceprincipals.NewServicePrincipalsRequestBuilderInternal(s.params(), s.graph).Get(ctx,
		&serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{
			Filter: &filter, Select: []string{"id", "displayName"}}})
	if err != nil {
		return nil, s.graphError(ctx, "read the names of the sign-in app's APIs", err)
	}
	for _, sp := range res.GetValue() {
		names[deref(sp.GetId())] = deref(sp.GetDisplayName())
	}
	return names, nil
}

// graphError turns an error of a Graph call into an *appreg.Error whose
// message says what could not be done; Graph's code and message stay in
// the wrapped detail. An *appreg.Error (from the credential) passes through.
func (s *session) graphError(ctx context.Context, what string, err error) error {
	var ae *appreg.Error
	if errors.As(err, &ae) {
		return err
	}
	status, code, msg := odataDetail(err)
	detail := fmt.Errorf("graph: %s: %d %s: %s: %w", what, status, code, msg, err)
	var kind appreg.Kind
	var text string
	switch {
	case status == 0 && ctx.Err() != nil:
		kind, text = appreg.KindUnavailable, "The request to Microsoft Graph was stopped before it finished: could not "+what+"."
	case status == 0:
		kind, text = appreg.KindUnavailable, "Microsoft Graph cannot be reached right now: could not "+what+". Please try again in a minute."
	case status == http.StatusNotFound:
		kind, text = appreg.KindNotFound, "Microsoft Graph did not find what is needed to "+what+"."
	case status == http.StatusConflict:
		kind, text = appreg.KindConflict, "Something in the tenant got there first: could not "+what+"."
	case status == http.StatusForbidden || status == http.StatusUnauthorized:
		kind, text = appreg.KindForbidden, "The admin who signed in is not allowed to "+what+"."
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		s.log.WarnContext(ctx, "graph call throttled", "what", what, "status", status, "code", code, "err", detail)
		return throttled(err, detail, what)
	case status >= 500:
		kind, text = appreg.KindUnavailable, "Microsoft Graph is busy or unavailable: could not "+what+". Please try again in a few minutes."
	default:
		kind, text = appreg.KindInternal, "Microsoft Graph refused to "+what+"."
	}
	s.log.WarnContext(ctx, "graph call failed", "what", what, "status", status, "code", code, "kind", kind, "err", detail)
	return appreg.Wrap(kind, detail, text)
}

func errorMapping() abstractions.ErrorMappings {
	return abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}
}

// odataDetail returns the status, code and message of a Graph error, or
// zeros.
func odataDetail(err error) (status int, code, message string) {
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		return 0, "", ""
	}
	if e := oe.GetErrorEscaped(); e != nil {
		code, message = deref(e.GetCode()), deref(e.GetMessage())
	}
	return oe.ResponseStatusCode, code, message
}

func isConflict(err error) bool {
	status, code, _ := odataDetail(err)
	return status == http.StatusConflict || code == "Request_MultipleObjectsWithSameKeyValue"
}

func toApplication(a models.Applicationable) appreg.Application {
	return appreg.Application{ObjectID: deref(a.GetId()), AppID: deref(a.GetAppId()), DisplayName: deref(a.GetDisplayName())}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func derefTime(p *time.Time, fallback time.Time) time.Time {
	if p == nil {
		return fallback
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

func uuidString(u *uuid.UUID) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// ownBody gives each attempt of a request a body of its own. Kiota's retry
// handler sends the same request again after rewinding its body; but
// net/http may still be writing the body of the attempt that failed (a
// server answers 429 or 503 before reading it), and the two would read one
// reader at once: the retry went out with an empty body. Read whole here,
// before the transport starts, a body is never shared.
type ownBody struct{ base http.RoundTripper }

func (o ownBody) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return o.base.RoundTrip(req)
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return o.base.RoundTrip(r)
}
