package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// strictOuter and strictInner give decodeStrict every shape it walks: a pointer to a
// struct, a struct value, a slice of structs, an array of pointers to structs, an embedded
// struct, a type that decodes itself, and free-form values.
type strictOuter struct {
	Name     *string         `json:"name"`
	Inner    *strictInner    `json:"inner"`
	Value    strictInner     `json:"value"`
	Items    []strictInner   `json:"items"`
	Pair     [2]*strictInner `json:"pair"`
	Tags     []string        `json:"tags"`
	Data     json.RawMessage `json:"data"`
	Any      any             `json:"any"`
	Map      map[string]int  `json:"map"`
	At       *time.Time      `json:"at"`
	Ignored  string          `json:"-"`
	Untagged int
	hidden   int // no key may name an unexported field
	strictEmbedded
}

type strictInner struct {
	A    *string      `json:"a"`
	B    []int        `json:"b,omitempty"`
	Deep *strictInner `json:"deep"`
}

type strictEmbedded struct {
	Promoted string `json:"promoted"`
	Name     string `json:"shadowed"` // the outer Name's key is "name"; this one is "shadowed"
}

func TestDecodeStrictAccepts(t *testing.T) {
	t.Parallel()
	var o strictOuter
	body := `{"name":"n","inner":{"a":"x","deep":{"a":"y","deep":null}},"value":{"b":[1,2]},
		"items":[{"a":"i0"},{"a":"i1","b":[3]}],"pair":[{"a":"p0"},null],"tags":["t","t"],
		"data":{"k":1,"k":2,"K":3,"nested":{"k":1,"k":1}},"any":{"k":1,"k":2},"map":{"m":1},
		"at":"2026-01-02T03:04:05Z","Untagged":7,"promoted":"p","shadowed":"s"}`
	require.NoError(t, decodeStrict([]byte(body), &o))
	assert.Equal(t, "n", *o.Name)
	assert.Equal(t, "y", *o.Inner.Deep.A)
	assert.Equal(t, []int{1, 2}, o.Value.B)
	assert.Equal(t, "i1", *o.Items[1].A)
	assert.Equal(t, "p0", *o.Pair[0].A)
	assert.Nil(t, o.Pair[1])
	assert.Equal(t, []string{"t", "t"}, o.Tags, "repeated values are not repeated keys")
	assert.JSONEq(t, `{"k":2,"K":3,"nested":{"k":1}}`, string(o.Data))
	assert.Equal(t, `{"k":1,"k":2,"K":3,"nested":{"k":1,"k":1}}`, string(o.Data), "data is kept as the sender wrote it")
	assert.Equal(t, 7, o.Untagged)
	assert.Zero(t, o.hidden)
	assert.Equal(t, "p", o.Promoted)
	assert.Equal(t, "s", o.strictEmbedded.Name)

	// An escaped key is the same key.
	var e eventRequest
	require.NoError(t, decodeStrict([]byte(`{"event\u0054ype":"a.b","data":{}}`), &e))
	assert.Equal(t, "a.b", *e.EventType)
	// Whitespace everywhere JSON allows it.
	require.NoError(t, decodeStrict([]byte(" \t\r\n{ \"eventType\" :\n\"a.b\" , \"data\" : { } } \n"), &e))
}

func TestDecodeStrictRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body  string
		code, field string
		message     string // a part of it
	}{
		{"miscased top-level key", `{"NAME":"n"}`, codeUnknownField, "NAME", `unknown field "NAME"`},
		{"miscased in a pointer struct", `{"inner":{"A":"x"}}`, codeUnknownField, "inner.A", `unknown field "inner.A"`},
		{"miscased in a struct value", `{"value":{"Deep":null}}`, codeUnknownField, "value.Deep", ""},
		{"miscased two levels down", `{"inner":{"deep":{"deep":{"aa":1}}}}`, codeUnknownField, "inner.deep.deep.aa", ""},
		{"miscased in a slice of structs", `{"items":[{"a":"x"},{"A":"y"}]}`, codeUnknownField, "items[1].A", ""},
		{"miscased in an array of pointers", `{"pair":[null,{"b":[],"x":1}]}`, codeUnknownField, "pair[1].x", ""},
		{"the Go name of a tagged field", `{"Name":"n"}`, codeUnknownField, "Name", ""},
		{"a field tagged -", `{"Ignored":"x"}`, codeUnknownField, "Ignored", ""},
		{"an unexported field", `{"hidden":1}`, codeUnknownField, "hidden", ""},
		{"a miscased untagged field", `{"untagged":1}`, codeUnknownField, "untagged", ""},
		{"a miscased promoted field", `{"Promoted":"p"}`, codeUnknownField, "Promoted", ""},
		{"a miscased key next to the right one", `{"name":"a","nAme":"b"}`, codeUnknownField, "nAme", ""},
		{"a miscased key with a wrong type", `{"NAME":5}`, codeUnknownField, "NAME", ""},
		{"duplicate top-level key", `{"name":"a","name":"b"}`, codeInvalidJSON, "name", `duplicate key "name"`},
		{"duplicate null key", `{"name":null,"name":null}`, codeInvalidJSON, "name", ""},
		{"duplicate escaped key", `{"name":"a","n\u0061me":"b"}`, codeInvalidJSON, "name", ""},
		{"duplicate in a pointer struct", `{"inner":{"a":"x","deep":{},"a":"y"}}`, codeInvalidJSON, "inner.a", `duplicate key "inner.a"`},
		{"duplicate in a struct value", `{"value":{"b":[1],"b":[2]}}`, codeInvalidJSON, "value.b", ""},
		{"duplicate in a slice of structs", `{"items":[{},{"a":"x","a":"x"}]}`, codeInvalidJSON, "items[1].a", ""},
		{"duplicate object", `{"inner":{},"inner":{}}`, codeInvalidJSON, "inner", ""},
		{"duplicate free-form value", `{"data":{},"data":{}}`, codeInvalidJSON, "data", ""},
		{"duplicate promoted field", `{"promoted":"a","promoted":"b"}`, codeInvalidJSON, "promoted", ""},
		{"wrong type", `{"name":5}`, codeInvalidValue, "name", "must be a string"},
		{"wrong type nested", `{"inner":{"b":["x"]}}`, codeInvalidValue, "inner.b", "must be an integer"},
		{"an array for a struct", `{"inner":[]}`, codeInvalidValue, "inner", "must be an object"},
		{"an object for a slice", `{"items":{}}`, codeInvalidValue, "items", "must be an array"},
		{"a bad time", `{"at":"yesterday"}`, codeInvalidJSON, "", "not valid"},
		{"malformed", `{"name":'n'}`, codeInvalidJSON, "", "malformed JSON at byte 9"},
		{"malformed after an unknown key", `{"zz":1,"name":}`, codeInvalidJSON, "", "malformed JSON at byte 16"},
		{"malformed after a duplicate", `{"name":"a","name":"b",}`, codeInvalidJSON, "", "malformed JSON at byte 24"},
		{"truncated", `{"name":"a","inner":{`, codeInvalidJSON, "", "unexpected end of input"},
		{"trailing data", `{"name":"a"} {}`, codeInvalidJSON, "", "after the JSON object"},
		{"not an object", `["name"]`, codeInvalidJSON, "", "expected a JSON object"},
		{"empty", " \n", codeInvalidJSON, "", "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var o strictOuter
			err := decodeStrict([]byte(tc.body), &o)
			var ae *apiError
			require.True(t, errors.As(err, &ae), "error %v", err)
			assert.Equal(t, http.StatusBadRequest, ae.Status)
			assert.Equal(t, tc.code, ae.Code, "%v", err)
			assert.Equal(t, tc.field, ae.Field, "%v", err)
			assert.Contains(t, ae.Message, tc.message)
		})
	}
}

// TestDecodeStrictRequestTypes runs every request type the API decodes through a miscased
// and a repeated key, so that a request type the checker could not see into would show.
func TestDecodeStrictRequestTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dst  func() any
		body string // valid, with the key to break first
		key  string
	}{
		{func() any { return &eventRequest{} }, `{"eventType":"a.b","data":{}}`, "eventType"},
		{func() any { return &batchRequest{} }, `{"events":[]}`, "events"},
		{func() any { return &webhookCreateRequest{} }, `{"url":"https://x.test/","eventTypes":["*"]}`, "url"},
		{func() any { return &webhookPatchRequest{} }, `{"description":"d"}`, "description"},
		{func() any { return &rotateRequest{} }, `{"gracePeriod":"1h"}`, "gracePeriod"},
		{func() any { return &testEmailRequest{} }, `{"to":"a@b.test"}`, "to"},
	} {
		t.Run(fmt.Sprintf("%T", tc.dst()), func(t *testing.T) {
			t.Parallel()
			require.NoError(t, decodeStrict([]byte(tc.body), tc.dst()))
			upper := strings.Replace(tc.body, `"`+tc.key+`"`, `"`+strings.ToUpper(tc.key)+`"`, 1)
			err := decodeStrict([]byte(upper), tc.dst())
			assert.Equal(t, &apiError{Status: 400, Code: codeUnknownField, Field: strings.ToUpper(tc.key),
				Message: fmt.Sprintf("unknown field %q", strings.ToUpper(tc.key))}, err)
			twice := strings.Replace(tc.body, "{", "{"+strings.TrimSuffix(tc.body[1:], "}")+",", 1)
			err = decodeStrict([]byte(twice), tc.dst())
			var ae *apiError
			require.True(t, errors.As(err, &ae), "%s: %v", twice, err)
			assert.Equal(t, codeInvalidJSON, ae.Code, twice)
			assert.Equal(t, tc.key, ae.Field, twice)
		})
	}
}

// typicalEvent is an ingest body of about 1 KB: the five fields, with a data object of
// nested objects, arrays, numbers and escaped strings as senders write them.
var typicalEvent = func() []byte {
	items := make([]string, 0, 7)
	for i := range 7 {
		items = append(items, fmt.Sprintf(`{"sku":"SKU-%04d","name":"Widget \"%d\" – blue","qty":%d,"price":%d.99,"tags":["a","b"],"gift":false}`, i, i, i+1, 10+i))
	}
	s := `{"eventType":"order.paid","workflowId":"wf_01JD8XK2M3N4P5Q6R7S8T9V0W1",` +
		`"timestamp":"2026-11-28T14:02:11.123Z","idempotencyKey":"order-81723-paid",` +
		`"data":{"orderId":"ord_81723","customer":{"id":"cus_99","email":"ann@example.com","vip":true},` +
		`"items":[` + strings.Join(items, ",") + `],"total":123.45,"currency":"EUR","note":null}}`
	return []byte(s)
}()

// BenchmarkDecodeEvent measures decodeStrict on the body of one typical ingest request.
func BenchmarkDecodeEvent(b *testing.B) {
	b.SetBytes(int64(len(typicalEvent)))
	b.ReportAllocs()
	for b.Loop() {
		var req eventRequest
		if err := decodeStrict(typicalEvent, &req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBatch measures a batch of 100 typical events: the batch object, then
// each item on its own, as createEventBatch does.
func BenchmarkDecodeBatch(b *testing.B) {
	items := make([]string, 100)
	for i := range items {
		items[i] = string(typicalEvent)
	}
	body := []byte(`{"events":[` + strings.Join(items, ",") + `]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var req batchRequest
		if err := decodeStrict(body, &req); err != nil {
			b.Fatal(err)
		}
		for _, raw := range req.Events {
			var ev eventRequest
			if err := decodeStrict(raw, &ev); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// keyShape describes, for the fuzz oracle, which keys each struct of a request type
// declares and what each key's value decodes into: another struct's name, that name with
// "[]" for a slice or array of it, or "" for anything not checked key by key.
type keyShape map[string]map[string]string

var (
	outerShape = keyShape{
		"outer": {"name": "", "inner": "inner", "value": "inner", "items": "inner[]", "pair": "inner[]", "tags": "",
			"data": "", "any": "", "map": "", "at": "", "Untagged": "", "promoted": "", "shadowed": ""},
		"inner": {"a": "", "b": "", "deep": "inner"},
	}
	eventShape = keyShape{"event": {"eventType": "", "workflowId": "", "data": "", "timestamp": "", "idempotencyKey": ""}}
)

// exactKeys is the fuzz oracle: it reports whether every object of the well-formed JSON b
// that decodes into a struct of shape has only declared keys, each once. It tokenizes with
// json.Decoder, independently of keyChecker and much more slowly.
func exactKeys(b []byte, shape keyShape, top string) bool {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber() // 1e999 is JSON, though not a float64
	var walk func(ctx string) bool
	walk = func(ctx string) bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			fields, isStruct := shape[ctx]
			seen := map[string]bool{}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return false
				}
				key := tok.(string)
				child := ""
				if isStruct {
					c, ok := fields[key]
					if !ok || seen[key] {
						return false
					}
					seen[key], child = true, c
				}
				if !walk(child) {
					return false
				}
			}
		case json.Delim('['):
			elem, _ := strings.CutSuffix(ctx, "[]")
			if elem == ctx {
				elem = ""
			}
			for dec.More() {
				if !walk(elem) {
					return false
				}
			}
		default:
			return true
		}
		_, err = dec.Token() // the closing delimiter
		return err == nil
	}
	return walk(top)
}

// FuzzDecodeStrict checks decodeStrict against encoding/json and the exactKeys oracle: it
// accepts exactly the objects encoding/json decodes whose struct keys are exact and
// unique, decodes them as encoding/json does, and refuses everything else with a 4xx.
// Seeds run in go test; go test -fuzz FuzzDecodeStrict ./handlers/ explores further.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{
		`{"name":"n","inner":{"a":"x","deep":{"a":"y"}},"items":[{"a":"i"},{"b":[1]}],"pair":[null,{}],"data":{"k":1,"k":2}}`,
		`{"NAME":"n"}`, `{"name":"a","name":"b"}`, `{"inner":{"a":"x","a":"y"}}`, `{"items":[{},{"A":1}]}`,
		`{"n\u0061me":"a","name":"b"}`, `{"value":{"deep":{"deep":{"B":[]}}}}`, `{"data":{"a":"\"}","a":[{"]":1}]}}`,
		`{"tags":["\\",",","}"],"name":"\"x\\"}`, `{"name":"a"} x`, `{"promoted":"p","Untagged":1,"at":"2026-01-02T03:04:05Z"}`,
		` {"map":{"a":1,"a":2}, "any":[{"x":1,"x":2}]} `, `{"pair":[{"a":"1"},{"a":"2"},{"a":"3"}]}`, `{"inner":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The checker alone, on bytes the decoder has not vetted, stops without a panic.
		kc := keyChecker{b: b}
		_ = kc.value(reflect.TypeFor[strictOuter](), "")

		var got strictOuter
		err := decodeStrict(b, &got)
		var want strictOuter
		trimmed := strings.TrimLeft(string(b), " \t\r\n")
		accept := strings.HasPrefix(trimmed, "{") && json.Unmarshal(b, &want) == nil && exactKeys(b, outerShape, "outer")
		if !accept {
			if err == nil {
				t.Fatalf("accepted %q", b)
			}
			requireClientError(t, err)
			return
		}
		if err != nil {
			t.Fatalf("refused %q: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q decoded as %+v, encoding/json gives %+v", b, got, want)
		}
	})
}

// TestKeyCheckerSurvivesBrokenInput feeds the checker input the decoder would have refused
// first: it must stop, not panic or loop.
func TestKeyCheckerSurvivesBrokenInput(t *testing.T) {
	t.Parallel()
	for _, b := range []string{``, `{`, `{"`, `{"name`, `{"name"`, `{"name":`, `{"name":"x`, `{"name":"x\`, `{"inner":{"a"`,
		`{"items":[`, `{"items":[{`, `{"items":[{}`, `{"items":[{} {}]}`, `{"name" "x"}`, `{"name":"x" "inner":{}}`, `{1:2}`, `{"data":[}`} {
		kc := keyChecker{b: []byte(b)}
		assert.NotPanics(t, func() { _ = kc.value(reflect.TypeFor[strictOuter](), "") }, b)
	}
}
