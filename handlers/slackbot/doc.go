// Package slackbot is the Slack adapter of appreg-bot, and the only package
// that imports slack-go.
//
// It has two halves:
//
//   - Outbound, Chat implements appreg.Chat over the Slack Web API:
//     appreg.Message becomes Block Kit (a rich_text block, plain-text field
//     sections, an actions block, always with an escaped plain-text
//     fallback), so that every value from a person or a tenant is shown as
//     typed; a click's appreg.Form becomes a modal opened with the click's
//     trigger. Slack errors become appreg error kinds; rate limits are
//     waited out a bounded number of times.
//   - Inbound, slash commands and interactions (button clicks, modal
//     submissions) are turned into calls on an appreg.Bot. They arrive either
//     over HTTP (Handler, which verifies Slack's request signature) or over a
//     Socket Mode websocket (RunSocketMode). Both modes share one converter
//     (type inbound), so a delivery is handled and acknowledged identically
//     whichever way it came.
//
// Slack wants every delivery acknowledged within 3 seconds. The Bot's
// methods only touch the store and return quickly; the acknowledgement
// carries their immediate answer (an ephemeral reply, modal input errors),
// and anything slow reaches Slack later through Chat.
package slackbot
