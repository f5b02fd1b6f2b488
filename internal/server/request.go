package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"sealkeep/internal/errs"
)

// maxJSONBody bounds the JSON body of the API's small requests.
const maxJSONBody = 64 << 10

// decodeJSON reads the request's JSON body into v strictly: the content
// type must be application/json, unknown members and anything after the
// one value are refused, and a malformed body is an invalid-input error
// that says where. A secret in the body (a password, a code) is never
// quoted back: the errors name members and offsets only.
func decodeJSON(r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errs.New(errs.Invalid, "the request body must be application/json")
	}
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.As(err, &se):
			return errs.New(errs.Invalid, fmt.Sprintf("the request body is not JSON (at byte %d)", se.Offset))
		case errors.As(err, &te):
			return errs.New(errs.Invalid, fmt.Sprintf("the request member %q must be a %s", te.Field, te.Type))
		case errors.Is(err, io.EOF):
			return errs.New(errs.Invalid, "the request body is empty")
		default:
			// Unknown members ("json: unknown field \"x\"") and values a
			// member's type refuses; neither quotes a value.
			return errs.New(errs.Invalid, "the request body is not valid: "+err.Error())
		}
	}
	if d.More() {
		return errs.New(errs.Invalid, "the request body holds more than one JSON value")
	}
	return nil
}
