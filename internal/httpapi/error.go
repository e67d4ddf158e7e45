package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Error is an error with an HTTP status and a stable code for clients; Message is safe to show them.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // sets Retry-After when positive
	Err        error         // internal detail: logged, never sent
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given status and code.
func Errorf(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// Body is the JSON error body: {"error": {"code": "...", "message": "..."}}.
type Body struct {
	Error BodyError `json:"error"`
}

// BodyError is the inner object of Body.
type BodyError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// HandlerFunc is an HTTP handler that returns an error for the adapter to report.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts h: an *Error is sent with its status and code; any other error is logged and answered 500 without
// detail.
func Handle(logger *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var he *Error
		if !errors.As(err, &he) {
			he = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error", Err: err}
		}
		if he.Status >= 500 {
			logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", he.Status, "err", err)
		} else if he.Err != nil {
			logger.Debug("request rejected", "method", r.Method, "path", r.URL.Path, "status", he.Status, "err", err)
		}
		WriteError(w, he)
	})
}

// WriteError sends e as the JSON error body.
func WriteError(w http.ResponseWriter, e *Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	WriteJSON(w, e.Status, Body{Error: BodyError{Code: e.Code, Message: e.Message}})
}

// WriteJSON sends v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
