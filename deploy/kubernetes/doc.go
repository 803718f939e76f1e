// Package kubernetes holds the bot's Kubernetes manifests (the YAML files
// beside this one): a Deployment of two replicas, its PodDisruptionBudget,
// Service, ConfigMap and a Secret template. It has no code; its test parses
// each manifest strictly against the Kubernetes API types, so that a
// misspelt or misplaced field fails CI rather than being dropped on apply,
// and checks that the manifests agree with each other and with the bot.
package kubernetes
