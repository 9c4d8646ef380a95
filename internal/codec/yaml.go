package codec

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"
)

// The tags PyYAML's SafeLoader constructs that the pyjson value model can
// hold. Anything else (!!python/…, a local !tag, !!set, !!omap) is refused.
const (
	tagNull      = "!!null"
	tagBool      = "!!bool"
	tagInt       = "!!int"
	tagFloat     = "!!float"
	tagStr       = "!!str"
	tagTimestamp = "!!timestamp"
	tagBinary    = "!!binary"
	tagMap       = "!!map"
	tagSeq       = "!!seq"
)

// errYAMLTag is returned for a tag safe_load would not construct.
var errYAMLTag = errors.New("tag not allowed")

func decodeYAML(data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: yaml: %w", ErrSyntax, err)
	}
	if doc.Kind == 0 { // empty document: safe_load returns None
		return nil, nil
	}
	// Aliases are expanded, within a budget proportional to the input so
	// that a "billion laughs" document fails instead of exhausting memory.
	y := yamlDecoder{budget: 16*len(data) + 1024}
	v, err := y.value(&doc, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: yaml: %w", ErrSyntax, err)
	}
	return v, nil
}

type yamlDecoder struct {
	budget int
}

func (y *yamlDecoder) value(n *yaml.Node, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("more than %d levels", MaxDepth)
	}
	if y.budget--; y.budget < 0 {
		return nil, fmt.Errorf("document expands too much (aliases)")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return y.value(n.Content[0], depth)
	case yaml.AliasNode:
		return y.value(n.Alias, depth+1)
	case yaml.SequenceNode:
		if n.ShortTag() != tagSeq {
			return nil, fmt.Errorf("%w: %s", errYAMLTag, n.ShortTag())
		}
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := y.value(c, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		if n.ShortTag() != tagMap {
			return nil, fmt.Errorf("%w: %s", errYAMLTag, n.ShortTag())
		}
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := y.value(n.Content[i], depth+1)
			if err != nil {
				return nil, err
			}
			v, err := y.value(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			out[keyString(k)] = v
		}
		return out, nil
	case yaml.ScalarNode:
		return yamlScalar(n)
	}
	return nil, fmt.Errorf("unexpected node kind %d", n.Kind)
}

// pyTimestamp matches the timestamps PyYAML resolves (YAML 1.1), such as
// safe_dump's "2024-05-01 12:00:03.118000+00:00".
var pyTimestamp = regexp.MustCompile(`^\d{4}-\d{1,2}-\d{1,2}(?:[Tt ]|\s+)\d{1,2}:\d{2}:\d{2}(?:\.\d*)?\s*(?:Z|[-+]\d{1,2}(?::?\d{2})?)?$`)

func yamlScalar(n *yaml.Node) (any, error) {
	switch tag := n.ShortTag(); tag {
	case tagNull:
		return nil, nil
	case tagBool:
		var b bool
		err := n.Decode(&b)
		return b, err
	case tagInt:
		// Python ints have no size limit; base prefixes and underscores
		// as YAML allows them.
		if b, ok := new(big.Int).SetString(n.Value, 0); ok {
			return json.Number(b.String()), nil
		}
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, err
		}
		return json.Number(strconv.FormatInt(i, 10)), nil
	case tagFloat:
		// yaml.v3 resolves an integer beyond 64 bits as a float.
		if isDecimalInt(n.Value) {
			if b, ok := new(big.Int).SetString(n.Value, 0); ok {
				return json.Number(b.String()), nil
			}
		}
		var f float64
		err := n.Decode(&f)
		return f, err
	case tagTimestamp:
		var t time.Time
		if err := n.Decode(&t); err != nil {
			if t, ok := parseYAMLTime(n.Value); ok {
				return t, nil
			}
			return nil, err
		}
		return t, nil
	case tagBinary:
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
		if err != nil {
			return nil, fmt.Errorf("bad !!binary: %w", err)
		}
		return b, nil
	case tagStr:
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 && pyTimestamp.MatchString(n.Value) {
			if t, ok := parseYAMLTime(n.Value); ok {
				return t, nil
			}
		}
		return n.Value, nil
	default:
		return nil, fmt.Errorf("%w: %s", errYAMLTag, tag)
	}
}

func parseYAMLTime(s string) (time.Time, bool) {
	s = strings.Replace(strings.Replace(s, "t", "T", 1), " ", "T", 1)
	s = strings.ReplaceAll(s, " ", "")
	for _, l := range []string{"2006-1-2T15:04:05.999999999Z07:00", "2006-1-2T15:04:05.999999999Z0700", "2006-1-2T15:04:05.999999999Z07", "2006-1-2T15:04:05.999999999"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func encodeYAML(v any) ([]byte, error) {
	n, err := yamlNode(v, 0)
	if err != nil {
		return nil, fmt.Errorf("codec: yaml: %w", err)
	}
	out, err := yaml.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("codec: yaml: %w", err)
	}
	return out, nil
}

// quoted is a string scalar in double quotes: PyYAML reads YAML 1.1,
// where plain yes, on, 0777, 1_000 or 12:30 are not strings.
func quoted(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tagStr, Value: s, Style: yaml.DoubleQuotedStyle}
}

func scalar(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

// yamlNode builds the node PyYAML's safe_dump would write for the
// equivalent Python value; floats always carry a '.' or an exponent sign
// so that YAML 1.1 readers resolve them as floats.
func yamlNode(v any, depth int) (*yaml.Node, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("more than %d levels", MaxDepth)
	}
	v, err := normalize(v)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case nil:
		return scalar(tagNull, "null"), nil
	case bool:
		return scalar(tagBool, strconv.FormatBool(x)), nil
	case string:
		return quoted(x), nil
	case []byte:
		return scalar(tagBinary, base64.StdEncoding.EncodeToString(x)), nil
	case json.Number:
		s := string(x)
		if _, ok := new(big.Int).SetString(s, 10); ok {
			return scalar(tagInt, s), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", s)
		}
		return scalar(tagFloat, yamlFloat(f)), nil
	case float64:
		return scalar(tagFloat, yamlFloat(x)), nil
	case float32:
		return scalar(tagFloat, yamlFloat(float64(x))), nil
	case int, int64, int32, int16, int8, uint, uint64, uint32, uint16, uint8:
		return scalar(tagInt, fmt.Sprint(x)), nil
	case time.Time:
		return scalar(tagTimestamp, x.Format("2006-01-02T15:04:05.999999Z07:00")), nil
	case uuid.UUID:
		return quoted(x.String()), nil
	case fmt.Stringer:
		return quoted(x.String()), nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: tagSeq}
		for _, e := range x {
			c, err := yamlNode(e, depth+1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: tagMap}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			c, err := yamlNode(x[k], depth+1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, quoted(k), c)
		}
		return n, nil
	}
	return nil, fmt.Errorf("cannot encode %T", v)
}

func yamlFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return ".nan"
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		return s + ".0"
	}
	if i := strings.IndexByte(s, 'e'); i >= 0 && !strings.Contains(s[:i], ".") {
		return s[:i] + ".0" + s[i:]
	}
	return s
}

func isDecimalInt(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return s != "" && strings.Trim(s, "0123456789_") == ""
}
