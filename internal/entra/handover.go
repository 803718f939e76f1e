package entra

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Handing a sign-in over to another replica.
//
// MSAL Go cannot resume a device-code poll: public.DeviceCode keeps the
// authority parameters and its client in unexported fields, and only
// AcquireTokenByDeviceCode makes one, by asking Entra ID for a new code. So
// the replica that waits hands over what the poll needs (the device code,
// its expiry and interval, the tenant and the scopes), and ResumeSignIn
// gives the replica that continues an MSAL client whose request for a code
// is answered in-process with that same device code: MSAL then polls the
// token endpoint exactly as it would have (RFC 8628: authorization_pending,
// slow_down, then the token or expired_token/authorization_declined) and
// fills its own token cache, so the session is built as after any sign-in.
// Only the devicecode request is answered locally; every other request goes
// to Entra ID. A client on which the local answer was not used (MSAL
// changed how it names that endpoint) is refused rather than left polling a
// code nobody was shown.

// handover is what another replica needs to keep polling a sign-in. The
// device code is a credential until it is redeemed or expires: the caller
// seals the bytes before storing them, and they never appear in a log.
type handover struct {
	Version         int       `json:"v"`
	Tenant          string    `json:"tenant"`
	Scopes          []string  `json:"scopes"`
	DeviceCode      string    `json:"device_code"`
	UserCode        string    `json:"user_code"`
	VerificationURL string    `json:"verification_uri"`
	ExpiresOn       time.Time `json:"expires_on"`
	Interval        int       `json:"interval"`
}

// Handover returns what ResumeSignIn needs to go on waiting for this
// sign-in in another process. The bytes hold the device code: encrypt them
// before storing them anywhere.
func (s *signIn) Handover() ([]byte, error) {
	return json.Marshal(handover{
		Version: 1, Tenant: s.tenant, Scopes: s.scopes,
		DeviceCode: s.dc.Result.DeviceCode, UserCode: s.dc.Result.UserCode, VerificationURL: s.dc.Result.VerificationURL,
		ExpiresOn: s.dc.Result.ExpiresOn, Interval: s.dc.Result.Interval,
	})
}

// ResumeSignIn continues, in this process, a sign-in that another process
// began and handed over (SignIn's Handover bytes): Wait polls for the same
// device code. KindNotFound when the bytes are unreadable, for another
// tenant, or the code has expired (a new code is needed); KindUnavailable
// when Entra ID cannot be reached.
func (t *Tenant) ResumeSignIn(ctx context.Context, tenant string, data []byte) (appreg.SignIn, error) {
	var h handover
	if err := json.Unmarshal(data, &h); err != nil || h.Version != 1 || h.DeviceCode == "" || len(h.Scopes) == 0 {
		return nil, appreg.Errorf(appreg.KindNotFound, "The sign-in that was handed over cannot be read. A new code is needed.")
	}
	if !strings.EqualFold(h.Tenant, tenant) {
		return nil, appreg.Errorf(appreg.KindNotFound, "The sign-in that was handed over is for another tenant. A new code is needed.")
	}
	left := h.ExpiresOn.Sub(t.cfg.Now())
	if left < time.Second {
		return nil, appreg.Errorf(appreg.KindNotFound, "The sign-in code has expired. A new code is needed.")
	}
	local := &localDeviceCode{base: t.cfg.HTTPClient.Transport, answer: deviceCodeAnswer{
		UserCode: h.UserCode, DeviceCode: h.DeviceCode, VerificationURL: h.VerificationURL,
		ExpiresIn: int(left / time.Second), Interval: h.Interval,
	}}
	if local.base == nil {
		local.base = http.DefaultTransport
	}
	hc := *t.cfg.HTTPClient
	hc.Transport = local
	tc := &tokenCache{}
	client, err := t.publicClientWith(h.Tenant, tc, &hc)
	if err != nil {
		return nil, err
	}
	dc, err := client.AcquireTokenByDeviceCode(ctx, h.Scopes)
	if err != nil {
		if parseEntraError(err) == nil && isNetwork(err) {
			return nil, entraUnavailable(err)
		}
		return nil, appreg.Wrap(appreg.KindNotFound, safeErr(err), "The sign-in that was handed over cannot be continued. A new code is needed.")
	}
	if !local.used.Load() || dc.Result.DeviceCode != h.DeviceCode {
		return nil, appreg.Errorf(appreg.KindInternal, "The sign-in that was handed over cannot be continued: the sign-in library asked Microsoft Entra ID for a new code.")
	}
	t.log.InfoContext(ctx, "sign-in resumed", "tenant", h.Tenant, "expires", h.ExpiresOn)
	return &signIn{t: t, tenant: h.Tenant, client: client, cache: tc, dc: dc, scopes: h.Scopes}, nil
}

// deviceCodeAnswer is Entra ID's answer to a devicecode request.
type deviceCodeAnswer struct {
	UserCode        string `json:"user_code"`
	DeviceCode      string `json:"device_code"`
	VerificationURL string `json:"verification_uri"`
	ExpiresIn       int    `json:"expires_in"`
	Interval        int    `json:"interval"`
	Message         string `json:"message"`
}

// localDeviceCode answers a resumed client's devicecode request with the
// code handed over, once; everything else goes to base.
type localDeviceCode struct {
	base   http.RoundTripper
	answer deviceCodeAnswer
	used   atomic.Bool
}

func (l *localDeviceCode) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/oauth2/v2.0/devicecode") {
		return l.base.RoundTrip(req)
	}
	if req.Body != nil {
		_ = req.Body.Close()
	}
	if !l.used.CompareAndSwap(false, true) {
		return nil, errors.New("entra: a resumed sign-in asked for a second device code")
	}
	body, err := json.Marshal(l.answer)
	if err != nil {
		return nil, err
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)), Request: req,
	}, nil
}
