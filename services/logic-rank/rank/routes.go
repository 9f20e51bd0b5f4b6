package rank

import (
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	rankpb "github.com/iogo-dev/iogo/proto/rank"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Cmd is the route cmd of the rank service.
const Cmd int32 = 4

// Routes of the rank service.
const (
	SubSubmit int32 = 0 // Submit → Submitted: the caller's score
	SubTop    int32 = 1 // Top → Records: a page from the first rank
	SubMyRank int32 = 2 // Query → Records: the caller's record (none or one)
	SubAround int32 = 3 // Around → Records: a window around an owner
	SubOwners int32 = 4 // Owners → Records: given owners (friends)
	SubBoard  int32 = 5 // Query → Board: configuration, period, size
	SubBoards int32 = 6 // Empty → Boards: every board

	// SubSubmitFor is internal: SubmitFor → Submitted, for any owner.
	SubSubmitFor int32 = 10
	// SubCreateBoard is internal: BoardConfig → Board.
	SubCreateBoard int32 = 11
	// SubRemove is internal: SubmitFor (owner and board ID) → Empty;
	// deletes the owner's record in the current period.
	SubRemove int32 = 12
)

// Router returns the service's routes; they need a logged-in session,
// except the internal ones, which only other services reach.
func (s *Module) Router() logic.RouteSource {
	r := route.NewRouter()
	for _, d := range declared {
		r.DeclareError(d.name, d.err)
	}
	g := r.Group(Cmd)
	route.Handle(g, SubSubmit, s.handleSubmit,
		route.Doc("Submits the caller's score to a board's current period; returns the record with its rank, and the period."))
	route.Handle(g, SubTop, s.handleTop,
		route.Doc("Lists a board from the first rank, a page at a time (opaque cursor, stable paging)."))
	route.Handle(g, SubMyRank, s.handleMyRank,
		route.Doc("Returns the caller's record and rank; an empty list when the caller has none."))
	route.Handle(g, SubAround, s.handleAround,
		route.Doc("Lists the records around an owner's rank (the caller by default)."))
	route.Handle(g, SubOwners, s.handleOwners,
		route.Doc("Lists the records of given owners in rank order, e.g. a friends board."))
	route.Handle(g, SubBoard, s.handleBoard,
		route.Doc("Describes a board: configuration, current period with its next reset, number of records."))
	route.Handle(g, SubBoards, s.handleBoards, route.Doc("Lists every board."))
	route.Handle(g, SubSubmitFor, s.handleSubmitFor, route.Internal(),
		route.Doc("Submits a score for any owner (server to server)."))
	route.Handle(g, SubCreateBoard, s.handleCreateBoard, route.Internal(),
		route.Doc("Creates a board (server to server); the same configuration again is not an error."))
	route.Handle(g, SubRemove, s.handleRemove, route.Internal(),
		route.Doc("Deletes an owner's record in a board's current period (server to server)."))
	return r
}

func caller(c *logic.Ctx) (int64, error) {
	if c.UserID() == 0 {
		return 0, errs.ErrLoginRequired
	}
	return c.UserID(), nil
}

func (s *Module) handleSubmit(c *logic.Ctx, req *rankpb.Submit) (*rankpb.Submitted, error) {
	uid, err := caller(c)
	if err != nil {
		return nil, err
	}
	return s.submit(c, uid, req)
}

func (s *Module) handleSubmitFor(c *logic.Ctx, req *rankpb.SubmitFor) (*rankpb.Submitted, error) {
	return s.submit(c, req.OwnerId, req.Submit)
}

func (s *Module) submit(c *logic.Ctx, owner int64, req *rankpb.Submit) (*rankpb.Submitted, error) {
	rec, p, err := s.Submit(c.Context(), req.GetBoardId(), Submission{
		Owner: owner, Name: req.GetDisplayName(), Score: req.GetScore(), Subscore: req.GetSubscore(), Metadata: req.GetMetadata(),
	})
	if err != nil {
		return nil, err
	}
	out := &rankpb.Submitted{Record: rec.toPB(), Period: p.toPB()}
	if b, err := s.board(req.GetBoardId()); err == nil {
		out.Total, _ = s.backend.Count(c.Context(), s.scope(b, p))
	}
	return out, nil
}

func (s *Module) handleTop(c *logic.Ctx, req *rankpb.Top) (*rankpb.Records, error) {
	pg, err := s.Top(c.Context(), req.GetQuery().GetBoardId(), req.GetQuery().GetPrevious(), req.Cursor, int(req.Limit))
	return pg.toPB(), err
}

func (s *Module) handleMyRank(c *logic.Ctx, req *rankpb.Query) (*rankpb.Records, error) {
	uid, err := caller(c)
	if err != nil {
		return nil, err
	}
	pg, err := s.Rank(c.Context(), req.BoardId, req.Previous, uid)
	return pg.toPB(), err
}

func (s *Module) handleAround(c *logic.Ctx, req *rankpb.Around) (*rankpb.Records, error) {
	owner := req.OwnerId
	if owner == 0 {
		var err error
		if owner, err = caller(c); err != nil {
			return nil, err
		}
	}
	pg, err := s.Around(c.Context(), req.GetQuery().GetBoardId(), req.GetQuery().GetPrevious(), owner, int(req.Limit))
	return pg.toPB(), err
}

func (s *Module) handleOwners(c *logic.Ctx, req *rankpb.Owners) (*rankpb.Records, error) {
	pg, err := s.Owners(c.Context(), req.GetQuery().GetBoardId(), req.GetQuery().GetPrevious(), req.OwnerIds)
	return pg.toPB(), err
}

func (s *Module) handleBoard(c *logic.Ctx, req *rankpb.Query) (*rankpb.Board, error) {
	info, err := s.Board(c.Context(), req.BoardId)
	if err != nil {
		return nil, err
	}
	return info.toPB(), nil
}

func (s *Module) handleBoards(c *logic.Ctx, _ *emptypb.Empty) (*rankpb.Boards, error) {
	out := &rankpb.Boards{}
	for _, id := range s.BoardIDs() {
		info, err := s.Board(c.Context(), id)
		if err != nil {
			continue // deleted meanwhile
		}
		out.Boards = append(out.Boards, info.toPB())
	}
	return out, nil
}

func (s *Module) handleCreateBoard(c *logic.Ctx, req *rankpb.BoardConfig) (*rankpb.Board, error) {
	if err := s.CreateBoard(c.Context(), configFromPB(req)); err != nil {
		return nil, err
	}
	return s.handleBoard(c, &rankpb.Query{BoardId: req.Id})
}

func (s *Module) handleRemove(c *logic.Ctx, req *rankpb.SubmitFor) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, s.Remove(c.Context(), req.GetSubmit().GetBoardId(), req.OwnerId)
}

func (r *Record) toPB() *rankpb.Record {
	return &rankpb.Record{
		OwnerId: r.Owner, DisplayName: r.Name, Score: r.Score, Subscore: r.Subscore, Metadata: r.Metadata,
		Rank: r.Rank, Submissions: r.Submissions, CreateTime: r.Created, UpdateTime: r.Updated,
	}
}

func (p Period) toPB() *rankpb.Period {
	return &rankpb.Period{Start: p.Start, NextReset: p.NextReset, PreviousStart: p.PreviousStart}
}

func (pg Page) toPB() *rankpb.Records {
	out := &rankpb.Records{NextCursor: pg.Next, Total: pg.Total, Period: pg.Period.toPB(),
		Records: make([]*rankpb.Record, len(pg.Records))}
	for i := range pg.Records {
		out.Records[i] = pg.Records[i].toPB()
	}
	return out
}

func (b BoardInfo) toPB() *rankpb.Board {
	return &rankpb.Board{Config: b.Config.toPB(), Period: b.Period.toPB(), Total: b.Total}
}
