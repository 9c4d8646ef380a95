package codec

import (
	"encoding/base64"
	"testing"
)

// FuzzDecode: msgpack and YAML decoding never panic, and what decodes
// encodes again.
func FuzzDecode(f *testing.F) {
	mp, _ := base64.StdEncoding.DecodeString(pyMsgpack)
	f.Add(mp, false)
	f.Add([]byte(pyYAML), true)
	f.Add([]byte("a: &a [*a]\n"), true)
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}, false)
	f.Fuzz(func(t *testing.T, data []byte, yaml bool) {
		ct := Msgpack
		if yaml {
			ct = YAML
		}
		v, err := Decode(ct, data)
		if err != nil {
			return
		}
		if _, err := Encode(ct, v); err != nil {
			t.Errorf("decoded %#v but cannot encode it: %v", v, err)
		}
	})
}
