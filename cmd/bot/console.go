package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/appreg-bot/appreg-bot/handlers/console"
	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/simtenant"
)

// The simulated tenant of the console: one customer tenant with an admin
// for each path of the demo.
const (
	demoTenantID  = "8f1b6a2c-4d3e-4f50-9a61-7b8c9d0e1f23"
	demoDomain    = "contoso.onmicrosoft.com"
	demoAdmin     = "admin@contoso.onmicrosoft.com"    // Application Administrator
	demoGlobal    = "global@contoso.onmicrosoft.com"   // Global Administrator
	demoPrivilege = "security@contoso.onmicrosoft.com" // Privileged Role Administrator
)

// demoTenant fills the stand-in with the console's tenant.
func demoTenant(sim *simtenant.Server) {
	sim.AddTenant(simtenant.Tenant{ID: demoTenantID, DisplayName: "Contoso", Domains: []string{demoDomain, "contoso.com"}})
	sim.AddUser(demoTenantID, simtenant.User{UPN: demoAdmin, DisplayName: "Contoso Admin", Roles: []string{"Application Administrator"}})
	sim.AddUser(demoTenantID, simtenant.User{UPN: demoGlobal, DisplayName: "Contoso Global Admin", Roles: []string{"Global Administrator"}})
	sim.AddUser(demoTenantID, simtenant.User{UPN: demoPrivilege, DisplayName: "Contoso Security", Roles: []string{"Privileged Role Administrator"}})
}

// demoHelp says how to play the customer's admins and the approver.
func demoHelp() string {
	return strings.Join([]string{
		"Simulated tenant " + demoDomain + " (tenant id " + demoTenantID + "; also contoso.com). Not for production.",
		"  Start with:          /appreg new " + demoDomain,
		"  When a sign-in code is shown, sign in as one of the tenant's admins by typing:",
		"    approve            " + demoAdmin + ", Application Administrator: consents stay pending",
		"    approve global     " + demoGlobal + ", Global Administrator: consents granted",
		"    approve security   " + demoPrivilege + ", Privileged Role Administrator: for role changes",
		"    decline            the admin refuses the sign-in",
		"  as approver / as you: type as a second person, who approves role changes (nobody approves their own).",
	}, "\n")
}

// consoleLogPath is where the console writes its log, so that log lines do
// not interleave with the conversation.
func consoleLogPath() string { return filepath.Join(os.TempDir(), "appreg-bot-console.log") }

// openConsoleLog opens the console's log file for appending.
func openConsoleLog() (*os.File, error) {
	return os.OpenFile(consoleLogPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
}

// consolePlatform is the chat in the terminal: the platform when no other
// is configured.
type consolePlatform struct {
	con  *console.Console
	in   io.Reader
	out  io.Writer
	sim  *simtenant.Server // the simulated tenant, when there is one
	log  *slog.Logger
	done chan struct{} // closed when the console ends
	// banner lines Main adds before Start: where the log and the HTTP
	// endpoints are.
	notes []string
}

func newConsole(in io.Reader, out io.Writer, sim *simtenant.Server, log *slog.Logger) *consolePlatform {
	return &consolePlatform{con: console.New(out), in: in, out: out, sim: sim, log: log, done: make(chan struct{})}
}

func (p *consolePlatform) Name() string             { return console.Platform }
func (p *consolePlatform) Chat() appreg.Chat        { return p.con }
func (p *consolePlatform) ApprovalsChannel() string { return console.ApprovalsChannel }
func (p *consolePlatform) RemindersChannel() string { return "" }

// Start prints the banner and reads the terminal until it ends or ctx
// does; then done is closed.
func (p *consolePlatform) Start(ctx context.Context, bot appreg.Bot, _ *http.ServeMux, bg *sync.WaitGroup) error {
	if p.sim != nil {
		fmt.Fprintln(p.out, demoHelp())
		p.con.Local = map[string]func(string) string{"approve": p.approve, "decline": p.decline}
	}
	for _, n := range p.notes {
		fmt.Fprintln(p.out, "  "+n)
	}
	bg.Go(func() {
		defer close(p.done)
		if err := p.con.Run(ctx, p.in, bot); err != nil {
			p.log.Error("console stopped", "err", err)
		}
	})
	return nil
}

// approve signs in the admin the argument names: "" (the Application
// Administrator), "global" or "security".
func (p *consolePlatform) approve(who string) string {
	var upn, name string
	switch who {
	case "":
		upn, name = demoAdmin, "Contoso Admin (Application Administrator)"
	case "global":
		upn, name = demoGlobal, "Contoso Global Admin (Global Administrator)"
	case "security":
		upn, name = demoPrivilege, "Contoso Security (Privileged Role Administrator)"
	default:
		return "I know `approve`, `approve global` and `approve security`."
	}
	if err := p.sim.Approve("", upn); err != nil {
		return noCode(err)
	}
	return name + " signed in with the code shown."
}

func (p *consolePlatform) decline(string) string {
	if err := p.sim.Decline(""); err != nil {
		return noCode(err)
	}
	return "The customer admin declined the sign-in."
}

// noCode explains a sign-in that could not be played.
func noCode(err error) string {
	if errors.Is(err, simtenant.ErrNoPendingCode) {
		return "No sign-in code is waiting right now. Start with /appreg new " + demoDomain + ", or ask for a new code with the button."
	}
	return "The simulated sign-in did not work: " + err.Error()
}
