package handlers

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
)

// writeJSON sends v with status. Encoding cannot fail for the response types of this
// package, and a write error means the client went away, so neither is reported.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":{"code":"internal","message":"Something went wrong"}}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// readBody checks that the request carries JSON and returns at most limit bytes of its
// body: 415 for another media type, 413 past the limit, 400 when it is not UTF-8.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if err := requireJSON(r); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Code: codeTooLarge,
				Message: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)}
		}
		return nil, invalidJSON("request body could not be read")
	}
	if !utf8.Valid(b) {
		// JSON must be UTF-8 (RFC 8259). encoding/json would pass the bytes of a data object
		// through unchanged, and receivers with strict parsers would refuse the delivery.
		return nil, invalidJSON("request body is not valid UTF-8")
	}
	return b, nil
}

// requireJSON accepts application/json, with no charset or a UTF-8 one.
func requireJSON(r *http.Request) error {
	unsupported := &apiError{Status: http.StatusUnsupportedMediaType, Code: codeUnsupportedMediaType,
		Message: "Content-Type must be application/json"}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return unsupported
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return unsupported
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return unsupported
	}
	return nil
}

// decodeStrict decodes one JSON object from b into dst, which must point to a struct. It
// rejects keys dst does not declare, keys given twice, values of the wrong type, and
// anything after the object. Errors are *apiError, except for a dst that is not a pointer
// to a struct (a programmer error).
//
// Keys must match the json tags exactly. encoding/json alone matches them regardless of
// case, so {"EVENTTYPE":…} would be accepted and, with "eventType" and "eventtype" both
// present, the last would win. Duplicate keys are refused in every object that decodes
// into a struct. Values that decode into json.RawMessage, maps or interfaces (an event's
// data) are free-form: they are kept as the sender wrote them, duplicates included.
func decodeStrict(b []byte, dst any) error {
	start := len(b) - len(bytes.TrimLeft(b, " \t\r\n"))
	if start == len(b) {
		return invalidJSON("request body is empty; expected a JSON object")
	}
	if b[start] != '{' {
		return invalidJSON("expected a JSON object")
	}
	t := reflect.TypeOf(dst)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("decode into %T: not a pointer to a struct", dst)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return invalidJSON(fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: ")))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return invalidJSON("malformed JSON: unexpected end of input")
	}
	// The decoder reads a whole value, and checks its syntax, before it decodes any of it,
	// so the object is well-formed here. Its keys are checked before a type error is
	// reported: the decoder matched them regardless of case, and a type error for
	// "eventType" would puzzle a sender who wrote "EVENTTYPE".
	kc := keyChecker{b: b, i: start}
	if kerr := kc.value(t.Elem(), ""); kerr != nil {
		return kerr
	}
	if err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return invalidValue(te.Field, "must be "+jsonKind(te.Type))
		}
		return invalidJSON("the request body is not valid for this endpoint")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalidJSON("unexpected data after the JSON object")
	}
	return nil
}

// keyChecker walks a well-formed JSON value alongside the Go type it decodes into and
// checks the keys of every object that decodes into a struct: each must name a field
// exactly, and only once. Everything else is skipped byte by byte without being decoded.
// It works on raw bytes rather than json.Decoder.Token, which allocates for every token it
// passes: tokenizing a typical 1 KB event costs several times decoding it.
//
// Input it does not expect (it never sees any: the decoder checked the syntax) ends the
// walk without an error rather than a panic.
type keyChecker struct {
	b     []byte
	i     int
	known []structFields // the structs met so far, for slices of structs
}

// structFields is the table of one struct type's fields. It is built for each request:
// a shared cache would be global state, and building it costs a few hundred nanoseconds.
type structFields struct {
	t      reflect.Type
	fields []strictField
}

// strictField is a field of a struct that a JSON key names.
type strictField struct {
	name   string
	typ    reflect.Type
	walked bool // see walked
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walked reports whether values of type t hold objects whose keys keyChecker checks.
func walked(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		return !unmarshals(t)
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return walked(t.Elem()) && !unmarshals(t)
	}
	return false
}

// unmarshals reports whether t decodes itself (time.Time does), and so decides which keys
// it accepts.
func unmarshals(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler)
}

// value checks the value at k.i, decoded into t, and moves past it.
func (k *keyChecker) value(t reflect.Type, path string) error {
	k.space()
	if walked(t) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch c := k.peek(); {
		case c == '{' && t.Kind() == reflect.Struct:
			return k.object(t, path)
		case c == '[' && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
			return k.array(t.Elem(), path)
		}
		// null, or a value of another type, which the decoder reports
	}
	k.skip()
	return nil
}

func (k *keyChecker) object(t reflect.Type, path string) error {
	fields := k.fieldsOf(t)
	seen := make([]bool, len(fields))
	k.i++ // '{'
	for n := 0; ; n++ {
		k.space()
		if k.peek() == '}' {
			k.i++
			return nil
		}
		if n > 0 {
			if k.peek() != ',' {
				return nil
			}
			k.i++
			k.space()
		}
		if k.peek() != '"' {
			return nil
		}
		key := k.key()
		k.space()
		if k.peek() != ':' {
			return nil
		}
		k.i++
		i := slices.IndexFunc(fields, func(f strictField) bool { return f.name == string(key) })
		switch {
		case i < 0:
			name := joinPath(path, string(key))
			return &apiError{Status: http.StatusBadRequest, Code: codeUnknownField, Field: name,
				Message: fmt.Sprintf("unknown field %q", name)}
		case seen[i]:
			name := joinPath(path, string(key))
			return &apiError{Status: http.StatusBadRequest, Code: codeInvalidJSON, Field: name,
				Message: fmt.Sprintf("duplicate key %q; each key may appear once", name)}
		}
		seen[i] = true
		if !fields[i].walked {
			k.space()
			k.skip()
			continue
		}
		if err := k.value(fields[i].typ, joinPath(path, fields[i].name)); err != nil {
			return err
		}
	}
}

func (k *keyChecker) array(elem reflect.Type, path string) error {
	k.i++ // '['
	for n := 0; ; n++ {
		k.space()
		if k.peek() == ']' {
			k.i++
			return nil
		}
		if n > 0 {
			if k.peek() != ',' {
				return nil
			}
			k.i++
		}
		if err := k.value(elem, fmt.Sprintf("%s[%d]", path, n)); err != nil {
			return err
		}
	}
}

// key reads the string at k.i, which starts with '"', and returns its value.
func (k *keyChecker) key() []byte {
	start := k.i
	escaped := k.skipString()
	raw := k.b[start:k.i]
	if len(raw) < 2 || raw[len(raw)-1] != '"' {
		return raw // unterminated, which the decoder would have refused
	}
	if !escaped {
		return raw[1 : len(raw)-1]
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return raw
	}
	return []byte(s)
}

// skipString moves past the string at k.i and reports whether it holds escapes. A byte
// loop beats bytes.IndexByte here: most strings in JSON are a few bytes long.
func (k *keyChecker) skipString() (escaped bool) {
	for k.i++; k.i < len(k.b); k.i++ {
		switch k.b[k.i] {
		case '\\':
			escaped = true
			k.i++ // the escaped character, which may be '"'
		case '"':
			k.i++
			return escaped
		}
	}
	return escaped
}

// skip moves past the value at k.i: a string, number or literal, or an array or object
// with everything in it.
func (k *keyChecker) skip() {
	depth := 0
	for k.i < len(k.b) {
		switch k.b[k.i] {
		case '"':
			k.skipString()
			if depth == 0 {
				return
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return // the end of the object or array that holds this number or literal
			}
			depth--
			if depth == 0 {
				k.i++
				return
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return
			}
		}
		k.i++
	}
}

func (k *keyChecker) space() {
	for k.i < len(k.b) {
		switch k.b[k.i] {
		case ' ', '\t', '\r', '\n':
			k.i++
		default:
			return
		}
	}
}

// peek returns the byte at k.i, or 0 at the end.
func (k *keyChecker) peek() byte {
	if k.i < len(k.b) {
		return k.b[k.i]
	}
	return 0
}

// fieldsOf lists the fields of t that JSON keys name, under their exact names, as
// encoding/json finds them: exported, not tagged "-", named by the tag or else the field.
// Fields of embedded structs are promoted to t, unless t has its own of the same name.
func (k *keyChecker) fieldsOf(t reflect.Type) []strictField {
	for _, sf := range k.known {
		if sf.t == t {
			return sf.fields
		}
	}
	fs := make([]strictField, 0, t.NumField())
	var promoted []strictField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				promoted = append(promoted, k.fieldsOf(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs = append(fs, strictField{name: name, typ: ft, walked: walked(ft)})
	}
	fs = append(fs, promoted...) // after t's own fields, which hide promoted ones of the same name
	k.known = append(k.known, structFields{t: t, fields: fs})
	return fs
}

// joinPath names key inside the value at path: "customer.email", "items[2].sku".
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonKind names the JSON type that decodes into t, for error messages.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	if t == reflect.TypeFor[json.RawMessage]() {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "of another type"
}
