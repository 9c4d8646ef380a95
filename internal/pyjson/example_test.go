package pyjson_test

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/google/uuid"
)

func ExampleDecode() {
	body := []byte(`[[2, 2.5, NaN, 123456789012345678901234567890],` +
		` {"when": {"__type__": "datetime", "__value__": "2024-05-01T12:00:03.118000+00:00"}},` +
		` {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`)
	v, err := pyjson.Decode(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	parts := v.([]any)
	args := parts[0].([]any)
	kwargs := parts[1].(map[string]any)
	fmt.Printf("%T %v\n", args[0], args[0])
	fmt.Printf("%T %v\n", args[2], args[2])
	fmt.Printf("%T %v\n", args[3], args[3])
	fmt.Println(kwargs["when"].(time.Time).Format(time.RFC3339Nano))
	fmt.Println(pyjson.PyRepr(kwargs))
	// Output:
	// json.Number 2
	// float64 NaN
	// json.Number 123456789012345678901234567890
	// 2024-05-01T12:00:03.118Z
	// {'when': datetime.datetime(2024, 5, 1, 12, 0, 3, 118000, tzinfo=datetime.timezone.utc)}
}

func ExampleEncode() {
	body := []any{
		[]any{2, 2.0, math.Inf(1), "café"},
		map[string]any{
			"id":    uuid.MustParse("12345678-1234-5678-1234-567812345678"),
			"price": pyjson.Decimal("9.99"),
			"at":    time.Date(2024, 5, 1, 12, 0, 3, 0, time.UTC),
			"raw":   []byte{0xff},
		},
		map[string]any{"callbacks": nil, "errbacks": nil, "chain": nil, "chord": nil},
	}
	b, err := pyjson.Encode(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))
	// Output:
	// [[2, 2.0, Infinity, "caf\u00e9"], {"at": {"__type__": "datetime", "__value__": "2024-05-01T12:00:03+00:00"}, "id": {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}, "price": {"__type__": "decimal", "__value__": "9.99"}, "raw": {"__type__": "base64", "__value__": "/w=="}}, {"callbacks": null, "chain": null, "chord": null, "errbacks": null}]
}

func ExampleUnmarshal() {
	var kwargs struct {
		When   time.Time      `json:"when"`
		Amount pyjson.Decimal `json:"amount"`
		Count  int            `json:"count"`
		Extra  json.Number    `json:"extra"`
	}
	data := []byte(`{"when": {"__type__": "datetime", "__value__": "2024-05-01T12:00:03"},` +
		` "amount": {"__type__": "decimal", "__value__": "1.50"}, "count": 3.0, "extra": NaN}`)
	if err := pyjson.Unmarshal(data, &kwargs); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(kwargs.When, kwargs.Amount, kwargs.Count, kwargs.Extra)
	// Output:
	// 2024-05-01 12:00:03 +0000 UTC 1.50 3 NaN
}

func ExampleArgsRepr() {
	fmt.Println(pyjson.ArgsRepr([]any{2, 2}))
	fmt.Println(pyjson.ArgsRepr([]any{"it's", []any{1, []any{2, []any{3}}}}))
	fmt.Println(pyjson.KwargsRepr(map[string]any{"x": 1.0, "y": nil}))
	// Output:
	// (2, 2)
	// ('it\'s', [1, [2, [...]]])
	// {'x': 1.0, 'y': None}
}
