package slackbot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// TestSocketEventsAckLikeHTTP checks that a delivery over Socket Mode reaches
// the bot as over HTTP and is acknowledged with the same payload.
func TestSocketEventsAckLikeHTTP(t *testing.T) {
	mustCallback := func(payload string) slack.InteractionCallback {
		var ic slack.InteractionCallback
		if err := json.Unmarshal([]byte(payload), &ic); err != nil {
			t.Fatal(err)
		}
		return ic
	}
	sc := slack.SlashCommand{ChannelID: "C1", UserID: "U1", UserName: "ann", Command: "/appreg", Text: "new contoso.onmicrosoft.com", TriggerID: "trig-1"}
	reply := appreg.Reply{Message: appreg.Message{Text: appreg.T("Started"), Fields: []appreg.Field{{Label: "Tenant", Value: "contoso"}}}}

	tests := []struct {
		name     string
		bot      func() *fakeBot
		evt      socketmode.Event
		httpPath string
		httpBody string
	}{
		{"command", func() *fakeBot { return &fakeBot{reply: reply} },
			socketmode.Event{Type: socketmode.EventTypeSlashCommand, Data: sc}, "/slack/commands", commandBody("new contoso.onmicrosoft.com")},
		{"command, empty reply", func() *fakeBot { return &fakeBot{} },
			socketmode.Event{Type: socketmode.EventTypeSlashCommand, Data: sc}, "/slack/commands", commandBody("new contoso.onmicrosoft.com")},
		{"click", func() *fakeBot { return &fakeBot{} },
			socketmode.Event{Type: socketmode.EventTypeInteractive, Data: mustCallback(blockActionsPayload)}, "/slack/interactivity", interactionBody(blockActionsPayload)},
		{"submission with errors", func() *fakeBot { return &fakeBot{formErrs: map[string]string{"name": "Too short."}} },
			socketmode.Event{Type: socketmode.EventTypeInteractive, Data: mustCallback(viewSubmissionPayload)}, "/slack/interactivity", interactionBody(viewSubmissionPayload)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sockBot, httpBot := tt.bot(), tt.bot()
			tt.evt.Request = &socketmode.Request{EnvelopeID: "env-1"}
			req, payload := Inbound{Bot: sockBot, Log: quietLog()}.socketEvent(t.Context(), tt.evt, time.Now())
			if req == nil || req.EnvelopeID != "env-1" {
				t.Fatalf("request to ack = %+v", req)
			}
			w := serve(newHandler(t, httpBot, Inbound{}), request(tt.httpPath, tt.httpBody, testNow, testSecret))
			if w.Code != http.StatusOK {
				t.Fatalf("HTTP status %d", w.Code)
			}

			var sockJSON []byte
			if payload != nil {
				var err error
				if sockJSON, err = json.Marshal(payload); err != nil {
					t.Fatal(err)
				}
			}
			sockBot.waitCalls(t, 1)
			httpBot.waitCalls(t, 1)
			if !bytes.Equal(sockJSON, bytes.TrimSpace(w.Body.Bytes())) {
				t.Errorf("socket ack %s, HTTP body %s", sockJSON, w.Body)
			}
			if len(sockBot.commands) != len(httpBot.commands) || len(sockBot.actions) != len(httpBot.actions) ||
				len(sockBot.submission) != len(httpBot.submission) || sockBot.calls() != 1 {
				t.Errorf("socket bot %+v, HTTP bot %+v", sockBot, httpBot)
			}
			if len(sockBot.commands) == 1 && sockBot.commands[0] != httpBot.commands[0] {
				t.Errorf("command %+v, over HTTP %+v", sockBot.commands[0], httpBot.commands[0])
			}
			if len(sockBot.actions) == 1 && sockBot.actions[0] != httpBot.actions[0] {
				t.Errorf("action %+v, over HTTP %+v", sockBot.actions[0], httpBot.actions[0])
			}
		})
	}
}

func TestSocketLifecycleEventsNeedNoAck(t *testing.T) {
	in := Inbound{Bot: &fakeBot{}, Log: quietLog()}
	for _, typ := range []socketmode.EventType{socketmode.EventTypeConnecting, socketmode.EventTypeConnected,
		socketmode.EventTypeHello, socketmode.EventTypeDisconnect, socketmode.EventTypeConnectionError} {
		if req, _ := in.socketEvent(t.Context(), socketmode.Event{Type: typ}, time.Now()); req != nil {
			t.Errorf("%s: ack requested", typ)
		}
	}
	req, payload := in.socketEvent(t.Context(), socketmode.Event{Type: socketmode.EventTypeEventsAPI, Request: &socketmode.Request{EnvelopeID: "e"}}, time.Now())
	if req == nil || payload != nil {
		t.Errorf("events_api: request %v payload %v; want an empty ack", req, payload)
	}
}

// socketSlack plays Slack's side of Socket Mode: apps.connections.open and a
// websocket that sends one slash command and hands back the ack.
func socketSlack(t *testing.T, appToken string, envelope string) (apiURL string, acks <-chan map[string]any) {
	t.Helper()
	ackc := make(chan map[string]any, 1)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("POST /apps.connections.open", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+appToken {
			fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		fmt.Fprintf(w, `{"ok":true,"url":"ws%s/link"}`, strings.TrimPrefix(srv.URL, "http"))
	})
	mux.HandleFunc("GET /link", func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }} // the client sends Origin: https://api.slack.com
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_ = conn.WriteJSON(map[string]any{"type": "hello", "num_connections": 1})
		_ = conn.WriteMessage(websocket.TextMessage, []byte(envelope))
		var ack map[string]any
		if err := conn.ReadJSON(&ack); err == nil {
			ackc <- ack
		}
		// Stay open until the client goes away.
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	})
	return srv.URL + "/", ackc
}

func TestRunSocketModeEndToEnd(t *testing.T) {
	payload, _ := json.Marshal(slack.SlashCommand{ChannelID: "C1", UserID: "U1", UserName: "ann", Command: "/appreg", Text: "help", TriggerID: "trig-9"})
	envelope := fmt.Sprintf(`{"type":"slash_commands","envelope_id":"env-9","accepts_response_payload":true,"payload":%s}`, payload)
	apiURL, acks := socketSlack(t, "xapp-test", envelope)
	bot := &fakeBot{reply: appreg.Reply{Message: appreg.Message{Text: appreg.T("Usage: …")}}}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	chat, _ := newChat(t)
	go func() {
		done <- RunSocketMode(ctx, "xapp-test", apiURL, Inbound{Bot: bot, Chat: chat, Log: quietLog()})
	}()

	select {
	case ack := <-acks:
		p, _ := ack["payload"].(map[string]any)
		if ack["envelope_id"] != "env-9" || p["response_type"] != "ephemeral" || p["text"] != "Usage: …" {
			t.Errorf("ack = %v", ack)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ack")
	}
	if bot.calls() != 1 || bot.commands[0].DeliveryID != "trig-9" {
		t.Errorf("bot commands = %+v", bot.commands)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunSocketMode after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunSocketMode did not return after cancel")
	}
}

func TestRunSocketModeRefusedToken(t *testing.T) {
	apiURL, _ := socketSlack(t, "xapp-right", "{}")
	chat, _ := newChat(t)
	err := RunSocketMode(testCtx(t), "xapp-wrong-secret", apiURL, Inbound{Bot: &fakeBot{}, Chat: chat, Log: quietLog()})
	if err == nil || strings.Contains(err.Error(), "xapp-wrong-secret") {
		t.Errorf("err = %v; want an error without the token", err)
	}
}
