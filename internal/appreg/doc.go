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
//   - Chat: post to a channel or thread, post privately to one user, update a
//     message, open a form, resolve a user.
//   - Tenant: the customer's Microsoft 365 tenant: device-code sign-in and the
//     directory operations a signed-in admin may perform.
//   - Store: conversations (compare-and-set on a version), leases, idempotency
//     keys and the registry of what the bot created.
package appreg
