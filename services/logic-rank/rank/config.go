package rank

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	rankpb "github.com/iogo-dev/iogo/proto/rank"
	"github.com/robfig/cron/v3"
)

// Sort is the order of a board's scores.
type Sort int8

// Sorts.
const (
	// Descending ranks higher scores first (the default).
	Descending Sort = iota
	// Ascending ranks lower scores first, e.g. race times.
	Ascending
)

// Operator is how a submission combines with an owner's record.
type Operator int8

// Operators.
const (
	// Best keeps the better (score, subscore) pair, compared as a tuple in
	// the board's order (the default).
	Best Operator = iota
	// Set replaces the record's score and subscore.
	Set
	// Incr adds the submitted score and subscore.
	Incr
	// Decr subtracts the submitted score and subscore.
	Decr
)

var (
	sortNames = []string{Descending: "desc", Ascending: "asc"}
	opNames   = []string{Best: "best", Set: "set", Incr: "incr", Decr: "decr"}
)

// String returns "desc" or "asc".
func (s Sort) String() string {
	if int(s) < len(sortNames) && s >= 0 {
		return sortNames[s]
	}
	return fmt.Sprintf("Sort(%d)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s Sort) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts "desc", "descending", "asc" and "ascending".
func (s *Sort) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "", "desc", "descending":
		*s = Descending
	case "asc", "ascending":
		*s = Ascending
	default:
		return fmt.Errorf("rank: unknown sort %q (desc or asc)", b)
	}
	return nil
}

// String returns "best", "set", "incr" or "decr".
func (o Operator) String() string {
	if int(o) < len(opNames) && o >= 0 {
		return opNames[o]
	}
	return fmt.Sprintf("Operator(%d)", o)
}

// MarshalText implements encoding.TextMarshaler.
func (o Operator) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText accepts "best", "set", "incr" and "decr".
func (o *Operator) UnmarshalText(b []byte) error {
	for i, n := range opNames {
		if strings.EqualFold(n, string(b)) {
			*o = Operator(i)
			return nil
		}
	}
	if len(b) == 0 {
		*o = Best
		return nil
	}
	return fmt.Errorf("rank: unknown operator %q (best, set, incr or decr)", b)
}

// BoardConfig declares a leaderboard. Server code creates boards
// ([Service.CreateBoard], the -boards flag, or the internal route);
// clients only submit to and read them.
type BoardConfig struct {
	// ID names the board: 1..64 characters from A-Z a-z 0-9 '-' '_'.
	ID string `json:"id"`
	// Sort is the order of the scores; default Descending.
	Sort Sort `json:"sort,omitempty"`
	// Operator combines submissions with records; default Best.
	Operator Operator `json:"operator,omitempty"`
	// Reset is a cron expression (5 fields, 6 with seconds, descriptors
	// such as @weekly, optional CRON_TZ= prefix; UTC by default) at which
	// the board starts a new period; empty: never.
	Reset string `json:"reset,omitempty"`
	// Metadata allows submissions to carry metadata.
	Metadata bool `json:"metadata,omitempty"`
	// MaxEntries, when positive, bounds the records of a period: when
	// full, a new owner must beat the last record, which leaves the board.
	MaxEntries int64 `json:"max_entries,omitempty"`
}

// Errors of board configuration.
var (
	errBadID = errors.New("rank: board ID must be 1..64 characters from A-Z a-z 0-9 '-' '_'")
)

// cronParser parses 5-field expressions, an optional seconds field and
// descriptors (@daily, @weekly, ...).
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Validate reports an invalid field.
func (c *BoardConfig) Validate() error {
	if !validID(c.ID) {
		return fmt.Errorf("%w: %q", errBadID, c.ID)
	}
	if c.Sort != Descending && c.Sort != Ascending {
		return fmt.Errorf("rank: board %s: invalid sort %d", c.ID, c.Sort)
	}
	if c.Operator < Best || c.Operator > Decr {
		return fmt.Errorf("rank: board %s: invalid operator %d", c.ID, c.Operator)
	}
	if c.MaxEntries < 0 {
		return fmt.Errorf("rank: board %s: negative max_entries", c.ID)
	}
	if c.Reset != "" {
		if _, err := newSchedule(c.Reset); err != nil {
			return fmt.Errorf("rank: board %s: reset %q: %w", c.ID, c.Reset, err)
		}
	}
	return nil
}

func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// ParseBoards reads board declarations: spec is either inline JSON (an
// array of [BoardConfig] objects, or one object) or the path of a file
// holding that JSON.
//
//	[{"id":"weekly","reset":"0 0 * * 1","metadata":true},{"id":"speedrun","sort":"asc","max_entries":1000}]
func ParseBoards(spec string) ([]BoardConfig, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	data := []byte(spec)
	if spec[0] != '[' && spec[0] != '{' {
		var err error
		if data, err = os.ReadFile(spec); err != nil {
			return nil, fmt.Errorf("rank: boards: %w", err)
		}
		data = []byte(strings.TrimSpace(string(data)))
	}
	var out []BoardConfig
	if len(data) > 0 && data[0] == '{' {
		var one BoardConfig
		if err := strictJSON(data, &one); err != nil {
			return nil, err
		}
		out = []BoardConfig{one}
	} else if err := strictJSON(data, &out); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i := range out {
		if err := out[i].Validate(); err != nil {
			return nil, err
		}
		if seen[out[i].ID] {
			return nil, fmt.Errorf("rank: boards: %s declared twice", out[i].ID)
		}
		seen[out[i].ID] = true
	}
	return out, nil
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("rank: boards: %w", err)
	}
	return nil
}

// toPB converts a board configuration to its wire form.
func (c *BoardConfig) toPB() *rankpb.BoardConfig {
	return &rankpb.BoardConfig{
		Id:            c.ID,
		Sort:          rankpb.Sort(c.Sort + 1),
		Operator:      rankpb.Operator(c.Operator + 1),
		ResetSchedule: c.Reset,
		Metadata:      c.Metadata,
		MaxEntries:    c.MaxEntries,
	}
}

// configFromPB converts the wire form of a board configuration; the
// unspecified enum values are the defaults.
func configFromPB(p *rankpb.BoardConfig) BoardConfig {
	c := BoardConfig{ID: p.GetId(), Reset: p.GetResetSchedule(), Metadata: p.GetMetadata(), MaxEntries: p.GetMaxEntries()}
	switch p.GetSort() {
	case rankpb.Sort_SORT_UNSPECIFIED, rankpb.Sort_SORT_DESCENDING:
		c.Sort = Descending
	case rankpb.Sort_SORT_ASCENDING:
		c.Sort = Ascending
	default:
		c.Sort = -1 // rejected by Validate
	}
	switch p.GetOperator() {
	case rankpb.Operator_OPERATOR_UNSPECIFIED, rankpb.Operator_OPERATOR_BEST:
		c.Operator = Best
	case rankpb.Operator_OPERATOR_SET:
		c.Operator = Set
	case rankpb.Operator_OPERATOR_INCR:
		c.Operator = Incr
	case rankpb.Operator_OPERATOR_DECR:
		c.Operator = Decr
	default:
		c.Operator = -1
	}
	return c
}
