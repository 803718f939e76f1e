package simtenant

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Certificate credentials: an application's keyCredentials, replaced as a
// whole by PATCH as Graph does (an entry with a known keyId and no key
// keeps that credential; one with a key adds it; one left out goes), and
// client assertions signed with them at the token endpoint.

// Certificate is a certificate credential as Graph shows it: no key.
type Certificate struct {
	KeyID       string
	DisplayName string
	Thumbprint  string // SHA-1, upper-case hex
	Start, End  time.Time
}

type certValue struct {
	Certificate
	cert      *x509.Certificate
	replicate int
}

// keyCredentialIn is an entry of keyCredentials in a PATCH.
type keyCredentialIn struct {
	KeyID               *string    `json:"keyId"`
	Type                string     `json:"type"`
	Usage               string     `json:"usage"`
	Key                 *string    `json:"key"` // base64 DER
	DisplayName         string     `json:"displayName"`
	CustomKeyIdentifier *string    `json:"customKeyIdentifier"`
	StartDateTime       *time.Time `json:"startDateTime"`
	EndDateTime         *time.Time `json:"endDateTime"`
}

// setKeyCredentials applies a PATCH's keyCredentials; it returns Graph's
// error, or "" when applied. mu must be held.
func (g *graphRequest) setKeyCredentials(a *application, in []keyCredentialIn) (status int, code, msg string) {
	var out []*certValue
	now := g.s.opts.Now().UTC()
	for _, k := range in {
		if k.Type != "AsymmetricX509Cert" || k.Usage != "Verify" {
			return http.StatusBadRequest, "Request_BadRequest", "The value for the property \"usage\" in one of your credentials is invalid. Acceptable values are Sign, Verify."
		}
		if k.Key == nil {
			// Kept: it must be one the application has, unchanged.
			i := -1
			if k.KeyID != nil {
				i = slices.IndexFunc(a.certs, func(c *certValue) bool { return strings.EqualFold(c.KeyID, *k.KeyID) })
			}
			if i < 0 {
				return http.StatusBadRequest, "Request_BadRequest", "Key credential with no key value must refer to an existing credential by keyId."
			}
			if k.DisplayName != a.certs[i].DisplayName {
				return http.StatusBadRequest, "Request_BadRequest", "Update to existing credential with KeyId '" + a.certs[i].KeyID + "' is not allowed."
			}
			out = append(out, a.certs[i])
			continue
		}
		der, err := base64.StdEncoding.DecodeString(*k.Key)
		if err != nil {
			return http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'key' of resource 'KeyCredential'."
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return http.StatusBadRequest, "Request_BadRequest", "Key value is invalid certificate"
		}
		if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
			return http.StatusBadRequest, "Request_BadRequest", "Key credential of type AsymmetricX509Cert must be an RSA key."
		}
		start, end := cert.NotBefore, cert.NotAfter
		if k.StartDateTime != nil {
			start = k.StartDateTime.UTC()
		}
		if k.EndDateTime != nil {
			end = k.EndDateTime.UTC()
		}
		if end.After(cert.NotAfter) || start.Before(cert.NotBefore) {
			return http.StatusBadRequest, "Request_BadRequest", "Key credential end date is invalid."
		}
		if max := g.t.secretMax; max > 0 && end.Sub(now) > max {
			msg := "Credential lifetime exceeds the max value allowed as per assigned policy."
			if g.t.secretMaxShown {
				msg += fmt.Sprintf(" The maximum allowed lifetime is %d days.", int(max/(24*time.Hour)))
			}
			return http.StatusBadRequest, "Request_BadRequest", msg
		}
		id := newID()
		if k.KeyID != nil && *k.KeyID != "" {
			id = *k.KeyID
			if slices.ContainsFunc(a.certs, func(c *certValue) bool { return strings.EqualFold(c.KeyID, id) }) {
				return http.StatusBadRequest, "Request_BadRequest", "Update to existing credential with KeyId '" + id + "' is not allowed."
			}
		}
		out = append(out, &certValue{Certificate: Certificate{KeyID: id, DisplayName: k.DisplayName, Thumbprint: appreg.Thumbprint(cert), Start: start, End: end},
			cert: cert, replicate: g.s.replicate})
	}
	a.certs = out
	return 0, "", ""
}

func certJSON(c Certificate) map[string]any {
	thumb, _ := hex.DecodeString(c.Thumbprint)
	return map[string]any{"customKeyIdentifier": base64.StdEncoding.EncodeToString(thumb), "displayName": c.DisplayName,
		"endDateTime": c.End.Format(time.RFC3339), "key": nil, "keyId": c.KeyID, "startDateTime": c.Start.Format(time.RFC3339),
		"type": "AsymmetricX509Cert", "usage": "Verify"}
}

// AddCertificate adds a certificate credential to an application (by
// application id), as an admin would upload one in the portal.
func (s *Server) AddCertificate(tenantID, appID, displayName string, cert *x509.Certificate) (Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.mustTenant(tenantID).appByAppID(appID)
	if err != nil {
		return Certificate{}, err
	}
	c := &certValue{Certificate: Certificate{KeyID: newID(), DisplayName: displayName, Thumbprint: appreg.Thumbprint(cert), Start: cert.NotBefore, End: cert.NotAfter}, cert: cert}
	a.certs = append(a.certs, c)
	return c.Certificate, nil
}

// assertionType is the client_assertion_type of a signed client assertion.
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// verifyAssertion checks a client assertion as Entra does: signed (PS256
// or RS256) by a certificate credential of the application named by its
// x5t#S256 (or x5t) header, for this token endpoint, issued by and about
// the client, within its time range. It returns Entra's error, or 0.
func (s *Server) verifyAssertion(r *http.Request, t *tenant, app *application, clientID string) (status, aadsts int, desc string) {
	if r.PostFormValue("client_assertion_type") != assertionType {
		return http.StatusBadRequest, 50027, "Invalid JWT token. The client assertion type is not supported."
	}
	tok, err := jwt.ParseSigned(r.PostFormValue("client_assertion"), []jose.SignatureAlgorithm{jose.PS256, jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return http.StatusBadRequest, 50027, "Invalid JWT token. The token is malformed."
	}
	h := tok.Headers[0]
	var c *certValue
	for _, cv := range app.certs {
		sum := sha256.Sum256(cv.cert.Raw)
		if h.ExtraHeaders["x5t#S256"] == base64.StdEncoding.EncodeToString(sum[:]) || h.ExtraHeaders["x5t"] == base64.StdEncoding.EncodeToString(mustHex(cv.Thumbprint)) {
			c = cv
		}
	}
	notRegistered := fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]", clientID)
	if c == nil {
		return http.StatusUnauthorized, 700027, notRegistered
	}
	if c.replicate > 0 {
		c.replicate--
		return http.StatusUnauthorized, 700027, notRegistered
	}
	var claims jwt.Claims
	if err := tok.Claims(c.cert.PublicKey, &claims); err != nil {
		return http.StatusUnauthorized, 700027, "Client assertion contains an invalid signature."
	}
	endpoint := s.URL() + "/" + t.ID + "/oauth2/v2.0/token"
	if !claims.Audience.Contains(endpoint) {
		return http.StatusUnauthorized, 700021, fmt.Sprintf("Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials . Audience: %v", claims.Audience)
	}
	if claims.Issuer != clientID || claims.Subject != clientID {
		return http.StatusUnauthorized, 700021, "Client assertion application identifier doesn't match 'client_id' parameter."
	}
	now := s.opts.Now()
	if err := claims.ValidateWithLeeway(jwt.Expected{Time: now}, 5*time.Minute); err != nil {
		return http.StatusUnauthorized, 700024, "Client assertion is not within its valid time range."
	}
	if !now.Before(c.End) {
		return http.StatusUnauthorized, 700027, "The certificate used to sign the client assertion has expired."
	}
	return 0, 0, ""
}

func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}
