package handlers

import "github.com/hookrelay/hookrelay/db"

// Default limits of request fields, used when the corresponding Server field is zero.
const (
	defaultMaxAdminBodyBytes       = 64 << 10
	defaultMaxURLLength            = 2048
	defaultMaxEventTypes           = 64
	defaultMaxDescriptionLength    = 1024
	defaultMaxWorkflowIDLength     = 256
	defaultMaxIdempotencyKeyLength = 255
)

// limits are the Server's field limits with the defaults filled in.
type limits struct {
	urlLength            int
	eventTypes           int
	descriptionLength    int
	workflowIDLength     int
	idempotencyKeyLength int
	customHeaders        int
	customHeaderBytes    int
}

func (s *Server) limits() limits {
	return limits{
		urlLength:            orDefault(s.MaxURLLength, defaultMaxURLLength),
		eventTypes:           orDefault(s.MaxEventTypes, defaultMaxEventTypes),
		descriptionLength:    orDefault(s.MaxDescriptionLength, defaultMaxDescriptionLength),
		workflowIDLength:     orDefault(s.MaxWorkflowIDLength, defaultMaxWorkflowIDLength),
		idempotencyKeyLength: orDefault(s.MaxIdempotencyKeyLength, defaultMaxIdempotencyKeyLength),
		customHeaders:        orDefault(s.MaxCustomHeaders, db.DefaultMaxCustomHeaders),
		customHeaderBytes:    orDefault(s.MaxCustomHeaderBytes, db.DefaultMaxCustomHeaderBytes),
	}
}

func (s *Server) maxAdminBodyBytes() int64 {
	return orDefault(s.MaxAdminBodyBytes, defaultMaxAdminBodyBytes)
}

func orDefault[T int | int64](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
