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

// Command implements appreg.Bot.
func (w *Wizard) Command(ctx context.Context, cmd appreg.Command) appreg.Reply {
	args := strings.Fields(cmd.Text)
	name := "help"
	if len(args) > 0 {
		name = strings.ToLower(args[0])
		args = args[1:]
	}
	w.obs.Command(name)
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
		w.log.Warn("command refused: not an operator", "user", cmd.Caller.User.ID, "channel", cmd.Caller.Channel, "command", name)
		return reply(msgNotOperator())
	}
	w.log.Info("command", "user", cmd.Caller.User.ID, "channel", cmd.Caller.Channel, "command", name)
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

func (w *Wizard) errorReply(err error) appreg.Reply {
	w.obs.Error(appreg.ErrorKind(err))
	w.log.Error("command failed", "kind", appreg.ErrorKind(err), "err", err)
	return reply(say(appreg.IconWarn, appreg.ErrorMessage(err)))
}

func (w *Wizard) newConversation(ctx context.Context, caller appreg.Caller, args []string, delivery string) appreg.Reply {
	if len(args) < 1 || len(args) > 2 {
		return reply(msgUsageOf("new"))
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
	c := &appreg.Conversation{Tenant: strings.ToLower(tenant), Service: service}
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
		if err := w.store.SetActiveConversation(ctx, caller.Channel, caller.User.ID, ""); err != nil {
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
		return nil, appreg.Errorf(appreg.KindNotFound, "I know no registration %q. /appreg list shows the ones I know.", ref)
	case 1:
		return &found[0], nil
	}
	var where []string
	for _, r := range found {
		where = append(where, r.Tenant+"/"+r.Name)
	}
	return nil, appreg.Errorf(appreg.KindConflict, "Several registrations are called %q: say which, as %s.", name, strings.Join(where, " or "))
}

// onRegistration prepares a conversation on an existing registration.
func onRegistration(r *appreg.Registration, flow appreg.Flow, service string) *appreg.Conversation {
	return &appreg.Conversation{Flow: flow, Tenant: r.Tenant, Service: service, Name: r.Name,
		Progress: appreg.Progress{AppID: r.AppID, AppObjectID: r.AppObjectID, ServicePrincipal: r.ServicePrincipal}}
}

func (w *Wizard) secretCommand(ctx context.Context, caller appreg.Caller, args []string, delivery string) appreg.Reply {
	if len(args) != 2 {
		return reply(msgUsageOf("secret"))
	}
	if !ValidService(args[1]) {
		return reply(msgBadService(args[1]))
	}
	r, err := w.findRegistration(ctx, args[0])
	if err != nil {
		return w.errorReply(err)
	}
	if old := r.SecretFor(args[1]); old != nil {
		return reply(msgOfferRotation(r, *old, w.now()))
	}
	c := onRegistration(r, appreg.FlowSecret, args[1])
	if rep, ok := w.begin(ctx, caller, c, delivery); !ok {
		return rep
	}
	return reply(msgStartingSecret(c))
}

// registrationCommand starts a cleanup or a check.
func (w *Wizard) registrationCommand(ctx context.Context, caller appreg.Caller, name string, args []string, delivery string) appreg.Reply {
	if len(args) != 1 {
		return reply(msgUsageOf(name))
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
	c := onRegistration(r, appreg.FlowRotate, service)
	c.OldKeyID = key.KeyID
	if rep, ok := w.begin(ctx, caller, c, ""); !ok {
		return appreg.Notice(rep.Message), nil
	}
	return appreg.Answer{}, nil
}

func (w *Wizard) attach(ctx context.Context, caller appreg.Caller, args []string) appreg.Reply {
	if len(args) != 2 {
		return reply(msgUsageOf("attach"))
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
	w.log.Info("audit: service attached", "user", caller.User.ID, "app_id", r.AppID, "service", service)
	return reply(msgAttached(r, service))
}

func (w *Wizard) list(ctx context.Context, args []string) appreg.Reply {
	if len(args) > 1 {
		return reply(msgUsageOf("list"))
	}
	tenant := ""
	if len(args) == 1 {
		tenant = args[0]
	}
	regs, err := w.sortedRegistrations(ctx, tenant)
	if err != nil {
		return w.errorReply(err)
	}
	return reply(msgList(regs, tenant, 0, w.now(), w.cfg.Location))
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
	if len(args) != 0 {
		return reply(msgUsageOf("cancel"))
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
			_ = w.store.SetActiveConversation(ctx, caller.Channel, caller.User.ID, "")
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
	if len(args) > 1 {
		return reply(msgUsageOf("audit"))
	}
	filter := ""
	if len(args) == 1 {
		filter = args[0]
	}
	recs, err := w.store.AuditLog(ctx, filter, 20)
	if err != nil {
		return w.errorReply(err)
	}
	return reply(msgAudit(recs, filter, w.cfg.Location))
}

func (w *Wizard) remindersCommand(ctx context.Context, args []string) appreg.Reply {
	if len(args) != 0 {
		return reply(msgUsageOf("reminders"))
	}
	if w.schedule == nil {
		return reply(msgRemindersOff())
	}
	next, err := w.schedule.Upcoming(ctx, 20)
	if err != nil {
		return w.errorReply(err)
	}
	return reply(msgUpcoming(next, w.now(), w.cfg.Location))
}
