// Package redact hides the secrets in broker and result backend URLs of
// any transport (Redis, AMQP) before they are printed or reported: the
// password in the user info and in *password* query parameters, for each
// URL of a ";"-separated failover list.
package redact
