package pyjson

import (
	"errors"
	"strconv"
)

// MaxDepth is the deepest nesting of JSON arrays and objects that Decode
// accepts and Encode produces. Deeper input fails with ErrTooDeep.
// (CPython's own json module gives up at roughly 1000 levels.)
const MaxDepth = 512

var (
	// ErrTooDeep is returned (wrapped) when arrays and objects are nested
	// more than MaxDepth levels deep.
	ErrTooDeep = errors.New("pyjson: nesting too deep")

	// ErrUnknownMarker is returned (wrapped) when a kombu marker object has a
	// __type__ that kombu does not know, which kombu rejects too.
	ErrUnknownMarker = errors.New("pyjson: unsupported __type__ in marker object")

	// ErrBadMarker is returned (wrapped) when a kombu marker object has a
	// known __type__ but a __value__ that Python could not decode.
	ErrBadMarker = errors.New("pyjson: invalid marker value")

	// ErrLoneSurrogate is returned (wrapped) by DecodeStrict for a \u
	// escape of a UTF-16 surrogate that is not part of a pair.
	ErrLoneSurrogate = errors.New("pyjson: lone UTF-16 surrogate")
)

// SyntaxError describes malformed JSON input, including input that is not
// valid UTF-8.
type SyntaxError struct {
	Offset int64  // byte offset in the input where the error was detected
	msg    string // description of the problem
}

// Error implements the error interface.
func (e *SyntaxError) Error() string {
	return "pyjson: syntax error at offset " + strconv.FormatInt(e.Offset, 10) + ": " + e.msg
}
