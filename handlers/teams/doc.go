// Package teams is the Microsoft Teams adapter of appreg-bot and the one
// package that speaks the Bot Framework protocol. The protocol layer
// (activity.go, auth.go, connector.go) knows nothing of the conversation
// engine: it turns the wire into Go values and back, and it authenticates
// both directions; the adapter (chat.go, handler.go) maps it onto the
// engine's appreg.Chat and appreg.Bot.
//
//   - activity.go: the Activity JSON that Teams POSTs to /api/messages and
//     that the bot sends back, with the few helpers the adapter needs (the
//     text without the bot's own @mention, the kind of conversation, the
//     tenant, a channel thread's conversation id).
//   - auth.go: an Authenticator that checks the bearer token of every
//     inbound request the way the Bot Framework SDKs do: RS256 with a key of
//     the Bot Framework's OpenID key set (cached, refreshed at least every
//     24 hours and on an unknown key id), issuer, audience, lifetime with 5
//     minutes of skew, the token's serviceurl claim against the activity's
//     serviceUrl, and the key's endorsements against the activity's
//     channelId. Key parsing and signature and claim verification are
//     go-jose's; only the Bot-Framework-specific checks and the key cache are
//     written here.
//   - connector.go: a Connector, the outbound Bot Connector client: send,
//     reply, update and create a 1:1 conversation, with a client-credentials
//     token from azidentity (cached and renewed by it), bounded retries that
//     honour Retry-After, and errors of appreg's kinds whose texts never hold
//     the app password or a bearer token.
//   - chat.go, render.go, refs.go: Chat, the appreg.Chat of Teams. Every
//     message is an Adaptive Card rendered so that values from people and
//     tenants are shown literally (render.go says how); private messages go
//     to the user's personal chat; it sends only to conversations and users
//     recorded from authenticated activities (References, on Redis in
//     internal/redisstore).
//   - handler.go: Handler, POST /api/messages: authenticates, records the
//     conversation and user, and turns messages, card actions
//     (Action.Execute invokes, Action.Submit messages) and installations
//     into calls on an appreg.Bot, answering invokes synchronously.
//
// internal/teamsfake is the Bot Framework side for tests: key set, token
// signing, the Entra token endpoint and a recording connector.
package teams
