package celery

import (
	"context"
	"errors"
)

// ErrResultsDisabled is returned by DisabledBackend's reads: no result
// backend is configured (Celery's DisabledBackend, "No result backend is
// configured").
var ErrResultsDisabled = errors.New("celery: no result backend is configured (results are disabled): set --result-backend (e.g. redis://host:6379/0)")

// DisabledBackend is the result backend of a broker without one (an AMQP
// broker and no --result-backend), as Celery's DisabledBackend: results
// are not stored, and asking for one fails with ErrResultsDisabled.
type DisabledBackend struct{}

var _ ResultBackend = DisabledBackend{}

// Store stores nothing.
func (DisabledBackend) Store(context.Context, *ResultMeta) (bool, error) { return false, nil }

// EncodeMeta encodes nothing: there is nowhere to store it.
func (DisabledBackend) EncodeMeta(*ResultMeta) ([]byte, error) { return []byte("{}"), nil }

// StoreRaw stores nothing.
func (DisabledBackend) StoreRaw(context.Context, string, State, []byte) (bool, error) {
	return false, nil
}

// GetMax fails with ErrResultsDisabled.
func (DisabledBackend) GetMax(context.Context, string, int) (*ResultMeta, error) {
	return nil, ErrResultsDisabled
}

// WatchMax fails with ErrResultsDisabled.
func (DisabledBackend) WatchMax(context.Context, string, int, func(*ResultMeta)) (*ResultMeta, error) {
	return nil, ErrResultsDisabled
}

// Forget has nothing to forget.
func (DisabledBackend) Forget(context.Context, string) error { return nil }

// SetChordSize fails: a chord needs a result backend.
func (DisabledBackend) SetChordSize(context.Context, string, int) error { return ErrResultsDisabled }

// ChordPartReturn fails: a chord needs a result backend.
func (DisabledBackend) ChordPartReturn(context.Context, string, *int, string, State, any) (*ChordClaim, error) {
	return nil, ErrResultsDisabled
}

// SaveGroup fails with ErrResultsDisabled.
func (DisabledBackend) SaveGroup(context.Context, string, []string) error { return ErrResultsDisabled }

// GroupMembers fails with ErrResultsDisabled.
func (DisabledBackend) GroupMembers(context.Context, string) ([]string, error) {
	return nil, ErrResultsDisabled
}

// Close does nothing.
func (DisabledBackend) Close() error { return nil }
