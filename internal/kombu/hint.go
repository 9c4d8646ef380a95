package kombu

// MemberHint finds the value of the first key string member (key quoted,
// e.g. `"task"`) in the last 16 KiB or the first 4 KiB of raw, as
// TaskIDHint does for the id: for a message too large to decode.
func MemberHint(raw []byte, key string) string {
	for _, p := range [2][]byte{raw[max(0, len(raw)-16384):], raw[:min(len(raw), 4096)]} {
		if v := findStringMember(p, key); v != "" {
			return v
		}
	}
	return ""
}
