package event

import "fmt"

// FieldError reports why one field of an event was rejected.
type FieldError struct {
	Field  string // JSON name of the field, or "" for the whole event
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
