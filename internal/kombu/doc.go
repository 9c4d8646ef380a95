// Package kombu holds the wire internals of kombu's Redis transport that
// both the celery client and the Go worker need: key and channel names,
// priority buckets, binding members, the message envelope, body encodings
// and compression, and the Lua scripts used for ack emulation.
//
// Every name here has one constant or builder, commented with the Redis
// type it denotes and the kombu source it mirrors (see
// docs/wire.md#key-names). Nothing in this package talks to Redis.
package kombu
