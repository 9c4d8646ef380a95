// Package reconnect holds what every transport's reconnect loop shares:
// the backoff between attempts (Backoff) and the lost/restored log lines
// of one component's connection (State). It knows no broker protocol.
package reconnect
