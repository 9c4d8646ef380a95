// Package rconn turns Celery/kombu Redis URLs into redigo connections and
// pools. Only the Redis transport (celery/redis) and Redis test helpers
// use it; what reconnect loops of any transport share is in
// internal/reconnect, URL redaction in internal/redact.
//
// Supported URLs (kombu utils/url.py, connection.py; docs/wire.md#connection-urls):
//
//	redis://[user:pass@]host[:port][/db]
//	rediss://…?ssl_cert_reqs=required|optional|none&ssl_ca_certs=…&ssl_certfile=…&ssl_keyfile=…
//	unix:///path/to/sock?db=N, redis+socket:///path, socket:///path
//	sentinel://[:pass@]h1:26379[/db];sentinel://h2:26379?master_name=mymaster
//
// Nothing here keeps package-level state; a Config is safe for concurrent
// use once built.
package rconn
