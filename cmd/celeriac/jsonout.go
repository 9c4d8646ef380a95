package main

import (
	"bytes"
	"encoding/json"
)

// marshalJSON encodes v for printing: like json.Marshal (json.MarshalIndent
// with a non-empty indent) but without escaping <, > and & as \u003c...,
// which is right for HTML and wrong for a terminal or a pipe to jq.
func marshalJSON(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
