"""Generate golden_data_test.go from real kombu/celery behaviour.

Run with a Python that has kombu 5.7 and celery 5.7 installed:

    python testdata/gen_golden.py > golden_data_test.go && gofmt -w golden_data_test.go

The Go tests do not need Python; this script only documents where the
expected values come from.
"""
import datetime
import decimal
import json
import math
import struct
import sys
import uuid

import celery
import kombu
from celery.utils.saferepr import saferepr
from celery.utils.text import truncate
from kombu.utils.json import dumps, loads


def goquote(s):
    if isinstance(s, str):
        s = s.encode("utf-8", "surrogatepass")
    out = []
    for c in s:
        ch = chr(c)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0x20 <= c < 0x7F:
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        else:
            out.append("\\x%02x" % c)
    return '"' + "".join(out) + '"'


def norm(o):
    if isinstance(o, dict):
        return {k: norm(o[k]) for k in sorted(o)}
    if isinstance(o, list):
        return [norm(x) for x in o]
    return o


DT = datetime.datetime
UTC = datetime.timezone.utc

# ---------------------------------------------------------------- decode
decode_inputs = [
    # plain JSON and Python extensions
    'null', 'true', 'false', '0', '-0', '1', '-1', '2.0', '1.5', '-0.0', '1e5', '1E+2', '1e-7',
    '1e400', '-1e400', '1e-400', '123456789012345678901234567890', '-123456789012345678901234567890',
    '0.1', '3.141592653589793', '1.7976931348623157e308', '5e-324',
    'NaN', 'Infinity', '-Infinity', '[NaN, Infinity, -Infinity]',
    '""', '"abc"', '"it\'s"', '"say \\"hi\\""', '"both \' and \\""', '"tab\\tnl\\ncr\\r"',
    '"\\u00e9\\u4e2d\\ud83d\\ude00"', '"\\ud800"', '"\\udc00x"', '"\\ud83d\\u0041"', '"\\u0000\\u001f\\u007f"',
    '"\\/\\b\\f"', '"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80"', '"\\u00a0\\u200b\\u2028\\u0085"',
    '"\\uFFFF\\uFFFE"', '"\\U0001"',
    '[]', '{}', '[[]]', '[{}]', ' [1 , 2 ] ', '\t\n\r 1 \t\n\r', '{"a": 1, "b": [true, false, null]}',
    '{"a": 1, "a": 2}', '[[2, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]',
    '{"z": {"y": {"x": [1, [2, [3, [4]]]]}}}',
    # markers
    '{"__type__": "datetime", "__value__": "2024-05-01T12:00:03.118000+00:00"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:00:03"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:00:03.000001-05:30"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:00:00+05:30:15"}',
    '{"__type__": "datetime", "__value__": "2024-05-01"}',
    '{"__type__": "datetime", "__value__": "20240501T123045Z"}',
    '{"__type__": "datetime", "__value__": "2024-05-01 12:00"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12.5"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30.5"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45,123"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45.1234567"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45+05"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45-0530"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45-00:00"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45+05:99"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45:99"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45.+05:00"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45+23:59:59"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45-23:59:59"}',
    '{"__type__": "datetime", "__value__": "2024-W01-2T00:00"}',
    '{"__type__": "datetime", "__value__": "2020-W53-7T00:00"}',
    '{"__type__": "datetime", "__value__": "2024W012"}',
    '{"__type__": "datetime", "__value__": "2024-W01"}',
    '{"__type__": "datetime", "__value__": "9999-W52-5"}',
    '{"__type__": "datetime", "__value__": "0001-01-01T00:00:00"}',
    '{"__type__": "datetime", "__value__": "9999-12-31T23:59:59.999999+14:00"}',
    '{"__type__": "datetime", "__value__": "2024-05-01\xc3\xa912:00"}',
    '{"__type__": "datetime", "__value__": "2024-02-29T00:00"}',
    '{"__type__": "date", "__value__": "2024-05-01"}',
    '{"__type__": "date", "__value__": "2024-05-01T23:59:59+05:00"}',
    '{"__type__": "date", "__value__": "0001-01-01"}',
    '{"__type__": "time", "__value__": "12:00:03"}',
    '{"__type__": "time", "__value__": "01:02:03.000004"}',
    '{"__type__": "time", "__value__": "T12:00"}',
    '{"__type__": "time", "__value__": "12"}',
    '{"__type__": "time", "__value__": "1200"}',
    '{"__type__": "time", "__value__": "12:00:03.5+01:00"}',
    '{"__type__": "time", "__value__": "12:00:03Z"}',
    '{"__type__": "time", "__value__": "12:00:03+00:00:01"}',
    '{"__type__": "time", "__value__": "23:59:59.999999-23:59"}',
    '{"__type__": "decimal", "__value__": "3.14"}',
    '{"__type__": "decimal", "__value__": "-1E+2"}',
    '{"__type__": "decimal", "__value__": "1e2"}',
    '{"__type__": "decimal", "__value__": "NaN"}',
    '{"__type__": "decimal", "__value__": "-sNaN0012"}',
    '{"__type__": "decimal", "__value__": "-inf"}',
    '{"__type__": "decimal", "__value__": " 1_000.5 "}',
    '{"__type__": "decimal", "__value__": ".5"}',
    '{"__type__": "decimal", "__value__": "5."}',
    '{"__type__": "decimal", "__value__": "-0"}',
    '{"__type__": "decimal", "__value__": "0.0000001"}',
    '{"__type__": "decimal", "__value__": "0.000001"}',
    '{"__type__": "decimal", "__value__": "1.50"}',
    '{"__type__": "decimal", "__value__": "0E-7"}',
    '{"__type__": "decimal", "__value__": "123456789012345678901234567890.123456789"}',
    '{"__type__": "decimal", "__value__": 3.14}',
    '{"__type__": "decimal", "__value__": 1e-7}',
    '{"__type__": "decimal", "__value__": 42}',
    '{"__type__": "decimal", "__value__": -0}',
    '{"__type__": "decimal", "__value__": -0.0}',
    '{"__type__": "decimal", "__value__": 1e400}',
    '{"__type__": "decimal", "__value__": NaN}',
    '{"__type__": "decimal", "__value__": true}',
    '{"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}',
    '{"__type__": "uuid", "__value__": {"hex": "{12345678-1234-5678-1234-567812345678}"}}',
    '{"__type__": "uuid", "__value__": {"hex": "urn:uuid:12345678-1234-5678-1234-567812345678"}}',
    '{"__type__": "uuid", "__value__": {"hex": "ABCDEF78123456781234567812345678"}}',
    '{"__type__": "uuid", "__value__": {"hex": "+2345678123456781234567812345678"}}',
    '{"__type__": "uuid", "__value__": {"hex": " 2345678123456781234567812345678"}}',
    '{"__type__": "uuid", "__value__": {"hex": "2345_678123456781234567812345678"}}',
    '{"__type__": "uuid", "__value__": {"hex": "0x345678123456781234567812345678"}}',
    '{"__type__": "uuid", "__value__": {"int": 5}}',
    '{"__type__": "bytes", "__value__": "hi"}',
    '{"__type__": "bytes", "__value__": ""}',
    '{"__type__": "bytes", "__value__": "caf\\u00e9\\u0000"}',
    '{"__type__": "base64", "__value__": "/wA="}',
    '{"__type__": "base64", "__value__": ""}',
    '{"__type__": "base64", "__value__": "aGVs bG8="}',
    '{"__type__": "base64", "__value__": "=aGVsbG8=xx"}',
    '{"__type__": "base64", "__value__": "aGVsbG8=="}',
    '{"__type__": "base64", "__value__": "aGVsbA"}',
    '{"__type__": "base64", "__value__": "aGVsbA="}',
    '{"__type__": "base64", "__value__": "aGVsbA=="}',
    '{"__type__": "base64", "__value__": "aGVsb"}',
    '{"__type__": "base64", "__value__": "a-_b"}',
    '{"__value__": "hi", "__type__": "bytes"}',
    '{"__type__": "x", "__type__": "bytes", "__value__": "a"}',
    '{"__type__": "bytes", "__value__": "a", "other": 1}',
    '{"__type__": "bytes"}',
    '[{"__type__": "date", "__value__": "2024-05-01"}, {"k": {"__type__": "decimal", "__value__": "1"}}]',
    '{"\\u005f_type__": "bytes", "__value__": "x"}',
    # errors
    '', ' ', '[', ']', '{', '[1,]', '[1 2]', '{"a" 1}', '{"a": }', '{a: 1}', "{'a': 1}", '{"a": 1,}',
    '01', '1.', '.5', '-', '+1', '1e', '1e+', '--1', '0x10', 'nan', 'inf', '-NaN', 'Infinity1', 'NaNx',
    'tru', 'nul', 'True', 'None', '"abc', '"\\x41"', '"\\u12"', '"\\u12G4"', '"a\tb"', '"a\nb"', '"\\', '"\\"',
    '1 2', '[] []', '{} x', '\xef\xbb\xbf1', '"\xff"', '"\xed\xa0\x80"', '"\xc3"', '\x00', '"\x00"',
    '{"__type__": "nope", "__value__": 1}', '{"__type__": 1, "__value__": 1}', '{"__type__": null, "__value__": 1}',
    '{"__type__": ["datetime"], "__value__": 1}',
    '{"__type__": "datetime", "__value__": 1}', '{"__type__": "datetime", "__value__": "nope"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T"}', '{"__type__": "datetime", "__value__": "2024-05-01T24:00"}',
    '{"__type__": "datetime", "__value__": "2024-02-30"}', '{"__type__": "datetime", "__value__": "0000-01-01"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45+24:00"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45."}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45Z "}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:3045"}',
    '{"__type__": "datetime", "__value__": "2024-05-01T12:30:45+5:00"}',
    '{"__type__": "datetime", "__value__": "2021-W53-1"}', '{"__type__": "datetime", "__value__": "9999-W52-6"}',
    '{"__type__": "datetime", "__value__": "2024W01\\u00e9"}', '{"__type__": "datetime", "__value__": "2024-05"}',
    '{"__type__": "date", "__value__": "0000-000"}', '{"__type__": "date", "__value__": "2024-05-0"}',
    '{"__type__": "date", "__value__": "2024-0501"}', '{"__type__": "date", "__value__": "2024-W0"}',
    '{"__type__": "date", "__value__": "2024W0"}', '{"__type__": "date", "__value__": "2024-W01-"}',
    '{"__type__": "date", "__value__": "2024-13-01"}', '{"__type__": "date", "__value__": null}',
    '{"__type__": "time", "__value__": "25:00"}', '{"__type__": "time", "__value__": "2024-05-01"}',
    '{"__type__": "time", "__value__": 12}',
    '{"__type__": "decimal", "__value__": "abc"}', '{"__type__": "decimal", "__value__": ""}',
    '{"__type__": "decimal", "__value__": "1e"}', '{"__type__": "decimal", "__value__": "Infinity1"}',
    '{"__type__": "decimal", "__value__": null}', '{"__type__": "decimal", "__value__": {}}',
    '{"__type__": "uuid", "__value__": "12345678123456781234567812345678"}',
    '{"__type__": "uuid", "__value__": {"hex": "1234"}}', '{"__type__": "uuid", "__value__": {"hex": "GG345678123456781234567812345678"}}',
    '{"__type__": "uuid", "__value__": {"hex": 1}}', '{"__type__": "uuid", "__value__": {"int": -1}}',
    '{"__type__": "uuid", "__value__": {}}', '{"__type__": "uuid", "__value__": {"nope": 1}}',
    '{"__type__": "uuid", "__value__": {"hex": "-2345678123456781234567812345678"}}',
    '{"__type__": "bytes", "__value__": 1}', '{"__type__": "bytes", "__value__": "\\ud800"}',
    '{"__type__": "base64", "__value__": "\\ud800"}', '{"__type__": "base64", "__value__": "a"}',
    '{"__type__": "base64", "__value__": "aGVsb G8"}', '{"__type__": "base64", "__value__": null}',
    '[{"__type__": "nope", "__value__": 1}]',
]

print("// Code generated by testdata/gen_golden.py from kombu %s / celery %s on Python %s. DO NOT EDIT."
      % (kombu.__version__, celery.__version__, sys.version.split()[0]))
print()
print("package pyjson")
print()
print('import (\n\t"encoding/json"\n\t"math"\n\t"time"\n\n\t"github.com/google/uuid"\n)')
print()
print("// decodeGolden lists JSON inputs with repr(kombu.utils.json.loads(input))")
print("// (dict keys sorted), or err when kombu raises.")
print("var decodeGolden = []struct {")
print("\tin   string")
print("\trepr string")
print("\terr  bool")
print("}{")
seen = set()
for s in decode_inputs:
    if s in seen:
        raise SystemExit("duplicate input %r" % s)
    seen.add(s)
    raw = s.encode("latin-1") if all(ord(c) < 256 for c in s) else s.encode("utf-8")
    try:
        r = repr(norm(loads(raw)))
        print("\t{in: %s, repr: %s}," % (goquote(raw), goquote(r)))
    except Exception:
        print("\t{in: %s, err: true}," % goquote(raw))
print("}")
print()

# ---------------------------------------------------------------- encode
# (Go expression, Python value); want is kombu's dumps(Python value).
encode_cases = [
    ("nil", None), ("true", True), ("false", False), ("0", 0), ("-7", -7), ("int64(math.MaxInt64)", 2**63 - 1),
    ("int64(math.MinInt64)", -2**63), ("uint64(math.MaxUint64)", 2**64 - 1), ("int8(-8)", -8), ("uint16(65535)", 65535),
    ("2.0", 2.0), ("-0.0 * 1", 0.0), ("math.Copysign(0, -1)", -0.0), ("1.5", 1.5), ("0.1", 0.1), ("1e16", 1e16), ("1e15", 1e15),
    ("123456789.123", 123456789.123), ("1e-5", 1e-5), ("0.0001", 0.0001), ("1e22", 1e22), ("1.5e-7", 1.5e-7),
    ("1e100", 1e100), ("5e-324", 5e-324), ("math.MaxFloat64", sys.float_info.max), ("math.Float64frombits(0x3fd3333333333334)", 0.1 + 0.2),
    ("float64(1 << 60)", float(2**60)), ("123456.0", 123456.0),
    ("math.NaN()", math.nan), ("math.Inf(1)", math.inf), ("math.Inf(-1)", -math.inf),
    ("float32(0.1)", 0.1), ("float32(2)", 2.0), ("float32(1e20)", 1e20),
    ('json.Number("123456789012345678901234567890")', 123456789012345678901234567890),
    ('""', ""), ('"abc"', "abc"), ('"it\'s \\"q\\" \\\\ /"', 'it\'s "q" \\ /'),
    ('"\\b\\f\\n\\r\\t\\x00\\x1f\\x7f"', "\b\f\n\r\t\x00\x1f\x7f"),
    ('"café 中 😀 \\u2028"', "café 中 😀 \u2028"), ('"<&>"', "<&>"),
    ("[]any{}", []), ("map[string]any{}", {}), ("[]any{1, \"a\", nil, true, 2.5}", [1, "a", None, True, 2.5]),
    ('map[string]any{"b": 1, "a": []any{2, 3}, "c": map[string]any{"d": nil}}', {"a": [2, 3], "b": 1, "c": {"d": None}}),
    ('[]any{[]any{2, 2}, map[string]any{}, map[string]any{"callbacks": nil, "errbacks": nil, "chain": nil, "chord": nil}}',
     [[2, 2], {}, {"callbacks": None, "chain": None, "chord": None, "errbacks": None}]),
    ('[]string{"a", "b"}', ["a", "b"]), ('map[string]string{"y": "1", "x": "2"}', {"x": "2", "y": "1"}),
    ('map[int]string{10: "a", 2: "b"}', {"10": "a", "2": "b"}),
    ('[2]int{1, 2}', [1, 2]),
    ("time.Date(2024, 5, 1, 12, 0, 3, 118000000, time.UTC)", DT(2024, 5, 1, 12, 0, 3, 118000, tzinfo=UTC)),
    ("time.Date(2024, 5, 1, 12, 0, 3, 0, time.UTC)", DT(2024, 5, 1, 12, 0, 3, tzinfo=UTC)),
    ("time.Date(2024, 5, 1, 12, 0, 3, 1999, time.UTC)", DT(2024, 5, 1, 12, 0, 3, 1, tzinfo=UTC)),
    ('time.Date(2024, 5, 1, 12, 0, 3, 0, time.FixedZone("", -(5*3600+30*60)))',
     DT(2024, 5, 1, 12, 0, 3, tzinfo=datetime.timezone(-datetime.timedelta(hours=5, minutes=30)))),
    ('time.Date(2024, 5, 1, 12, 0, 3, 0, time.FixedZone("", 3600+61))',
     DT(2024, 5, 1, 12, 0, 3, tzinfo=datetime.timezone(datetime.timedelta(seconds=3661)))),
    ("time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)", DT(1, 1, 1, tzinfo=UTC)),
    ("Date{2024, time.May, 1}", datetime.date(2024, 5, 1)), ("Date{9, time.January, 2}", datetime.date(9, 1, 2)),
    ("TimeOfDay{Hour: 1, Minute: 2, Second: 3, Nanosecond: 4000}", datetime.time(1, 2, 3, 4)),
    ("TimeOfDay{Hour: 23, Minute: 59}", datetime.time(23, 59)),
    ("TimeOfDay{Hour: 12, Offset: intPtr(-3600)}", datetime.time(12, tzinfo=datetime.timezone(datetime.timedelta(hours=-1)))),
    ("TimeOfDay{Hour: 12, Offset: intPtr(0)}", datetime.time(12, tzinfo=UTC)),
    ('Decimal("3.14")', decimal.Decimal("3.14")), ('Decimal("-1E+2")', decimal.Decimal("-1E+2")),
    ('Decimal("NaN")', decimal.Decimal("NaN")), ('Decimal("-Infinity")', decimal.Decimal("-Infinity")),
    ('uuid.MustParse("12345678-1234-5678-1234-567812345678")', uuid.UUID("12345678-1234-5678-1234-567812345678")),
    ('[]byte("hi")', b"hi"), ("[]byte{}", b""), ("[]byte{0xff, 0x00}", b"\xff\x00"),
    ('[]byte("caf\\xc3\\xa9")', "café".encode()), ('[]byte{0xed, 0xa0, 0x80}', b"\xed\xa0\x80"),
    ('[]any{time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), Decimal("1"), []byte("x")}',
     [DT(2024, 5, 1, tzinfo=UTC), decimal.Decimal("1"), b"x"]),
]
print("// encodeGolden lists Go values with kombu.utils.json.dumps of the")
print("// equivalent Python value.")
print("var encodeGolden = []struct {")
print("\tname string")
print("\tin   any")
print("\twant string")
print("}{")
for go, py in encode_cases:
    print("\t{%s, %s, %s}," % (goquote(go), go, goquote(dumps(py))))
print("}")
print()

# ---------------------------------------------------------------- floats
floats = [0.0, -0.0, 1.0, -1.0, 2.5, 0.1, 1 / 3, 1e16, 9999999999999998.0, 1e15, 1e-4, 1e-5, 0.00012345, 1.2345e-5,
          1e22, 1e23, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 123456789012345680.0, 4.35, 100.0,
          1e21, 12345678901234567890.0]
print("// floatGolden lists float64 bit patterns with repr(float) and json.dumps.")
print("var floatGolden = []struct {")
print("\tbits uint64")
print("\trepr string")
print("}{")
for f in floats:
    print("\t{0x%016x, %s}, // %r" % (struct.unpack("<Q", struct.pack("<d", f))[0], goquote(repr(f)), f))
print("}")
print()

# ---------------------------------------------------------------- saferepr
safe_inputs = [
    '[1, "it\'s", "a\\nb", null, true, false, 1.5, 2.0, [1, [2, [3, [4]]]], {"k": {"__type__": "datetime", "__value__": "2024-01-01T00:00:00"}}]',
    '{"b": 2, "a": [1, 2, 3], "c": {"d": {"e": {"f": 1}}}}',
    '[{"__type__": "bytes", "__value__": "hi"}, {"__type__": "base64", "__value__": "eP8="}, {"__type__": "decimal", "__value__": "3.14"}]',
    '[{"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}, {"__type__": "date", "__value__": "2024-05-01"}, {"__type__": "time", "__value__": "12:00:00.5+01:00"}]',
    '["' + "x" * 2000 + '"]',
    '["' + "word " * 400 + '"]',
    "[" + ", ".join(str(i) for i in range(300)) + "]",
    "[" + ", ".join("[%d, %d]" % (i, i) for i in range(200)) + "]",
    '{' + ", ".join('"k%03d": "%s"' % (i, "v" * 20) for i in range(60)) + '}',
    '[[[[[1]]]], [[[]]], {"a": {"b": {"c": {}}}}]',
    '[NaN, Infinity, -Infinity, 1e400, 123456789012345678901234567890, 1e-7]',
    '["caf\\u00e9 \\ud83d\\ude00", "\\u0000\\t"]',
    '[' + ", ".join(['"' + "y" * 100 + '"'] * 15) + ']',
    '[{"__type__": "bytes", "__value__": "' + "z" * 1500 + '"}]',
    '[{"__type__": "base64", "__value__": "' + "/w==" * 10 + '"}]',
    '[1, {"a": [2, 3]}, "' + "q" * 1010 + '", 4]',
    '[' + ", ".join(['[' + ", ".join(['"' + "m" * 30 + '"'] * 5) + ']'] * 10) + ']',
    '"top level string with \' quote"', '42', 'null', '[]', '{}', '[[]]',
]
limits = [(None, 3), (1024, 3), (100, 3), (20, 3), (1024, 2), (1024, 0), (50, 1), (7, 3), (1, 3)]
print("// safeReprGolden lists saferepr(loads(in), maxlen, maxlevels) (dict keys")
print("// sorted); maxlen 0 stands for None.")
print("var safeReprGolden = []struct {")
print("\tin        string")
print("\tmaxlen    int")
print("\tmaxlevels int")
print("\twant      string")
print("}{")
for s in safe_inputs:
    v = norm(loads(s))
    for maxlen, maxlevels in limits:
        print("\t{%s, %d, %d, %s}," % (goquote(s), maxlen or 0, maxlevels, goquote(saferepr(v, maxlen, maxlevels))))
print("}")
print()

args_inputs = ['[]', '[1]', '[2, 2]', '["a", [1, [2, [3]]]]', '[[' + ", ".join(str(i) for i in range(400)) + ']]',
               '["it\'s"]', '[{"__type__": "decimal", "__value__": "1.5"}, {"__type__": "bytes", "__value__": "b"}]',
               '[[[1]], [[[2]]]]']
print("// argsReprGolden lists saferepr(tuple(loads(in)), 1024, maxlevels=3), as")
print("// celery.app.amqp computes the argsrepr header.")
print("var argsReprGolden = []struct{ in, want string }{")
for s in args_inputs:
    print("\t{%s, %s}," % (goquote(s), goquote(saferepr(tuple(norm(loads(s))), 1024, maxlevels=3))))
print("}")
print()
kwargs_inputs = ['{}', '{"x": 1}', '{"b": "two", "a": [1, {"c": [3]}]}', '{"big": "' + "w " * 700 + '"}']
print("// kwargsReprGolden lists saferepr(loads(in), 1024, maxlevels=3) (keys sorted).")
print("var kwargsReprGolden = []struct{ in, want string }{")
for s in kwargs_inputs:
    print("\t{%s, %s}," % (goquote(s), goquote(saferepr(norm(loads(s)), 1024, maxlevels=3))))
print("}")
print()

trunc_cases = [("", 5), ("abc", 0), ("abc", 3), ("abc", 4), ("abcdef", 3), ("hello world foo", 12), ("hello world", 5),
               (" abc", 3), ("a b c d", 4), ("héllo wörld", 8), ("😀😀😀😀", 2), ("x" * 2000, 1024), ("ab ", 3)]
print("// truncateGolden lists celery.utils.text.truncate(s, n).")
print("var truncateGolden = []struct {")
print("\ts    string")
print("\tn    int")
print("\twant string")
print("}{")
for s, n in trunc_cases:
    print("\t{%s, %d, %s}," % (goquote(s), n, goquote(truncate(s, n))))
print("}")
