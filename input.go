package carcosa

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/carcosa-dev/carcosa/internal/lifecycle"
)

// maxInputSize bounds the JSON input a client may send.
const maxInputSize = lifecycle.MaxInputSize

func decodeMeta[M any](b []byte) (M, error) {
	var m M
	if len(b) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decoding stored metadata: %w", err)
	}
	return m, nil
}

// decodeInput decodes a route's JSON input into I and validates it. Empty
// input decodes as the zero I, which validation may then refuse.
func decodeInput[I any](v *validator.Validate, b []byte) (I, error) {
	var in I
	// The limit is on what was sent, whitespace included.
	if len(b) > maxInputSize {
		return in, ErrInvalidInput.With("the input is larger than 64 KiB")
	}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && !bytes.Equal(b, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return in, inputDecodeError(err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return in, ErrBadRequest.With("the input must be a single JSON value")
		}
	}
	if err := validateStruct(v, in); err != nil {
		return in, err
	}
	return in, nil
}

// inputDecodeError explains a JSON decoding failure without echoing input.
func inputDecodeError(err error) *Error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		e := ErrInvalidInput.With("the input has a field of the wrong type")
		e.Fields = []FieldError{{Field: typeErr.Field, Rule: "type", Param: typeErr.Type.Kind().String()}}
		return e
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrBadRequest.With("the input is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		e := ErrInvalidInput.With("the input has an unknown field")
		e.Fields = []FieldError{{Field: field, Rule: "unknown"}}
		return e
	}
	return ErrBadRequest.With("the input is not valid JSON")
}

// checkTags validates a zero value of struct type t, so that a malformed
// validate tag (an unknown rule, a parameter that is not a number) fails at
// registration rather than on a client's request. Rules skipped for zero
// values (omitempty) are not reached.
func checkTags(v *validator.Validate, t reflect.Type) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	v.Struct(reflect.New(t).Elem().Interface())
	return nil
}

func validateStruct(v *validator.Validate, in any) error {
	rv := reflect.ValueOf(in)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	err := v.Struct(rv.Interface())
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return ErrInvalidInput.Wrap(err)
	}
	e := ErrInvalidInput.With("the input failed validation")
	for _, fe := range verrs {
		// Namespace is "Type.field.sub"; clients know fields by JSON path.
		ns := fe.Namespace()
		if i := strings.IndexByte(ns, '.'); i >= 0 {
			ns = ns[i+1:]
		}
		e.Fields = append(e.Fields, FieldError{Field: ns, Rule: fe.Tag(), Param: fe.Param()})
	}
	return e
}

// newValidator returns a validator that names fields by their JSON names.
func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			return ""
		case "":
			return f.Name
		}
		return name
	})
	return v
}

// SchemaField describes one field of a route's input for clients: a hint,
// not a full JSON Schema.
type SchemaField struct {
	Name     string        `json:"name"`
	Type     string        `json:"type"` // string, number, integer, boolean, array, object
	Required bool          `json:"required,omitempty"`
	Rules    string        `json:"rules,omitempty"` // the validate tag
	Fields   []SchemaField `json:"fields,omitempty"`
}

func schemaOf(t reflect.Type) []SchemaField {
	return schemaFields(t, 0)
}

func schemaFields(t reflect.Type, depth int) []SchemaField {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || depth > 4 {
		return nil
	}
	var out []SchemaField
	// As encoding/json decodes them: embedded structs' fields flattened.
	for _, f := range decodedFields(t) {
		rules := f.tag.Get("validate")
		sf := SchemaField{Name: f.name, Type: jsonKind(f.typ), Rules: rules}
		for _, r := range strings.Split(rules, ",") {
			if r == "required" {
				sf.Required = true
			}
		}
		if sf.Type == "object" {
			sf.Fields = schemaFields(f.typ, depth+1)
		}
		out = append(out, sf)
	}
	return out
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return "object"
}
