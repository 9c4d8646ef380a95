package kombu

import "testing"

func TestTopicPattern(t *testing.T) {
	for key, want := range map[string]string{
		"feed.#":       `^feed\..*?$`,
		"*.orange.*":   `^[^\.]+\.orange\.[^\.]+$`,
		"a_b-c.#":      `^a\_b\-c\..*?$`,
		"usa.news":     `^usa\.news$`,
		"#":            `^.*?$`,
		"celery@h1":    `^celery\@h1$`,
		"stock.a*b.us": `^stock\.a*b\.us$`,
	} {
		if got := TopicPattern(key); got != want {
			t.Errorf("TopicPattern(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestTopicMatcher(t *testing.T) {
	var m TopicMatcher
	for _, c := range []struct {
		binding, key string
		want         bool
	}{
		{"feed.#", "feed.import", true},
		{"feed.#", "feed.import.rss", true},
		{"feed.#", "feed", false}, // kombu's "#" needs the dot before it
		{"*.orange.*", "quick.orange.rabbit", true},
		{"*.orange.*", "quick.orange.male.rabbit", false},
		{"usa.news", "usa.news", true},
		{"usa.news", "usa.weather", false},
		{"#", "anything.at.all", true},
	} {
		if got := m.Match(c.binding, TopicPattern(c.binding), c.key); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.binding, c.key, got, c.want)
		}
		// An empty stored pattern is rebuilt from the binding key.
		if got := m.Match(c.binding, "", c.key); got != c.want {
			t.Errorf("Match(%q, \"\", %q) = %v, want %v", c.binding, c.key, got, c.want)
		}
	}
	// A pattern Go cannot compile (a lookahead) falls back to the binding key.
	if !m.Match("x.#", `^x(?=y)`, "x.z") || m.Match("x.#", `^x(?=y)`, "y.z") {
		t.Error("a pattern Go cannot compile must fall back to the binding key")
	}
}
