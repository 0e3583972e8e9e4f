package bind

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/tools/filesystem"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/postr-inc/hapta/plugins/hapta/internal/jsonpos"
)

// InvalidInput is the message of a 400 answer with field errors.
const InvalidInput = "Invalid request input."

// Read is what Bind read of a request besides the input.
type Read struct {
	// JSON is the JSON body as sent (nil for other bodies), kept even when
	// no field binds from the body.
	JSON json.RawMessage
	// FieldErrors are the values that did not parse, for Validate to
	// answer with the others.
	FieldErrors validation.Errors
}

// Bind fills dst, a pointer to the input struct, from the request: path,
// query (already parsed) and header fields, then the body. err is an answer
// of its own: a body over the limit (413), an unsupported content type
// (415) or a malformed body (400).
func (s *Schema) Bind(r *http.Request, query url.Values, dst reflect.Value) (read Read, err error) {
	read.FieldErrors = validation.Errors{}
	fieldErrors := read.FieldErrors
	target := dst.Elem()

	for _, f := range s.Fields {
		var values []string
		switch f.Source {
		case SourcePath:
			if v := r.PathValue(f.Name); v != "" {
				values = []string{v}
			}
		case SourceQuery:
			values = query[f.Name]
		case SourceHeader:
			values = r.Header.Values(f.Name)
		default:
			continue
		}
		if len(values) == 0 {
			continue
		}
		if err := setFromText(target.FieldByIndex(f.Index), values); err != nil {
			fieldErrors[f.Name] = err
		}
	}

	if read.JSON, err = s.bindBody(r, target, fieldErrors); err != nil {
		return Read{}, err
	}
	return read, nil
}

// supportedBodies is the 415 answer's advice.
const supportedBodies = "send application/json, application/x-www-form-urlencoded or multipart/form-data"

// bindBody binds the body's fields and returns a JSON body as sent.
func (s *Schema) bindBody(r *http.Request, target reflect.Value, fieldErrors validation.Errors) (json.RawMessage, error) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")

	// a route without body fields ignores the body, but keeps a JSON one
	if s.BodyFields == 0 && !isJSON {
		return nil, nil
	}

	switch {
	case isJSON:
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, bodyReadError(err)
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, nil
		}
		if s.BodyFields == 0 {
			return data, nil
		}
		return data, s.bindJSON(data, target, fieldErrors)

	case mediaType == "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, bodyReadError(err)
		}
		s.bindForm(r.PostForm, nil, target, fieldErrors)
		return nil, nil

	case mediaType == "multipart/form-data":
		if err := r.ParseMultipartForm(router.DefaultMaxMemory); err != nil {
			return nil, bodyReadError(err)
		}
		s.bindForm(r.MultipartForm.Value, r.MultipartForm.File, target, fieldErrors)
		return nil, nil
	}

	// no body at all needs no content type
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, bodyReadError(err)
	}
	if len(data) == 0 {
		return nil, nil
	}
	if mediaType == "" {
		return nil, apis.NewApiError(http.StatusUnsupportedMediaType, "Missing Content-Type: "+supportedBodies+".", nil)
	}
	return nil, apis.NewApiError(http.StatusUnsupportedMediaType,
		fmt.Sprintf("Unsupported Content-Type %q: %s.", mediaType, supportedBodies), nil)
}

// bodyReadError keeps PocketBase's 413 for a body over the limit; any other
// failure to read or parse the body is the client's (400).
func bodyReadError(err error) error {
	var apiErr *router.ApiError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	var maxBytesErr *http.MaxBytesError // outside PocketBase's router
	if errors.As(err, &maxBytesErr) {
		return apis.ErrRequestEntityTooLarge
	}
	return apis.NewBadRequestError("The request body could not be read: "+err.Error(), nil)
}

func (s *Schema) bindJSON(data []byte, target reflect.Value, fieldErrors validation.Errors) error {
	var values map[string]json.RawMessage
	if err := json.Unmarshal(data, &values); err != nil {
		var syntaxErr *json.SyntaxError
		if errors.As(err, &syntaxErr) {
			line, column := jsonpos.LineAndColumn(data, syntaxErr.Offset-1)
			return apis.NewBadRequestError(fmt.Sprintf("Malformed JSON body at line %d, column %d: %s.", line, column, syntaxErr.Error()), nil)
		}
		return apis.NewBadRequestError("The JSON body must be an object.", nil)
	}

	for _, f := range s.Fields {
		if f.Source != SourceBody || f.IsFile {
			continue
		}
		raw, ok := values[f.Name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, target.FieldByIndex(f.Index).Addr().Interface()); err != nil {
			fieldErrors[f.Name] = typeError(f.Type)
		}
	}
	return nil
}

func (s *Schema) bindForm(values map[string][]string, files map[string][]*multipart.FileHeader, target reflect.Value, fieldErrors validation.Errors) {
	for _, f := range s.Fields {
		if f.Source != SourceBody {
			continue
		}
		field := target.FieldByIndex(f.Index)
		if f.IsFile {
			if err := setFiles(field, files[f.FormName]); err != nil {
				fieldErrors[f.FormName] = err
			}
			continue
		}
		if len(values[f.FormName]) == 0 {
			continue
		}
		if !isTextType(f.Type) {
			fieldErrors[f.FormName] = validation.NewError("validation_invalid_type", "Cannot be sent in a form body; send JSON.")
			continue
		}
		if err := setFromText(field, values[f.FormName]); err != nil {
			fieldErrors[f.FormName] = err
		}
	}
}

func setFiles(field reflect.Value, headers []*multipart.FileHeader) error {
	if len(headers) == 0 {
		return nil
	}
	if field.Type() == FileType && len(headers) > 1 {
		return validation.NewError("validation_too_many_files", "Only one file is allowed.")
	}
	files := reflect.MakeSlice(reflect.SliceOf(FileType), 0, len(headers))
	for _, header := range headers {
		file, err := filesystem.NewFileFromMultipart(header)
		if err != nil {
			return validation.NewError("validation_invalid_file", "The file could not be read.")
		}
		files = reflect.Append(files, reflect.ValueOf(file))
	}
	if field.Type() == FileType {
		field.Set(files.Index(0))
	} else {
		field.Set(files)
	}
	return nil
}

// setFromText parses text values into field: every value for a slice, the
// first for anything else.
func setFromText(field reflect.Value, values []string) error {
	t := field.Type()
	if t.Kind() == reflect.Slice && !reflect.PointerTo(t).Implements(TextUnmarshaler) {
		slice := reflect.MakeSlice(t, len(values), len(values))
		for i, v := range values {
			if err := setScalar(slice.Index(i), v); err != nil {
				return err
			}
		}
		field.Set(slice)
		return nil
	}
	return setScalar(field, values[0])
}

func setScalar(v reflect.Value, text string) error {
	t := v.Type()
	if reflect.PointerTo(t).Implements(TextUnmarshaler) {
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
			return validation.NewError("validation_invalid_value", "Invalid value.")
		}
		return nil
	}

	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := setScalar(p.Elem(), text); err != nil {
			return err
		}
		v.Set(p)
	case reflect.String:
		v.SetString(text)
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return typeError(t)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(text, 10, t.Bits())
		if err != nil {
			return typeError(t)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(text, 10, t.Bits())
		if err != nil {
			return typeError(t)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(text, t.Bits())
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return typeError(t)
		}
		v.SetFloat(n)
	default:
		return typeError(t)
	}
	return nil
}

// typeError is the field error for a value of the wrong type for t.
func typeError(t reflect.Type) validation.Error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(TextUnmarshaler) {
		return validation.NewError("validation_invalid_value", "Invalid value.")
	}
	message := "Has an invalid type."
	switch t.Kind() {
	case reflect.String:
		message = "Must be a string."
	case reflect.Bool:
		message = "Must be true or false."
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		message = "Must be an integer."
		if bits := t.Bits(); bits < 64 {
			message = fmt.Sprintf("Must be an integer from %d to %d.", int64(-1)<<(bits-1), int64(1)<<(bits-1)-1)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		message = "Must be a non-negative integer."
		if bits := t.Bits(); bits < 64 {
			message = fmt.Sprintf("Must be an integer from 0 to %d.", uint64(1)<<bits-1)
		}
	case reflect.Float32, reflect.Float64:
		message = "Must be a number."
	case reflect.Slice, reflect.Array:
		message = "Must be a list."
	case reflect.Struct, reflect.Map:
		message = "Must be an object."
	}
	return validation.NewError("validation_invalid_type", message)
}
