// Package integration holds the tests that run celeriac against its real
// peers: redis-server, Python Celery 5.7 workers and clients (and, later,
// Flower), all started by the tests themselves. They build with the
// `integration` tag; `make test` always runs them (`make integration`
// alone).
package integration
