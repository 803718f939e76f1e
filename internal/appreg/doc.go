// Package appreg is the shared vocabulary of appreg-bot: the onboarding
// conversation and its states, the registration-name rules, the error kinds
// every adapter turns into user-facing text, and the ports through which the
// domain reaches the outside world.
//
// The package imports no chat SDK, no Graph SDK and no storage client. The
// conversation engine (package wizard) is written against these types only;
// Slack, the console, Redis and Microsoft Entra/Graph are adapters that
// implement the ports declared here:
//
//   - Chat: say things by intent (post in a channel, reply in a thread,
//     update, show one person privately, send a direct message) and ask
//     whether a user is one of a list of operators or approvers. What is
//     said is structured Text, never a platform's markup; places and
//     message references carry the platform's own ids, which the engine
//     stores and hands back untouched. Chats routes to several platforms.
//   - Bot: what adapters deliver commands, clicks and form submissions to;
//     a click is answered with what to show the person who clicked (a form,
//     a notice), which each adapter shows its own way.
//   - Tenant: the customer's Microsoft 365 tenant: device-code sign-in and the
//     directory operations a signed-in admin may perform.
//   - Store: conversations (compare-and-set on a version), leases, idempotency
//     keys and the registry of what the bot created.
package appreg
