package rank

import "github.com/iogo-dev/iogo/pkg/errs"

// Error codes of the rank service (1300-1399).
const (
	CodeBoardNotFound  int32 = 1300
	CodeBoardConflict  int32 = 1301
	CodeMetadataDenied int32 = 1302
	CodeMetadataSize   int32 = 1303
	CodeBoardFull      int32 = 1304
	CodeScoreRange     int32 = 1305
	CodeCursor         int32 = 1306
	CodeNoPrevious     int32 = 1307
	CodeBadBoard       int32 = 1308
)

// Errors of the rank service; they reach clients with their codes, and
// errors.Is matches them after a round trip.
var (
	// ErrBoardNotFound: no board has the ID.
	ErrBoardNotFound = errs.New(CodeBoardNotFound, "rank: board not found")
	// ErrBoardConflict: CreateBoard found the ID taken by a board with
	// another configuration.
	ErrBoardConflict = errs.New(CodeBoardConflict, "rank: board exists with another configuration")
	// ErrMetadataDenied: the board does not take metadata.
	ErrMetadataDenied = errs.New(CodeMetadataDenied, "rank: board does not allow metadata")
	// ErrMetadataSize: the metadata is longer than the service's limit.
	ErrMetadataSize = errs.New(CodeMetadataSize, "rank: metadata too large")
	// ErrBoardFull: the board holds its maximum number of records and the
	// score ranks after the last.
	ErrBoardFull = errs.New(CodeBoardFull, "rank: board is full and the score does not reach it")
	// ErrScoreRange: incrementing or decrementing overflows int64.
	ErrScoreRange = errs.New(CodeScoreRange, "rank: score out of range")
	// ErrCursor: the cursor is malformed or belongs to another period.
	ErrCursor = errs.New(CodeCursor, "rank: invalid or expired cursor")
	// ErrNoPrevious: the board never resets, so it has no previous period.
	ErrNoPrevious = errs.New(CodeNoPrevious, "rank: board has no previous period")
	// ErrBadBoard: an invalid board configuration.
	ErrBadBoard = errs.New(CodeBadBoard, "rank: invalid board configuration")
)

// declared lists the errors for Router.DeclareError.
var declared = []struct {
	name string
	err  *errs.Error
}{
	{"BoardNotFound", ErrBoardNotFound},
	{"BoardConflict", ErrBoardConflict},
	{"MetadataDenied", ErrMetadataDenied},
	{"MetadataSize", ErrMetadataSize},
	{"BoardFull", ErrBoardFull},
	{"ScoreRange", ErrScoreRange},
	{"Cursor", ErrCursor},
	{"NoPrevious", ErrNoPrevious},
	{"BadBoard", ErrBadBoard},
}
