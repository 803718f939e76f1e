package wizard

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

const deliveryTTL = 10 * time.Minute

// auditScan bounds how many audit records one /appreg audit reads.
const auditScan = 5000

var (
	// A tenant is a tenant id (a GUID) or a DNS domain.
	tenantIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	domainPattern   = regexp.MustCompile(`^(?i)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	// A service name becomes the client secret's description.
	servicePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$`)
)

// ValidService reports whether s may name a service: 1 to 40 letters,
// digits, dots, dashes or underscores, starting with a letter or digit.
func ValidService(s string) bool { return servicePattern.MatchString(s) }

// Command implements appreg.Bot. It spends at most AckTimeout on it: a
// store that does not answer gets the caller "try again in a moment".
func (w *Wizard) Command(ctx context.Context, cmd appreg.Command) appreg.Reply {
	ctx, cancel := w.ackContext(ctx)
	defer cancel()
	args := strings.Fields(cmd.Text)
	name := "help"
	if len(args) > 0 {
		name = strings.ToLower(args[0])
		args = args[1:]
	}
	// Commands that start a conversation claim their delivery as they store
	// it, in one round trip; the others claim it here.
	starts := name == "new" || name == "secret" || name == "cleanup" || name == "check" || name == "role"
	if cmd.DeliveryID != "" && !starts {
		first, err := w.store.FirstDelivery(ctx, "cmd:"+cmd.DeliveryID, deliveryTTL)
		if err != nil {
			return w.errorReply(err)
		}
		if !first {
			w.log.Info("retried command delivery ignored", "user", cmd.Caller.User.ID)
			return appreg.Reply{}
		}
	}
	ok, err := w.authorized(ctx, cmd.Caller)
	if err != nil {
		w.log.Warn("operator check incomplete", "user", cmd.Caller.User.ID, "err", err)
	}
	if !ok {
		w.log.Warn("command refused: not an operator", "user", cmd.Caller.User.ID, "channel", cmd.Caller.Channel, "command", clipped(name))
		return reply(msgNotOperator())
	}
	// Counted after the operator check, under a name from the known set:
	// nobody can grow the metrics by typing.
	w.obs.Command(knownCommand(name))
	w.log.Info("command", "user", cmd.Caller.User.ID, "channel", cmd.Caller.Channel, "command", clipped(name))
	switch name {
	case "help":
		return reply(msgHelp(w.cfg))
	case "new":
		return w.newConversation(ctx, cmd.Caller, args, cmd.DeliveryID)
	case "list":
		return w.list(ctx, args)
	case "cancel":
		return w.cancelCommand(ctx, cmd.Caller, args)
	case "secret":
		return w.secretCommand(ctx, cmd.Caller, args, cmd.DeliveryID)
	case "cleanup", "check":
		return w.registrationCommand(ctx, cmd.Caller, name, args, cmd.DeliveryID)
	case "attach":
		return w.attach(ctx, cmd.Caller, args)
	case "role":
		return w.roleCommand(ctx, cmd.Caller, args, cmd.DeliveryID)
	case "audit":
		return w.auditCommand(ctx, args)
	case "reminders":
		return w.remindersCommand(ctx, args)
	}
	return reply(msgUnknownCommand(name))
}

func reply(m appreg.Message) appreg.Reply { return appreg.Reply{Message: m} }

// knownCommand is name if it is one of the bot's commands, else "unknown".
func knownCommand(name string) string {
	for _, c := range commandTable() {
		if c.name == name {
			return name
		}
	}
	return "unknown"
}

// checkArgs checks that a command has from min to max arguments; missing
// names them in order. When they are not, it returns the reply that says
// which argument is missing or that there are too many, with the
// command's usage.
func checkArgs(cmd string, args []string, min, max int, missing ...string) (appreg.Reply, bool) {
	switch {
	case len(args) < min:
		return reply(msgMissing(cmd, missing[len(args)])), true
	case len(args) > max:
		return reply(msgTooMany(cmd, max)), true
	}
	return appreg.Reply{}, false
}

// errorReply answers a command that failed. A person's mistake (a name
// that does not exist, a clash) is logged as information; only the bot's
// own troubles are warnings or errors.
func (w *Wizard) errorReply(err error) appreg.Reply {
	kind := appreg.ErrorKind(err)
	w.obs.Error(kind)
	switch kind {
	case appreg.KindInvalid, appreg.KindNotFound, appreg.KindConflict, appreg.KindForbidden:
		w.log.Info("command refused", "kind", kind, "err", err)
	case appreg.KindUnavailable:
		w.log.Warn("command failed", "kind", kind, "err", err)
	default:
		w.log.Error("command failed", "kind", kind, "err", err)
	}
	return reply(say(appreg.IconWarn, appreg.ErrorMessage(err)))
}

// credentialOption takes a --secret or --certificate option out of a
// command's arguments and returns the kind of credential to make: the
// option's, else the bot's default. A certificate needs a sink: its
// private key is never shown in chat.
func (w *Wizard) credentialOption(cmd string, args []string) ([]string, appreg.CredentialKind, *appreg.Reply) {
	kind := w.cfg.Credential
	rest := args[:0:0]
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			rest = append(rest, a)
			continue
		}
		switch strings.ToLower(a) {
		case "--secret":
			kind = ""
		case "--certificate", "--cert":
			kind = appreg.KindCertificate
		default:
			r := reply(msgUnknownOption(cmd, a))
			return nil, "", &r
		}
	}
	if kind == appreg.KindCertificate && len(w.sinks) == 0 {
		r := w.errorReply(errCertificateNeedsSink())
		return nil, "", &r
	}
	return rest, kind, nil
}

func (w *Wizard) newConversation(ctx context.Context, caller appreg.Caller, args []string, delivery string) appreg.Reply {
	args, kind, bad := w.credentialOption("new", args)
	if bad != nil {
		return *bad
	}
	if r, bad := checkArgs("new", args, 1, 2, "the tenant: a verified domain such as contoso.onmicrosoft.com, or a tenant id"); bad {
		return r
	}
	tenant, service := args[0], w.cfg.DefaultService
	if len(args) == 2 {
		service = args[1]
	}
	if !tenantIDPattern.MatchString(tenant) && !domainPattern.MatchString(tenant) {
		return reply(msgBadTenant(tenant))
	}
	if !ValidService(service) {
		return reply(msgBadService(service))
	}
	c := &appreg.Conversation{Tenant: strings.ToLower(tenant), Service: service, Credential: kind}
	if r, ok := w.begin(ctx, caller, c, delivery); !ok {
		return r
	}
	return reply(msgStarting(c))
}

// begin stores a new conversation for the caller and starts it: a thread,
// then a tenant admin's sign-in. It refuses when the caller already has a
// live conversation in the channel.
func (w *Wizard) begin(ctx context.Context, caller appreg.Caller, c *appreg.Conversation, delivery string) (appreg.Reply, bool) {
	now := w.now().UTC()
	c.ID, c.State, c.Requester, c.CreatedAt, c.UpdatedAt = newID(), appreg.StateStarted, caller, now, now
	if delivery != "" {
		delivery = "cmd:" + delivery // the key FirstDelivery would use
	}
	for attempt := 0; ; attempt++ {
		active, err := w.store.CreateConversation(ctx, c, delivery)
		if errors.Is(err, appreg.ErrDuplicateDelivery) {
			w.log.Info("retried command delivery ignored", "user", caller.User.ID)
			return appreg.Reply{}, false
		}
		if err != nil {
			return w.errorReply(err), false
		}
		delivery = "" // claimed by the first attempt
		if active == "" {
			if err := w.store.CountTransition(ctx, "", c.State); err != nil {
				w.log.Warn("conversation count not kept", "conversation", c.ID, "err", err)
			}
			break
		}
		cur, err := w.store.Conversation(ctx, active)
		if err == nil && !cur.State.Terminal() {
			return reply(msgAlreadyRunning(cur)), false
		}
		if attempt > 0 || (err != nil && appreg.ErrorKind(err) != appreg.KindNotFound) {
			return w.errorReply(appreg.Errorf(appreg.KindConflict, "Another of your commands is starting a conversation here; try again in a moment.")), false
		}
		// A stale marker (its conversation ended or expired): clear it.
		if err := w.store.ClearActiveConversation(ctx, caller.Channel, caller.User.ID, active); err != nil {
			return w.errorReply(err), false
		}
	}
	w.log.Info("audit: conversation started", "conversation", c.ID, "flow", c.Flow, "user", caller.User.ID,
		"tenant", c.Tenant, "service", c.Service, "registration", c.Progress.AppID)
	w.spawn(c.ID, w.start)
	return appreg.Reply{}, true
}

// findRegistration resolves a registration named in a command: by name or
// application id, optionally qualified as tenant/name.
func (w *Wizard) findRegistration(ctx context.Context, ref string) (*appreg.Registration, error) {
	tenant, name, qualified := strings.Cut(ref, "/")
	if !qualified {
		tenant, name = "", ref
	}
	regs, err := w.store.Registrations(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var found []appreg.Registration
	for _, r := range regs {
		if strings.EqualFold(r.Name, name) || strings.EqualFold(r.AppID, name) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return nil, appreg.Errorf(appreg.KindNotFound, "I know no registration %s. /appreg list shows the ones I know.", quoted(ref))
	case 1:
		return &found[0], nil
	}
	var where []string
	for _, r := range found {
		where = append(where, r.Tenant+"/"+r.Name)
	}
	return nil, appreg.Errorf(appreg.KindConflict, "Several registrations are called %s: say which, as %s.", quoted(name), strings.Join(where, " or "))
}

// onRegistration prepares a conversation on an existing registration.
func onRegistration(r *appreg.Registration, flow appreg.Flow, service string) *appreg.Conversation {
	return &appreg.Conversation{Flow: flow, Tenant: r.Tenant, Service: service, Name: r.Name,
		Progress: appreg.Progress{AppID: r.AppID, AppObjectID: r.AppObjectID, ServicePrincipal: r.ServicePrincipal}}
}

func (w *Wizard) secretCommand(ctx context.Context, caller appreg.Caller, args []string, delivery string) appreg.Reply {
	args, kind, bad := w.credentialOption("secret", args)
	if bad != nil {
		return *bad
	}
	if r, bad := checkArgs("secret", args, 2, 2, "the registration (its name, as /appreg list shows it)", "the service the new secret is for"); bad {
		return r
	}
	if !ValidService(args[1]) {
		return reply(msgBadService(args[1]))
	}
	r, err := w.findRegistration(ctx, args[0])
	if err != nil {
		return w.errorReply(err)
	}
	if old := r.SecretFor(args[1]); old != nil {
		return reply(msgOfferRotation(r, *old, w.localNow()))
	}
	c := onRegistration(r, appreg.FlowSecret, args[1])
	c.Credential = kind
	if rep, ok := w.begin(ctx, caller, c, delivery); !ok {
		return rep
	}
	return reply(msgStartingSecret(c))
}

// registrationCommand starts a cleanup or a check.
func (w *Wizard) registrationCommand(ctx context.Context, caller appreg.Caller, name string, args []string, delivery string) appreg.Reply {
	if r, bad := checkArgs(name, args, 1, 1, "the registration (its name, as /appreg list shows it)"); bad {
		return r
	}
	r, err := w.findRegistration(ctx, args[0])
	if err != nil {
		return w.errorReply(err)
	}
	c := onRegistration(r, appreg.Flow(name), "")
	if rep, ok := w.begin(ctx, caller, c, delivery); !ok {
		return rep
	}
	return reply(msgStartingFlow(c))
}

// rotate starts a rotation of a secret: the reminders' one-click button.
func (w *Wizard) rotate(ctx context.Context, caller appreg.Caller, key appreg.SecretKey) (appreg.Answer, error) {
	return w.replaceSecret(ctx, caller, key, appreg.FlowRotate)
}

// replace starts the replacement of a secret whose delivery nobody
// confirmed: the old one goes as soon as the new one is delivered.
func (w *Wizard) replace(ctx context.Context, caller appreg.Caller, key appreg.SecretKey) (appreg.Answer, error) {
	return w.replaceSecret(ctx, caller, key, appreg.FlowReplace)
}

// replaceSecret starts a new secret that takes the place of the one key
// names.
func (w *Wizard) replaceSecret(ctx context.Context, caller appreg.Caller, key appreg.SecretKey, flow appreg.Flow) (appreg.Answer, error) {
	r, err := w.findRegistration(ctx, key.TenantID+"/"+key.AppID)
	if err != nil {
		return appreg.Answer{}, err
	}
	var old *appreg.SecretRecord
	for i := range r.Secrets {
		if r.Secrets[i].KeyID == key.KeyID {
			old = &r.Secrets[i]
		}
	}
	if old == nil {
		return appreg.Answer{}, appreg.Errorf(appreg.KindNotFound, "That secret of %s is no longer in the bot's record (already rotated or removed).", r.Name)
	}
	service := old.Service
	if service == "" {
		service = w.cfg.DefaultService
	}
	c := onRegistration(r, flow, service)
	c.OldKeyID = key.KeyID
	c.Credential = old.Kind // a certificate is replaced by a certificate
	if c.Credential == appreg.KindCertificate && len(w.sinks) == 0 {
		return appreg.Answer{}, errCertificateNeedsSink()
	}
	c.Confirmed = flow == appreg.FlowReplace // nobody needs the old one
	if rep, ok := w.begin(ctx, caller, c, ""); !ok {
		return appreg.Notice(rep.Message), nil
	}
	return appreg.Answer{}, nil
}

func (w *Wizard) attach(ctx context.Context, caller appreg.Caller, args []string) appreg.Reply {
	if r, bad := checkArgs("attach", args, 2, 2, "the registration (its name, as /appreg list shows it)", "the service to attach it to"); bad {
		return r
	}
	service := args[1]
	if !ValidService(service) {
		return reply(msgBadService(service))
	}
	r, err := w.findRegistration(ctx, args[0])
	if err != nil {
		return w.errorReply(err)
	}
	already := errAttachConflict(service, r.Name)
	if r.HasService(service) {
		return reply(say(already.Message))
	}
	if err := w.store.ReserveName(ctx, service, r.Name, "registration:"+r.AppID); err != nil {
		return w.errorReply(err)
	}
	r, err = w.store.UpdateRegistration(ctx, r.TenantID, r.AppID, appreg.Change{At: w.now().UTC(), By: caller.User.ID, What: "attached to service " + service},
		func(r *appreg.Registration) error {
			if r.HasService(service) {
				return already
			}
			r.Services = append(r.Services, service)
			return nil
		})
	if err == already {
		return reply(say(already.Message))
	}
	if err != nil {
		return w.errorReply(err)
	}
	w.audit(ctx, appreg.AuditRecord{Actor: caller.User.ID, Action: "service.attach", Tenant: r.Tenant, Target: r.Name,
		Detail: "service " + service + ", application id " + r.AppID})
	return reply(msgAttached(r, service))
}

func (w *Wizard) list(ctx context.Context, args []string) appreg.Reply {
	if r, bad := checkArgs("list", args, 0, 1); bad {
		return r
	}
	tenant := ""
	if len(args) == 1 {
		tenant = args[0]
	}
	regs, err := w.sortedRegistrations(ctx, tenant)
	if err != nil {
		return w.errorReply(err)
	}
	return reply(msgList(regs, tenant, 0, w.localNow(), w.cfg.Location))
}

func (w *Wizard) sortedRegistrations(ctx context.Context, tenant string) ([]appreg.Registration, error) {
	regs, err := w.store.Registrations(ctx, tenant)
	if err != nil {
		return nil, err
	}
	sort.Slice(regs, func(i, j int) bool {
		if regs[i].Tenant != regs[j].Tenant {
			return regs[i].Tenant < regs[j].Tenant
		}
		return strings.ToLower(regs[i].Name) < strings.ToLower(regs[j].Name)
	})
	return regs, nil
}

func (w *Wizard) cancelCommand(ctx context.Context, caller appreg.Caller, args []string) appreg.Reply {
	if r, bad := checkArgs("cancel", args, 0, 0); bad {
		return r
	}
	id, err := w.store.ActiveConversation(ctx, caller.Channel, caller.User.ID)
	if err != nil {
		return w.errorReply(err)
	}
	if id == "" {
		return reply(msgNothingToCancel())
	}
	c, err := w.store.Conversation(ctx, id)
	if err != nil {
		if appreg.ErrorKind(err) == appreg.KindNotFound {
			_ = w.store.ClearActiveConversation(ctx, caller.Channel, caller.User.ID, id)
			return reply(msgNothingToCancel())
		}
		return w.errorReply(err)
	}
	if err := w.cancel(ctx, c, caller); err != nil {
		return w.errorReply(err)
	}
	return reply(msgCancelledReply(c))
}

func (w *Wizard) auditCommand(ctx context.Context, args []string) appreg.Reply {
	if r, bad := checkArgs("audit", args, 0, 1); bad {
		return r
	}
	filter := ""
	if len(args) == 1 {
		filter = args[0]
	}
	recs, complete, err := w.store.AuditLog(ctx, filter, 20, auditScan)
	if err != nil {
		return w.errorReply(err)
	}
	return reply(msgAudit(recs, filter, complete, w.cfg.Location))
}

func (w *Wizard) remindersCommand(ctx context.Context, args []string) appreg.Reply {
	if r, bad := checkArgs("reminders", args, 0, 0); bad {
		return r
	}
	if w.schedule == nil {
		return reply(msgRemindersOff())
	}
	next, total, err := w.schedule.Upcoming(ctx, 20)
	if err != nil {
		return w.errorReply(err)
	}
	return reply(msgUpcoming(next, total, w.localNow(), w.cfg.Location))
}
