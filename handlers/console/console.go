// Package console is a chat in the terminal, in the manner of Hubot's shell
// adapter: the person at the keyboard types `/appreg …` commands, the bot's
// messages are printed, buttons become numbered choices and forms become
// prompts. It implements appreg.Chat for the bot's side and feeds typed lines
// to an appreg.Bot; with the embedded Redis and the simulated tenant it is
// the zero-configuration way to try the bot.
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Channel and user of the console's one conversation.
const (
	Channel = "console"
	UserID  = "you"
)

// Console is the terminal chat. Safe for concurrent use.
type Console struct {
	out io.Writer
	// Local are words the console answers itself, without the bot: the
	// simulated tenant's "approve" and "decline", for example. Set before Run.
	Local map[string]func() string

	mu      sync.Mutex
	seq     int
	buttons []choice // every choice shown, numbered from 1: a number keeps its meaning
	form    *pendingForm
	status  map[appreg.MessageRef]string // the text last printed for each message
}

type choice struct {
	button appreg.Button
	ref    appreg.MessageRef
}

type pendingForm struct {
	form   appreg.Form
	next   int
	values map[string]string
}

var _ appreg.Chat = (*Console)(nil)

// New returns a console that prints to out.
func New(out io.Writer) *Console { return &Console{out: out} }

var mention = regexp.MustCompile(`<@([^>]+)>`)
var link = regexp.MustCompile(`<(https?://[^|>]+)\|([^>]+)>`)

func plain(text string) string {
	text = link.ReplaceAllString(text, "$2 ($1)")
	return mention.ReplaceAllString(text, "@$1")
}

func (c *Console) print(prefix string, ref appreg.MessageRef, msg appreg.Message) {
	var b strings.Builder
	for i, line := range strings.Split(plain(msg.Text), "\n") {
		if i == 0 {
			fmt.Fprintf(&b, "%s %s\n", prefix, line)
		} else {
			fmt.Fprintf(&b, "%s %s\n", strings.Repeat(" ", len(prefix)), line)
		}
	}
	for _, f := range msg.Fields {
		fmt.Fprintf(&b, "%s   %s: %s\n", strings.Repeat(" ", len(prefix)), f.Label, f.Value)
	}
	if len(msg.Buttons) > 0 {
		var labels []string
		for _, btn := range msg.Buttons {
			c.buttons = append(c.buttons, choice{button: btn, ref: ref})
			labels = append(labels, fmt.Sprintf("[%d] %s", len(c.buttons), btn.Label))
		}
		fmt.Fprintf(&b, "%s   %s   (type the number)\n", strings.Repeat(" ", len(prefix)), strings.Join(labels, "  "))
	}
	fmt.Fprint(c.out, b.String())
}

// Post implements appreg.Chat.
func (c *Console) Post(ctx context.Context, to appreg.Place, msg appreg.Message) (appreg.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	ref := appreg.MessageRef{Channel: Channel, TS: strconv.Itoa(c.seq)}
	prefix := "bot>"
	if to.Thread != "" {
		prefix = "bot (thread)>"
	}
	c.print(prefix, ref, msg)
	return ref, nil
}

// PostPrivate implements appreg.Chat.
func (c *Console) PostPrivate(ctx context.Context, to appreg.Place, user string, msg appreg.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.print("bot (only to you)>", appreg.MessageRef{}, msg)
	return nil
}

// Update implements appreg.Chat: the console cannot change what it printed,
// so it prints the new status.
func (c *Console) Update(ctx context.Context, ref appreg.MessageRef, msg appreg.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status[ref] == msg.Text {
		return nil // nothing new to show
	}
	if c.status == nil {
		c.status = map[appreg.MessageRef]string{}
	}
	c.status[ref] = msg.Text
	c.print("status>", ref, msg)
	return nil
}

// OpenForm implements appreg.Chat: the form's inputs become prompts, and the
// next lines typed answer them.
func (c *Console) OpenForm(ctx context.Context, trigger, user string, form appreg.Form) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(form.Inputs) == 0 {
		return appreg.Errorf(appreg.KindInvalid, "The form has no inputs.")
	}
	c.form = &pendingForm{form: form, values: map[string]string{}}
	c.prompt()
	return nil
}

func (c *Console) prompt() {
	in := c.form.form.Inputs[c.form.next]
	fmt.Fprintf(c.out, "? %s\n  %s\n  (type /appreg cancel to stop)\n> ", in.Label, in.Hint)
}

// ResolveUser implements appreg.Chat.
func (c *Console) ResolveUser(ctx context.Context, id string) (appreg.User, error) {
	return appreg.User{ID: id, Name: id}, nil
}

// GroupMembers implements appreg.Chat: the console has no user groups.
func (c *Console) GroupMembers(ctx context.Context, group string) ([]string, error) {
	return nil, appreg.Errorf(appreg.KindNotFound, "The console has no user groups.")
}

// Run reads lines from in and hands them to bot until in ends or ctx is
// cancelled.
func (c *Console) Run(ctx context.Context, in io.Reader, bot appreg.Bot) error {
	fmt.Fprintln(c.out, "appreg-bot console. Type /appreg help to begin, Ctrl-D to quit.")
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	caller := appreg.Caller{Platform: "console", User: appreg.User{ID: UserID, Name: UserID}, Channel: Channel}
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			c.handle(ctx, bot, caller, line)
		}
	}
}

func (c *Console) handle(ctx context.Context, bot appreg.Bot, caller appreg.Caller, line string) {
	text := strings.TrimSpace(line)
	if cmd, ok := strings.CutPrefix(text, "/appreg"); ok {
		c.mu.Lock()
		c.form = nil
		c.mu.Unlock()
		r := bot.Command(ctx, appreg.Command{Caller: caller, Text: cmd})
		if r.Text != "" {
			c.mu.Lock()
			c.print("bot (only to you)>", appreg.MessageRef{}, r.Message)
			c.mu.Unlock()
		}
		return
	}
	if local, ok := c.Local[strings.ToLower(text)]; ok {
		fmt.Fprintln(c.out, "* "+local())
		return
	}
	c.mu.Lock()
	if f := c.form; f != nil {
		f.values[f.form.Inputs[f.next].ID] = line
		if f.next+1 < len(f.form.Inputs) {
			f.next++
			c.prompt()
			c.mu.Unlock()
			return
		}
		c.form = nil
		c.mu.Unlock()
		c.submit(ctx, bot, caller, f)
		return
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < 1 || n > len(c.buttons) {
		c.mu.Unlock()
		if text != "" {
			fmt.Fprintln(c.out, "Type a command such as /appreg help, or the number of a choice.")
		}
		return
	}
	ch := c.buttons[n-1]
	c.mu.Unlock()
	if err := bot.Act(ctx, appreg.Action{Caller: caller, ActionID: ch.button.ActionID, Value: ch.button.Value, Message: ch.ref}); err != nil {
		fmt.Fprintln(c.out, "! "+appreg.ErrorMessage(err))
	}
}

func (c *Console) submit(ctx context.Context, bot appreg.Bot, caller appreg.Caller, f *pendingForm) {
	errs, err := bot.Submit(ctx, appreg.Submission{Caller: caller, FormID: f.form.ID, Conversation: f.form.Conversation, Values: f.values})
	if err != nil {
		fmt.Fprintln(c.out, "! "+appreg.ErrorMessage(err))
		return
	}
	if len(errs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, in := range f.form.Inputs {
		if msg, bad := errs[in.ID]; bad {
			fmt.Fprintln(c.out, "! "+msg)
			f.next = i
			c.form = f
			c.prompt()
			return
		}
	}
}
