// Package console is a chat in the terminal, in the manner of Hubot's shell
// adapter: the person at the keyboard types `/appreg …` commands, the bot's
// messages are printed, buttons become numbered choices and forms become
// prompts. It implements appreg.Chat for the bot's side and feeds typed lines
// to an appreg.Bot; with the embedded Redis and the simulated tenant it is
// the zero-configuration way to try the bot.
package console

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Platform, channel and user of the console's one conversation.
const (
	Platform = "console"
	Channel  = "console"
	UserID   = "you"
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

// Render is t as the console shows it: plain text, an icon as a symbol, a
// mention as @name, a link as its address.
func Render(t appreg.Text) string {
	var b strings.Builder
	for _, s := range t {
		switch s.Kind {
		case appreg.SpanIcon:
			b.WriteString(symbol(s.Icon) + " ")
		case appreg.SpanUser:
			b.WriteString("@" + cmp.Or(s.Text, s.ID))
		case appreg.SpanChannel:
			b.WriteString("#" + cmp.Or(s.Text, s.ID))
		case appreg.SpanLink:
			if s.Text == "" || s.Text == s.URL {
				b.WriteString(s.URL)
			} else {
				b.WriteString(s.Text + " (" + s.URL + ")")
			}
		default:
			b.WriteString(s.Text)
		}
	}
	return b.String()
}

// symbol is the console's glyph of an icon.
func symbol(i appreg.Icon) string {
	switch i {
	case appreg.IconOK:
		return "✔"
	case appreg.IconWarn:
		return "⚠"
	case appreg.IconFail:
		return "✖"
	case appreg.IconWait:
		return "⏳"
	case appreg.IconKey:
		return "🔑"
	case appreg.IconLock:
		return "🔒"
	case appreg.IconInfo:
		return "ℹ"
	case appreg.IconWork:
		return "⚙"
	case appreg.IconAsk:
		return "✋"
	case appreg.IconStop:
		return "⛔"
	case appreg.IconPause:
		return "⏸"
	case appreg.IconParty:
		return "🎉"
	case appreg.IconClean:
		return "🧹"
	case appreg.IconSearch:
		return "🔍"
	case appreg.IconRotate:
		return "🔄"
	case appreg.IconAlert:
		return "🚨"
	case appreg.IconSnooze:
		return "💤"
	case appreg.IconTest:
		return "🧪"
	case appreg.IconExpired:
		return "⛔"
	}
	return "•"
}

func (c *Console) print(prefix string, ref appreg.MessageRef, msg appreg.Message) {
	var b strings.Builder
	for i, line := range strings.Split(Render(msg.Text), "\n") {
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
	ref := appreg.MessageRef{Platform: Platform, Channel: Channel, ID: strconv.Itoa(c.seq), Thread: to.Thread}
	prefix := "bot>"
	if to.Thread != "" {
		prefix = "bot (thread)>"
	}
	c.print(prefix, ref, msg)
	return ref, nil
}

// Private implements appreg.Chat.
func (c *Console) Private(ctx context.Context, near appreg.Place, user string, msg appreg.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.print("bot (only to you)>", appreg.MessageRef{}, msg)
	return nil
}

// Direct implements appreg.Chat.
func (c *Console) Direct(ctx context.Context, platform, user string, msg appreg.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.print("bot (direct message)>", appreg.MessageRef{}, msg)
	return nil
}

// Update implements appreg.Chat: the console cannot change what it printed,
// so it prints the new status.
func (c *Console) Update(ctx context.Context, ref appreg.MessageRef, msg appreg.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	text := Render(msg.Text)
	if c.status[ref] == text {
		return nil // nothing new to show
	}
	if c.status == nil {
		c.status = map[appreg.MessageRef]string{}
	}
	c.status[ref] = text
	c.print("status>", ref, msg)
	return nil
}

// IsOneOf implements appreg.Chat: an entry is one of the console's user
// names.
func (c *Console) IsOneOf(ctx context.Context, platform, user string, entries []string) (bool, error) {
	return slices.Contains(entries, user), nil
}

// openForm turns the form's inputs into prompts; the next lines typed
// answer them.
func (c *Console) openForm(form appreg.Form) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(form.Inputs) == 0 {
		return
	}
	c.form = &pendingForm{form: form, values: map[string]string{}}
	c.prompt()
}

func (c *Console) prompt() {
	in := c.form.form.Inputs[c.form.next]
	fmt.Fprintf(c.out, "? %s\n  %s\n  (type /appreg cancel to stop)\n> ", in.Label, in.Hint)
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
	caller := appreg.Caller{Platform: Platform, User: appreg.User{ID: UserID, Name: UserID}, Channel: Channel}
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
		if !r.Text.IsEmpty() {
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
	ans, err := bot.Act(ctx, appreg.Action{Caller: caller, ActionID: ch.button.ActionID, Value: ch.button.Value, Message: ch.ref})
	if err != nil {
		fmt.Fprintln(c.out, "! "+appreg.ErrorMessage(err))
		return
	}
	if !ans.Notice.Text.IsEmpty() {
		c.mu.Lock()
		c.print("bot (only to you)>", appreg.MessageRef{}, ans.Notice)
		c.mu.Unlock()
	}
	if ans.Form != nil {
		c.openForm(*ans.Form)
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
