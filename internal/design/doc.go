// Package design holds tests of whole-module design rules that no single
// package can check for itself. It has no code: `go test ./internal/design`
// parses every non-test Go file of the module and fails on
//
//   - time.Sleep, time.Tick and time.NewTicker anywhere, and
//   - time.After, time.NewTimer and time.AfterFunc inside a for loop,
//
// because celeriac never polls: work arrives by BRPOP, results, events and
// remote control by pub/sub, and ETAs, rate limits and time limits are
// one-shot timers. The few calls that look like polling but are not
// (a periodic send, a back-off after an error) are on an allowlist in
// design_test.go, each with a one-line justification.
//
// wire_test.go keeps the wire facts in the repository: it fails when a Go
// file cites the old, unpublished wire specification by section ("spec"
// and a section sign), and when a Go file or a page of docs/ links to a
// docs/wire.md anchor that no heading of docs/wire.md produces.
//
// deps_test.go fails when a library package (celery, worker, beat, api and
// their subpackages) links miniredis: the embedded broker is for
// `celeriac serve` and tests, in internal/embedded.
package design
