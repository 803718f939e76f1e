package teams

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
	"github.com/appreg-bot/appreg-bot/internal/panics"
	"github.com/appreg-bot/appreg-bot/internal/safeurl"
)

// Invoke names and answer types.
const (
	InvokeAdaptiveCardAction = "adaptiveCard/action"

	invokeTypeCard    = "application/vnd.microsoft.card.adaptive"
	invokeTypeMessage = "application/vnd.microsoft.activity.message"
)

// Timing of the work a delivery causes.
const (
	// invokeWait is how long a click's invoke waits for the engine's
	// answer before it answers "working on it" (Teams shows an error when
	// an invoke takes much longer).
	invokeWait = 4 * time.Second
	// workTimeout bounds the work of one delivery, including the posts it
	// makes (a reply, a greeting, a late notice).
	workTimeout = 30 * time.Second
	// maxNoticeRunes is the longest notice answered as a message; a longer
	// one, or one with fields or buttons, is answered as a card.
	maxNoticeRunes = 400
)

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	// Bot receives commands, clicks and submissions. Required.
	Bot appreg.Bot
	// Chat sends replies, greetings and notices. Required.
	Chat *Chat
	// Refs records the conversation and user of every accepted activity.
	// Required.
	Refs References
	// Auth authenticates every request. Required unless
	// DevUnauthenticated.
	Auth *Authenticator
	// DevUnauthenticated accepts activities without authentication, for a
	// local emulator (Microsoft 365 Agents Playground); their serviceUrl
	// must then be a loopback http(s) URL. The caller must make sure the
	// handler is reachable on loopback only. Never in production.
	DevUnauthenticated bool
	// OnPanic, when set, counts a panic recovered while handling an
	// activity.
	OnPanic func()
	// Log receives one line per delivery (user id, activity type,
	// conversation kind, latency; never the text typed). nil discards.
	Log *slog.Logger
}

// Handler serves POST /api/messages: the activities Teams sends to the
// bot. It is safe for concurrent use.
//
// Every request is authenticated (401 and nothing recorded or sent
// otherwise; 503 when the keys cannot be fetched, so that the Bot Framework
// retries) unless the handler is in development mode. A body that is not
// an activity is 400. An accepted activity first has its conversation and
// user recorded (503 when that fails), then:
//
//   - message: "appreg <command>" (a leading "/" accepted, the bot's
//     @mention stripped) goes to Bot.Command with the activity id as the
//     delivery id; the reply is posted in the same conversation, in a
//     channel in the command's reply chain. Other text gets a short hint.
//     A message carrying an Action.Submit's value is handled like a click.
//   - invoke adaptiveCard/action (Action.Execute): a button goes to
//     Bot.Act, the form's submit to Bot.Submit; the HTTP answer shows the
//     result to the person who clicked: a form card, a notice (a message,
//     or a card when it has fields or buttons), the form again with the
//     rule broken under the input and the value typed kept, or a short
//     acknowledgement.
//   - conversationUpdate adding the bot: a greeting with the help text.
//   - anything else: 200, nothing more.
type Handler struct {
	cfg  HandlerConfig
	refs refStore
	work sync.WaitGroup
}

// NewHandler returns a Handler for cfg. It fails when a required part is
// missing.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	switch {
	case cfg.Bot == nil || cfg.Chat == nil || cfg.Refs == nil:
		return nil, errors.New("teams: HandlerConfig.Bot, Chat and Refs are required")
	case cfg.Auth == nil && !cfg.DevUnauthenticated:
		return nil, errors.New("teams: HandlerConfig.Auth is required outside development mode")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, refs: refStore{cfg.Refs}}, nil
}

// Wait waits for the work that deliveries left running (a click answered
// "working on it" whose engine call is still going).
func (h *Handler) Wait() { h.work.Wait() }

// ServeHTTP handles one delivery.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	act, err := h.read(r)
	if err != nil {
		h.reject(w, r, err)
		return
	}
	ctx := r.Context()
	if err := h.record(ctx, act); err != nil {
		h.reject(w, r, err)
		return
	}
	var answer any
	switch act.Type {
	case TypeMessage:
		h.message(ctx, act)
	case TypeInvoke:
		answer = h.invoke(ctx, act)
	case TypeConversationUpdate:
		h.conversationUpdate(ctx, act)
	}
	h.cfg.Log.InfoContext(ctx, "teams delivery", "type", act.Type, "name", act.Name, "user", userID(act),
		"conversation_kind", act.Kind(), "latency", time.Since(start))
	if answer == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(encode(answer))
}

// read returns the request's activity, authenticated unless in
// development mode.
func (h *Handler) read(r *http.Request) (*Activity, error) {
	if !h.cfg.DevUnauthenticated {
		return h.cfg.Auth.AuthenticateRequest(r)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxActivityBytes+1))
	if err != nil || len(body) > MaxActivityBytes {
		return nil, appreg.Errorf(appreg.KindInvalid, "The request body could not be read, or is larger than %d bytes.", MaxActivityBytes)
	}
	var act Activity
	if err := json.Unmarshal(body, &act); err != nil {
		return nil, appreg.Wrap(appreg.KindInvalid, err, "The request body is not a Bot Framework activity.")
	}
	if u, err := url.Parse(act.ServiceURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || !safeurl.Loopback(u.Hostname()) {
		return nil, refused("development mode accepts activities from a loopback serviceUrl only, not %s", quote(act.ServiceURL))
	}
	return &act, nil
}

func (h *Handler) reject(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusCode(err)
	h.cfg.Log.WarnContext(r.Context(), "teams request rejected", "status", status, "kind", appreg.ErrorKind(err), "err", err, "remote", r.RemoteAddr)
	http.Error(w, http.StatusText(status), status)
}

// record keeps the activity's conversation and user for later sends.
func (h *Handler) record(ctx context.Context, act *Activity) error {
	conv, _ := SplitThread(act.Conversation.ID)
	if conv == "" {
		return appreg.Errorf(appreg.KindInvalid, "The activity names no conversation.")
	}
	ref := conversationRef{ID: conv, ServiceURL: act.ServiceURL, TenantID: act.TenantID(), Kind: act.Kind()}
	if cd := act.ChannelData; cd != nil && cd.Channel != nil && cd.Channel.ID == conv {
		ref.Name = cd.Channel.Name
	}
	if err := h.refs.saveConversation(ctx, ref); err != nil {
		return err
	}
	if userID(act) == "" || act.From.ID == "" || act.TenantID() == "" {
		return nil
	}
	u := userRef{AADObjectID: userID(act), TeamsID: act.From.ID, Name: act.From.Name, TenantID: act.TenantID(), ServiceURL: act.ServiceURL}
	if act.Kind() == ConversationPersonal {
		u.Personal = conv
	}
	return h.refs.saveUser(ctx, u)
}

// userID is how the bot names the sender: the Entra object id, or the
// Teams id when Teams gave none.
func userID(act *Activity) string { return cmp.Or(act.From.AADObjectID, act.From.ID) }

// caller is the sender of act, where they spoke: in a channel, the reply
// chain (its root: the thread of the conversation id, the card's message
// for a click, or the message itself).
func caller(act *Activity) appreg.Caller {
	conv, root := SplitThread(act.Conversation.ID)
	c := appreg.Caller{Platform: Platform, User: appreg.User{ID: userID(act), Name: act.From.Name}, Channel: conv}
	if act.Kind() == ConversationChannel {
		c.Thread = cmp.Or(root, act.ReplyToID, act.ID)
		if act.Type == TypeMessage && len(act.Value) == 0 {
			c.Thread = cmp.Or(root, act.ID)
		}
	}
	return c
}

// detached is a context for work a delivery causes: detached from the
// request's cancellation, bounded by workTimeout.
func (h *Handler) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), workTimeout)
}

// message handles a message activity: a command, an Action.Submit, or
// anything else (a hint).
func (h *Handler) message(ctx context.Context, act *Activity) {
	ctx, cancel := h.detached(ctx)
	defer cancel()
	who := caller(act)
	text := act.TextWithoutMention()
	if len(act.Value) > 0 && text == "" {
		h.submitted(ctx, act, who)
		return
	}
	cmd, ok := command(text)
	if !ok {
		h.post(ctx, who.Place(), hint())
		return
	}
	reply := h.cfg.Bot.Command(ctx, appreg.Command{Caller: who, Text: cmd, DeliveryID: act.ID})
	if !reply.Text.IsEmpty() {
		h.post(ctx, who.Place(), reply.Message)
	}
}

// command returns the engine's command in text: what follows "appreg" (or
// "/appreg") as its first word.
func command(text string) (string, bool) {
	text = strings.TrimPrefix(strings.TrimSpace(text), "/")
	first, rest, _ := strings.Cut(text, " ")
	if !strings.EqualFold(strings.TrimSpace(first), "appreg") {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

func hint() appreg.Message {
	return appreg.Message{Text: appreg.T(appreg.IconInfo, "To ask me something, start with ", appreg.Code("appreg"),
		", for example ", appreg.Code("appreg help"), " or ", appreg.Code("appreg new contoso.onmicrosoft.com"), ".")}
}

// post posts msg, logging a failure.
func (h *Handler) post(ctx context.Context, to appreg.Place, msg appreg.Message) {
	if _, err := h.cfg.Chat.Post(ctx, to, msg); err != nil {
		h.cfg.Log.WarnContext(ctx, "teams: could not post a reply", "conversation", to.Channel, "kind", appreg.ErrorKind(err), "err", err)
	}
}

// conversationUpdate greets a conversation the bot was added to with the
// help text.
func (h *Handler) conversationUpdate(ctx context.Context, act *Activity) {
	added := false
	for _, m := range act.MembersAdded {
		added = added || (m.ID != "" && m.ID == act.Recipient.ID)
	}
	if !added {
		return
	}
	ctx, cancel := h.detached(ctx)
	defer cancel()
	who := caller(act)
	who.Thread = ""
	reply := h.cfg.Bot.Command(ctx, appreg.Command{Caller: who, Text: "help", DeliveryID: "greet:" + act.ID})
	if !reply.Text.IsEmpty() {
		h.post(ctx, appreg.Place{Platform: Platform, Channel: who.Channel}, reply.Message)
	}
}

// invokeResponse is the HTTP answer to an adaptiveCard/action invoke.
type invokeResponse struct {
	StatusCode int    `json:"statusCode"`
	Type       string `json:"type"`
	Value      any    `json:"value"`
}

// answer is what a click or a submission shows the person who made it: a
// card replacing the one clicked, or a short text.
type answer struct {
	card *card
	text string
	// notice is the engine's notice when the text is one, for delivery
	// by other means.
	notice appreg.Message
}

// invoke answers an invoke: adaptiveCard/action is a click or a submission;
// other invokes get an empty answer.
func (h *Handler) invoke(ctx context.Context, act *Activity) any {
	if act.Name != InvokeAdaptiveCardAction {
		return nil
	}
	verb, data, err := actionOf(act.Value)
	if err != nil {
		h.cfg.Log.WarnContext(ctx, "teams: malformed card action", "err", err)
		return messageResponse(plainText(appreg.T(appreg.IconWarn, "That button is broken. Run the command again.")))
	}
	done := make(chan answer, 1)
	h.work.Go(func() {
		wctx, cancel := h.detached(ctx)
		defer cancel()
		defer close(done)
		defer panics.Guard(h.cfg.Log, h.cfg.OnPanic, func(v any) {
			done <- answer{text: plainText(appreg.T(appreg.IconWarn, appreg.ErrorMessage(fmt.Errorf("panic: %v", v))))}
		}, "activity", act.ID)
		done <- h.act(wctx, act, caller(act), verb, data)
	})
	t := time.NewTimer(invokeWait)
	defer t.Stop()
	select {
	case a := <-done:
		return a.response()
	case <-t.C:
	}
	// Too slow for the invoke: whatever it says later goes to the
	// clicker's personal chat.
	h.work.Go(func() {
		defer panics.Guard(h.cfg.Log, h.cfg.OnPanic, nil, "activity", act.ID)
		a, ok := <-done
		if !ok || a.notice.Text.IsEmpty() {
			return
		}
		wctx, cancel := h.detached(ctx)
		defer cancel()
		if err := h.cfg.Chat.Private(wctx, appreg.Place{}, userID(act), a.notice); err != nil {
			h.cfg.Log.WarnContext(wctx, "teams: could not deliver a late notice", "user", userID(act), "err", err)
		}
	})
	return messageResponse(iconGlyph(appreg.IconWork) + " Working on it…")
}

func (a answer) response() invokeResponse {
	if a.card != nil {
		return invokeResponse{StatusCode: http.StatusOK, Type: invokeTypeCard, Value: *a.card}
	}
	return messageResponse(a.text)
}

func messageResponse(text string) invokeResponse {
	return invokeResponse{StatusCode: http.StatusOK, Type: invokeTypeMessage, Value: text}
}

// submitted handles an Action.Submit: a message whose value is the card's
// data. The answer is posted: a card in the same conversation, a notice in
// the clicker's personal chat.
func (h *Handler) submitted(ctx context.Context, act *Activity, who appreg.Caller) {
	var data map[string]any
	if err := json.Unmarshal(act.Value, &data); err != nil {
		h.cfg.Log.WarnContext(ctx, "teams: malformed Action.Submit value", "err", err)
		return
	}
	verb, _ := data[dataVerb].(string)
	a := h.act(ctx, act, who, verb, data)
	switch {
	case a.card != nil:
		if err := h.cfg.Chat.postCard(ctx, who.Place(), *a.card); err != nil {
			h.cfg.Log.WarnContext(ctx, "teams: could not post a card", "err", err)
		}
	case !a.notice.Text.IsEmpty():
		if err := h.cfg.Chat.Private(ctx, who.Place(), who.User.ID, a.notice); err != nil {
			h.cfg.Log.WarnContext(ctx, "teams: could not deliver a notice", "user", who.User.ID, "err", err)
		}
	}
}

// actionOf reads an adaptiveCard/action invoke's value: the verb and the
// data (the inputs merged in).
func actionOf(raw json.RawMessage) (string, map[string]any, error) {
	var v struct {
		Action struct {
			Type string         `json:"type"`
			Verb string         `json:"verb"`
			Data map[string]any `json:"data"`
		} `json:"action"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", nil, fmt.Errorf("invoke value: %w", err)
	}
	verb, _ := v.Action.Data[dataVerb].(string)
	verb = cmp.Or(v.Action.Verb, verb)
	if verb == "" {
		return "", nil, errors.New("invoke value: no verb")
	}
	return verb, v.Action.Data, nil
}

// act delivers a click (verb = the button's action id) or a form's
// submission (verb formVerb) and says what to show the person.
func (h *Handler) act(ctx context.Context, act *Activity, who appreg.Caller, verb string, data map[string]any) answer {
	if verb == formVerb {
		return h.submitForm(ctx, who, data)
	}
	value, _ := data[dataValue].(string)
	conv, root := SplitThread(act.Conversation.ID)
	ref := appreg.MessageRef{Platform: Platform, Channel: act.Conversation.ID, ID: act.ReplyToID, Thread: root}
	if act.Kind() == ConversationChannel && root == "" {
		ref.Channel, ref.Thread = conv, act.ReplyToID
	}
	ans, err := h.cfg.Bot.Act(ctx, appreg.Action{Caller: who, ActionID: verb, Value: value, DeliveryID: act.ID, Message: ref})
	if err != nil {
		h.cfg.Log.WarnContext(ctx, "teams click failed", "user", who.User.ID, "action", verb, "kind", appreg.ErrorKind(err), "err", err)
		return noticeAnswer(appreg.Message{Text: appreg.T(appreg.IconWarn, appreg.ErrorMessage(err))})
	}
	switch {
	case ans.Form != nil:
		c := formCard(*ans.Form, nil, nil)
		return answer{card: &c}
	case !ans.Notice.Text.IsEmpty() || len(ans.Notice.Fields) > 0:
		return noticeAnswer(ans.Notice)
	}
	return answer{text: iconGlyph(appreg.IconOK) + " Got it."}
}

// noticeAnswer shows a notice as a message when it is short plain text,
// and as a card otherwise.
func noticeAnswer(m appreg.Message) answer {
	text := plainText(m.Text)
	if len(m.Fields) == 0 && len(m.Buttons) == 0 && utf8.RuneCountInString(text) <= maxNoticeRunes {
		return answer{text: text, notice: m}
	}
	c := messageCard(m, nil)
	return answer{card: &c, notice: m}
}

// submitForm delivers a form's submission: the form travels in the submit
// button's data, its inputs' values beside it.
func (h *Handler) submitForm(ctx context.Context, who appreg.Caller, data map[string]any) answer {
	var form appreg.Form
	raw, err := json.Marshal(data[dataForm])
	if err == nil {
		err = json.Unmarshal(raw, &form)
	}
	if err != nil || form.ID == "" {
		return answer{text: plainText(appreg.T(appreg.IconWarn, "This form is broken. Click the button that opened it again."))}
	}
	values := map[string]string{}
	for k, v := range data {
		if id, ok := strings.CutPrefix(k, inputPrefix); ok {
			s, _ := v.(string)
			values[id] = s
		}
	}
	errs, err := h.cfg.Bot.Submit(ctx, appreg.Submission{Caller: who, FormID: form.ID, Conversation: form.Conversation, Values: values})
	if err != nil {
		h.cfg.Log.WarnContext(ctx, "teams submission failed", "user", who.User.ID, "form", form.ID, "kind", appreg.ErrorKind(err), "err", err)
		if len(form.Inputs) > 0 {
			errs = map[string]string{form.Inputs[0].ID: appreg.ErrorMessage(err)}
		}
	}
	if len(errs) > 0 {
		c := formCard(form, values, errs)
		return answer{card: &c}
	}
	c := submittedCard(form, values)
	return answer{card: &c}
}
