package wizard

import (
	"strconv"
	"strings"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Button action ids. A button's value is the id of its conversation unless
// said otherwise; the buttons on a secret (appreg.ActionRotate,
// appreg.ActionSnooze) carry an appreg.SecretKey.
const (
	ActionEnterName   = "appreg.name"
	ActionNewCode     = "appreg.new_code"
	ActionRetry       = "appreg.retry"
	ActionCancel      = "appreg.cancel"
	ActionConfirm     = "appreg.confirm"
	ActionKeep        = "appreg.keep"
	ActionApprove     = "appreg.approve"
	ActionReject      = "appreg.reject"
	ActionRoleRequest = "appreg.role_request" // value: a roleRequest
	ActionListPage    = "appreg.list_page"    // value: a listPage
	// ActionStored and ActionReplace are on a delivered secret: their value
	// is its appreg.SecretKey.
	ActionStored  = "appreg.stored"
	ActionReplace = "appreg.replace"
)

// Forms and their inputs.
const (
	FormName    = "appreg.name"
	InputName   = "name"
	FormReject  = "appreg.reject"
	InputReason = "reason"
)

// roleRequest is the value of a report's "Request <role>" button: the
// registration (tenant id and application id) and the role it still needs.
type roleRequest struct {
	TenantID, AppID, Role string
}

// String is "tenantID/appID|role", which parseRoleRequest reads.
func (r roleRequest) String() string { return r.TenantID + "/" + r.AppID + "|" + r.Role }

func parseRoleRequest(s string) (roleRequest, error) {
	reg, role, ok := strings.Cut(s, "|")
	tenantID, appID, ok2 := strings.Cut(reg, "/")
	if !ok || !ok2 || tenantID == "" || appID == "" || role == "" {
		return roleRequest{}, appreg.Errorf(appreg.KindInvalid, "That button is broken; run /appreg list.")
	}
	return roleRequest{TenantID: tenantID, AppID: appID, Role: role}, nil
}

// listPage is the value of the list's "Next page" button: the page and the
// tenant the list is of ("" for all).
type listPage struct {
	Page   int
	Tenant string
}

// String is "page|tenant", which parseListPage reads.
func (p listPage) String() string { return strconv.Itoa(p.Page) + "|" + p.Tenant }

func parseListPage(s string) (listPage, error) {
	page, tenant, _ := strings.Cut(s, "|")
	n, err := strconv.Atoi(page)
	if err != nil || n < 0 {
		return listPage{}, appreg.Errorf(appreg.KindInvalid, "That button is broken; run /appreg list.")
	}
	return listPage{Page: n, Tenant: tenant}, nil
}
