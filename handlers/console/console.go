// Package console is a chat in the terminal, in the manner of Hubot's shell
// adapter: the person at the keyboard types `/appreg …` commands, the bot's
// messages are printed, buttons become numbered choices and forms become
// prompts (a message that asks for input prompts at once, so a name is
// typed, not clicked for). The person can act as more than one user (`as
// approver`), so that a second person's part, such as approving a role
// change, can be played too. It implements appreg.Chat for the bot's side
// and feeds typed lines to an appreg.Bot; with the embedded Redis and the
// simulated tenant it is the zero-configuration way to try the bot.
package console

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Platform, channel and users of the console.
const (
	Platform = "console"
	Channel  = "console"
	UserID   = "you"
	// Approver is the second person the console can act as.
	Approver = "approver"
	// ApprovalsChannel is the console's channel for role-change requests.
	ApprovalsChannel = "approvals"
)

// MaxLine is the longest line the console reads; a longer one is refused
// with a message, and the console goes on.
const MaxLine = 64 << 10

// Console is the terminal chat. Safe for concurrent use.
type Console struct {
	out io.Writer
	// Local are words the console answers itself, without the bot: the
	// simulated tenant's "approve" and "decline", for example, and their
	// forms with an argument ("approve global" calls Local["approve"] with
	// "global"). Set before Run.
	Local map[string]func(arg string) string

	mu      sync.Mutex
	seq     int
	user    string   // who is typing
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

// New returns a console that prints to out, typed into by UserID.
func New(out io.Writer) *Console { return &Console{out: out, user: UserID} }

// users are the people the console can act as.
func users() []string { return []string{UserID, Approver} }

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
	pad := strings.Repeat(" ", utf8.RuneCountInString(prefix))
	for i, line := range strings.Split(Render(msg.Text), "\n") {
		if i == 0 {
			fmt.Fprintf(&b, "%s %s\n", prefix, line)
		} else {
			fmt.Fprintf(&b, "%s %s\n", pad, line)
		}
	}
	for _, f := range msg.Fields {
		fmt.Fprintf(&b, "%s   %s: %s\n", pad, f.Label, f.Value)
	}
	if len(msg.Buttons) > 0 {
		var labels []string
		for _, btn := range msg.Buttons {
			c.buttons = append(c.buttons, choice{button: btn, ref: ref})
			labels = append(labels, fmt.Sprintf("[%d] %s", len(c.buttons), btn.Label))
		}
		fmt.Fprintf(&b, "%s   %s   (type the number)\n", pad, strings.Join(labels, "  "))
	}
	fmt.Fprint(c.out, b.String())
	if msg.Ask != nil {
		c.startForm(*msg.Ask)
	}
}

// where names a place for the prefix of what the bot says there.
func where(p appreg.Place) string {
	switch {
	case p.Channel == ApprovalsChannel:
		return "bot (#approvals)>"
	case p.Thread != "":
		return "bot (thread)>"
	}
	return "bot>"
}

// Post implements appreg.Chat.
func (c *Console) Post(ctx context.Context, to appreg.Place, msg appreg.Message) (appreg.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	ref := appreg.MessageRef{Platform: Platform, Channel: cmp.Or(to.Channel, Channel), ID: strconv.Itoa(c.seq), Thread: to.Thread}
	c.print(where(to), ref, msg)
	return ref, nil
}

// Private implements appreg.Chat.
func (c *Console) Private(ctx context.Context, near appreg.Place, user string, msg appreg.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.print("bot (only to "+user+")>", appreg.MessageRef{}, msg)
	return nil
}

// Direct implements appreg.Chat.
func (c *Console) Direct(ctx context.Context, platform, user string, msg appreg.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.print("bot (direct message to "+user+")>", appreg.MessageRef{}, msg)
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

// startForm turns the form's inputs into prompts; the next lines typed
// answer them. c.mu is held.
func (c *Console) startForm(form appreg.Form) {
	if len(form.Inputs) == 0 {
		return
	}
	c.form = &pendingForm{form: form, values: map[string]string{}}
	c.prompt()
}

func (c *Console) prompt() {
	in := c.form.form.Inputs[c.form.next]
	fmt.Fprintf(c.out, "? %s\n  %s\n  (type the answer; a command instead leaves the prompt)\n> ", in.Label, in.Hint)
}

// Run reads lines from in and hands them to bot until in ends or ctx is
// cancelled. A line longer than MaxLine is refused with a message.
func (c *Console) Run(ctx context.Context, in io.Reader, bot appreg.Bot) error {
	fmt.Fprintln(c.out, "appreg-bot console. Type /appreg help to begin, Ctrl-D to quit.")
	lines := make(chan string)
	go func() {
		defer close(lines)
		r := bufio.NewReaderSize(in, 4096)
		for {
			line, err := readLine(r)
			if errors.Is(err, errLineTooLong) {
				line = tooLong
			} else if err != nil {
				if line == "" {
					return
				}
			}
			select {
			case lines <- line:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			c.handle(ctx, bot, line)
		}
	}
}

// tooLong stands for a line that was longer than MaxLine.
const tooLong = "\x00too long"

var errLineTooLong = errors.New("line too long")

// readLine reads one line of at most MaxLine bytes; of a longer line it
// reads and drops the rest and returns errLineTooLong.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(b)+len(chunk) <= MaxLine+1 {
			b = append(b, chunk...)
		} else {
			b = b[:0]
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			return "", errLineTooLong
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return strings.TrimRight(string(b), "\r\n"), err
	}
}

// caller is who is typing.
func (c *Console) caller() appreg.Caller {
	c.mu.Lock()
	defer c.mu.Unlock()
	return appreg.Caller{Platform: Platform, User: appreg.User{ID: c.user, Name: c.user}, Channel: Channel}
}

func (c *Console) handle(ctx context.Context, bot appreg.Bot, line string) {
	if line == tooLong {
		fmt.Fprintf(c.out, "! That line is longer than %d KiB; it was not read. Nothing was done.\n", MaxLine>>10)
		return
	}
	text := strings.TrimSpace(line)
	if cmd, ok := strings.CutPrefix(text, "/appreg"); ok {
		c.leavePrompt()
		caller := c.caller()
		r := bot.Command(ctx, appreg.Command{Caller: caller, Text: cmd})
		if !r.Text.IsEmpty() {
			c.mu.Lock()
			c.print("bot (only to "+caller.User.ID+")>", appreg.MessageRef{}, r.Message)
			c.mu.Unlock()
		}
		return
	}
	word, arg, _ := strings.Cut(strings.ToLower(text), " ")
	if word == "as" {
		c.switchUser(strings.TrimSpace(arg))
		return
	}
	if local, ok := c.Local[word]; ok && c.pendingForm() == nil {
		fmt.Fprintln(c.out, "* "+local(strings.TrimSpace(arg)))
		return
	}
	c.mu.Lock()
	if f := c.form; f != nil {
		f.values[f.form.Inputs[f.next].ID] = text
		if f.next+1 < len(f.form.Inputs) {
			f.next++
			c.prompt()
			c.mu.Unlock()
			return
		}
		c.form = nil
		c.mu.Unlock()
		c.submit(ctx, bot, f)
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
	caller := c.caller()
	ans, err := bot.Act(ctx, appreg.Action{Caller: caller, ActionID: ch.button.ActionID, Value: ch.button.Value, Message: ch.ref})
	if err != nil {
		fmt.Fprintln(c.out, "! "+appreg.ErrorMessage(err))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ans.Notice.Text.IsEmpty() {
		c.print("bot (only to "+caller.User.ID+")>", appreg.MessageRef{}, ans.Notice)
	}
	if ans.Form != nil {
		c.startForm(*ans.Form)
	}
}

func (c *Console) pendingForm() *pendingForm {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.form
}

// leavePrompt drops a pending prompt, saying so: a command was typed
// instead of an answer.
func (c *Console) leavePrompt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.form == nil {
		return
	}
	fmt.Fprintf(c.out, "* You left the prompt %q; its button brings it back.\n", c.form.form.Inputs[c.form.next].Label)
	c.form = nil
}

// switchUser makes the console type as another of its users.
func (c *Console) switchUser(user string) {
	if !slices.Contains(users(), user) {
		fmt.Fprintf(c.out, "* I can act as %s. Type, for example, `as %s`.\n", strings.Join(users(), " or "), Approver)
		return
	}
	c.leavePrompt()
	c.mu.Lock()
	c.user = user
	c.mu.Unlock()
	fmt.Fprintf(c.out, "* You are now typing as %s.\n", user)
}

func (c *Console) submit(ctx context.Context, bot appreg.Bot, f *pendingForm) {
	errs, err := bot.Submit(ctx, appreg.Submission{Caller: c.caller(), FormID: f.form.ID, Conversation: f.form.Conversation, Values: f.values})
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
