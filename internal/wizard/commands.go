package wizard

import (
	"context"
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
	if cmd.DeliveryID != "" {
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
		return w.newConversation(ctx, cmd.Caller, args)
	case "list":
		return w.list(ctx, args)
	case "cancel":
		return w.cancelCommand(ctx, cmd.Caller, args)
	case "secret", "cleanup", "role", "check", "attach", "reminders", "audit":
		return reply(msgNotYet(name))
	}
	return reply(msgUnknownCommand(name, w.cfg))
}

func reply(m appreg.Message) appreg.Reply { return appreg.Reply{Message: m} }

func (w *Wizard) errorReply(err error) appreg.Reply {
	w.obs.Error(appreg.ErrorKind(err))
	w.log.Error("command failed", "kind", appreg.ErrorKind(err), "err", err)
	return reply(appreg.Message{Text: ":warning: " + appreg.ErrorMessage(err)})
}

func (w *Wizard) newConversation(ctx context.Context, caller appreg.Caller, args []string) appreg.Reply {
	if len(args) < 1 || len(args) > 2 {
		return reply(msgUsageOf("new", w.cfg))
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
	if id, err := w.store.ActiveConversation(ctx, caller.Channel, caller.User.ID); err != nil {
		return w.errorReply(err)
	} else if id != "" {
		if c, err := w.store.Conversation(ctx, id); err == nil && !c.State.Terminal() {
			return reply(msgAlreadyRunning(c))
		}
	}
	now := w.now().UTC()
	c := &appreg.Conversation{
		ID: newID(), State: appreg.StateStarted, Tenant: strings.ToLower(tenant), Service: service,
		Requester: caller, CreatedAt: now, UpdatedAt: now,
	}
	if tenantIDPattern.MatchString(tenant) {
		c.Tenant = strings.ToLower(tenant)
	}
	if err := w.store.CreateConversation(ctx, c); err != nil {
		return w.errorReply(err)
	}
	if err := w.store.SetActiveConversation(ctx, caller.Channel, caller.User.ID, c.ID); err != nil {
		return w.errorReply(err)
	}
	w.log.Info("audit: onboarding started", "conversation", c.ID, "user", caller.User.ID, "tenant", c.Tenant, "service", service)
	w.spawn(c.ID, w.start)
	return reply(msgStarting(c))
}

func (w *Wizard) list(ctx context.Context, args []string) appreg.Reply {
	if len(args) > 1 {
		return reply(msgUsageOf("list", w.cfg))
	}
	tenant := ""
	if len(args) == 1 {
		tenant = args[0]
	}
	regs, err := w.store.Registrations(ctx, tenant)
	if err != nil {
		return w.errorReply(err)
	}
	sort.Slice(regs, func(i, j int) bool {
		if regs[i].Tenant != regs[j].Tenant {
			return regs[i].Tenant < regs[j].Tenant
		}
		return strings.ToLower(regs[i].Name) < strings.ToLower(regs[j].Name)
	})
	return reply(msgList(regs, tenant, w.now(), w.cfg.Location))
}

func (w *Wizard) cancelCommand(ctx context.Context, caller appreg.Caller, args []string) appreg.Reply {
	if len(args) != 0 {
		return reply(msgUsageOf("cancel", w.cfg))
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
	return reply(appreg.Message{Text: "Cancelled the onboarding of *" + c.Tenant + "*."})
}
