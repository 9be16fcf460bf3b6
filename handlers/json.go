package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"sort"
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
// rejects fields dst does not declare, values of the wrong type, and anything after the
// object. Errors are *apiError.
func decodeStrict(b []byte, dst any) error {
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) == 0 {
		return invalidJSON("request body is empty; expected a JSON object")
	}
	if trimmed[0] != '{' {
		return invalidJSON("expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, b, dst)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalidJSON("unexpected data after the JSON object")
	}
	return nil
}

func decodeError(err error, b []byte, dst any) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return invalidJSON(fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: ")))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return invalidJSON("malformed JSON: unexpected end of input")
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return invalidValue(te.Field, "must be "+jsonKind(te.Type))
	}
	// The remaining decoder error is an unknown field, which encoding/json reports only as
	// text. Find the field by comparing the object's keys with dst's instead of parsing it.
	if f := unknownField(b, dst); f != "" {
		return &apiError{Status: http.StatusBadRequest, Code: codeUnknownField, Field: f, Message: fmt.Sprintf("unknown field %q", f)}
	}
	return invalidJSON("the request body is not valid for this endpoint")
}

// unknownField returns the first key (in sorted order) of the JSON object b that no field
// of the struct dst points to accepts. encoding/json matches keys case-insensitively, and so
// does this.
func unknownField(b []byte, dst any) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) != nil {
		return ""
	}
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return ""
	}
	var known []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		known = append(known, name)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		found := false
		for _, n := range known {
			if strings.EqualFold(k, n) {
				found = true
				break
			}
		}
		if !found {
			return k
		}
	}
	return ""
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
