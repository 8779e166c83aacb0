package herald

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in one place (internal/httpx); the
// code is also the "code" field of the JSON error body, so clients can switch on it.
const (
	EInvalid      = "invalid_request"    // 400
	EUnauthorized = "unauthorized"       // 401
	EForbidden    = "forbidden"          // 403
	ENotFound     = "not_found"          // 404
	EMethod       = "method_not_allowed" // 405
	ETooLarge     = "payload_too_large"  // 413
	EUnsupported  = "unsupported_media"  // 415
	ETooMany      = "too_many_requests"  // 429
	EUnavailable  = "unavailable"        // 503
	EInternal     = "internal"           // 500
)

// Error is an error meant for the caller: a code and a human-readable message.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal otherwise.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of the first *Error in err's chain; other
// errors are internal and their text is not shown to callers.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Sentinel errors that cross package boundaries.
var (
	ErrUnauthorized = &Error{Code: EUnauthorized, Message: "missing, invalid or expired token"}
	ErrUnavailable  = &Error{Code: EUnavailable, Message: "a dependency is unavailable, retry later"}
)
