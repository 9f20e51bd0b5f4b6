// Package errs is the one error type that crosses the wire between logic
// servers, external servers and game clients.
//
// An *Error carries a numeric code and a message. Framework codes are
// negative and share their numbers with ioGame; applications use positive
// codes. Errors compare by code, so errors.Is still matches after an error
// has travelled over the network and been rebuilt on the other side:
//
//	var ErrNoGold = errs.New(1001, "not enough gold")
//	...
//	if errors.Is(err, ErrNoGold) { ... }
package errs

import (
	"errors"
	"fmt"
)

// Framework error codes, the same numbers as ioGame's.
const (
	// CodeSystem is an unexpected failure: a panic, an error that is not an
	// *Error, or a broken dependency.
	CodeSystem int32 = -1000
	// CodeValidation means the request data failed validation.
	CodeValidation int32 = -1001
	// CodeRouteNotFound means the route does not exist or the caller may not
	// reach it.
	CodeRouteNotFound int32 = -1002
	// CodeIdleTimeout is sent before a connection is closed for idleness.
	CodeIdleTimeout int32 = -1003
	// CodeLoginRequired means the route needs a logged-in session.
	CodeLoginRequired int32 = -1004
	// CodeDataNotFound means the requested data does not exist.
	CodeDataNotFound int32 = -1006
	// CodeForcedOffline is sent before a session is closed by the server,
	// for example when the same user logs in elsewhere.
	CodeForcedOffline int32 = -1007
	// CodeLogicGone means the logic server the user is bound to is gone.
	CodeLogicGone int32 = -1008
)

// Sentinel errors for the framework codes. Compare with errors.Is.
var (
	ErrSystem        = &Error{Code: CodeSystem, Msg: "system error"}
	ErrValidation    = &Error{Code: CodeValidation, Msg: "validation failed"}
	ErrRouteNotFound = &Error{Code: CodeRouteNotFound, Msg: "route not found"}
	ErrIdleTimeout   = &Error{Code: CodeIdleTimeout, Msg: "idle timeout"}
	ErrLoginRequired = &Error{Code: CodeLoginRequired, Msg: "login required"}
	ErrDataNotFound  = &Error{Code: CodeDataNotFound, Msg: "data not found"}
	ErrForcedOffline = &Error{Code: CodeForcedOffline, Msg: "forced offline"}
	ErrLogicGone     = &Error{Code: CodeLogicGone, Msg: "bound logic server gone"}
)

// Error is an error with a code that can be sent to a client.
type Error struct {
	// Code is 0 for success (never used in an Error), negative for framework
	// errors and positive for application errors.
	Code int32
	// Msg is a human-readable message sent with the code.
	Msg string
}

// New returns an error with the given code and message.
func New(code int32, msg string) *Error { return &Error{Code: code, Msg: msg} }

// Newf returns an error with the given code and a formatted message.
func Newf(code int32, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("error code %d", e.Code)
	}
	return fmt.Sprintf("%s (code %d)", e.Msg, e.Code)
}

// Is reports whether target is an *Error with the same code, so that an error
// rebuilt from the wire still matches its sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// WithMsg returns a copy of e with another message and the same code.
func (e *Error) WithMsg(msg string) *Error { return &Error{Code: e.Code, Msg: msg} }

// From returns the *Error in err's chain. An error that carries no code
// becomes ErrSystem; the original stays unexposed to clients, so internal
// details never leak. From(nil) is nil.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	return ErrSystem
}

// Code returns the code of err: 0 for nil, the code of an *Error in its
// chain, or CodeSystem.
func Code(err error) int32 {
	if err == nil {
		return 0
	}
	return From(err).Code
}

// Check returns err when cond is false and nil otherwise; a compact guard
// for handlers:
//
//	if err := errs.Check(gold >= price, ErrNoGold); err != nil { return nil, err }
func Check(cond bool, err *Error) error {
	if cond {
		return nil
	}
	return err
}

// NotNil returns ErrDataNotFound (or msg, if given, with that code) when
// v is nil; it is the usual guard after a lookup.
func NotNil[T any](v *T, msg ...string) error {
	if v != nil {
		return nil
	}
	if len(msg) > 0 {
		return ErrDataNotFound.WithMsg(msg[0])
	}
	return ErrDataNotFound
}

// Info describes one error code, for documentation and code generation.
type Info struct {
	Code int32
	Name string
	Msg  string
}

// Framework lists the framework error codes in a fixed order.
func Framework() []Info {
	return []Info{
		{CodeSystem, "System", ErrSystem.Msg},
		{CodeValidation, "Validation", ErrValidation.Msg},
		{CodeRouteNotFound, "RouteNotFound", ErrRouteNotFound.Msg},
		{CodeIdleTimeout, "IdleTimeout", ErrIdleTimeout.Msg},
		{CodeLoginRequired, "LoginRequired", ErrLoginRequired.Msg},
		{CodeDataNotFound, "DataNotFound", ErrDataNotFound.Msg},
		{CodeForcedOffline, "ForcedOffline", ErrForcedOffline.Msg},
		{CodeLogicGone, "LogicGone", ErrLogicGone.Msg},
	}
}
