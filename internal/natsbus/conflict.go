package natsbus

import (
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// IsKVConflict reports whether err is a KV compare-and-set losing a race: Update against a revision that is no
// longer the newest, or Create of a key that exists.
func IsKVConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) || errors.Is(err, jetstream.ErrKeyExists)
}
