// Package notify delivers Vigil's incident, review and decision changes to webhooks, Alertmanager and e-mail from
// durable JetStream consumers: at least once, retried with backoff, dead-lettered after a limit.
package notify
