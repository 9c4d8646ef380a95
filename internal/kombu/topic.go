package kombu

import (
	"regexp"
	"strings"
	"unicode"
)

// TopicPattern returns the regular expression kombu stores as the pattern
// part of a topic exchange's binding for routingKey (virtual/exchange.py
// `TopicExchange.key_to_pattern`): the key escaped as kombu's
// `escape_regex` does (every character but letters, digits and ". # *"
// gets a backslash), then split on dots, a "*" word matching one word
// (`[^\.]+`), a "#" word any run of characters (`.*?`), anchored at both
// ends. Publishers match the stored pattern, so a binding declared here is
// found by a Python publisher and the other way round.
func TopicPattern(routingKey string) string {
	var esc strings.Builder
	for _, r := range routingKey {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '#' || r == '*':
			esc.WriteRune(r)
		case r == 0:
			esc.WriteString(`\000`)
		default:
			esc.WriteByte('\\')
			esc.WriteRune(r)
		}
	}
	words := strings.Split(esc.String(), ".")
	for i, w := range words {
		switch w {
		case "*":
			words[i] = `[^\.]+`
		case "#":
			words[i] = `.*?`
		}
	}
	return "^" + strings.Join(words, `\.`) + "$"
}

// TopicMatcher matches routing keys against topic binding patterns,
// caching each compiled pattern (a publisher meets the same few).
type TopicMatcher struct {
	cache map[string]*regexp.Regexp // nil value: the pattern did not compile
}

// Match reports whether routingKey matches a topic binding (bindingKey
// and its stored pattern), as kombu's `TopicExchange.lookup` does with
// re.match. A pattern Go cannot compile (a Python-only construct) or an
// empty one is rebuilt from bindingKey. Not safe for concurrent use.
func (m *TopicMatcher) Match(bindingKey, pattern, routingKey string) bool {
	if m.cache == nil {
		m.cache = map[string]*regexp.Regexp{}
	}
	re := m.compile(pattern)
	if re == nil {
		re = m.compile(TopicPattern(bindingKey))
	}
	return re != nil && re.MatchString(routingKey)
}

func (m *TopicMatcher) compile(pattern string) *regexp.Regexp {
	if pattern == "" {
		return nil
	}
	re, ok := m.cache[pattern]
	if !ok {
		// re.match anchors at the start only.
		re, _ = regexp.Compile(`^(?:` + pattern + `)`)
		m.cache[pattern] = re
	}
	return re
}
