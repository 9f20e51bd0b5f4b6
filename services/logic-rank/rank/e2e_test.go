package rank_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/external"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/svcmain/svctest"
	rankpb "github.com/iogo-dev/iogo/proto/rank"
	"github.com/iogo-dev/iogo/services/logic-rank/rank"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/emptypb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, svctest.LeakOptions()...) }

// stack is a broker, a gate, a test login service (route 1-0 binds the
// session to the int64 it gets) and the rank module, in one process.
type stack struct {
	gate *external.Server
	rank *rank.Module
}

func startStack(t *testing.T, st func(testing.TB, *broker.Broker) store.Opener, boards []rank.BoardConfig) *stack {
	t.Helper()
	b := brokertest.Start(t, broker.Config{})
	svctest.Logic(t, b, logic.Config{Service: "login", Router: svctest.LoginRouter()})
	m, err := rank.New(rank.Config{Boards: boards})
	if err != nil {
		t.Fatal(err)
	}
	svctest.Module(t, b, logic.Config{Service: rank.Service}, m, st(t, b))
	return &stack{gate: svctest.Gate(t, b), rank: m}
}

// player dials the gate and logs in as id.
func (s *stack) player(t *testing.T, id int64) *client.Client {
	t.Helper()
	return svctest.Player(t, s.gate, id)
}

func call[Req, Resp any](t *testing.T, c *client.Client, sub int32, req Req) Resp {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := client.Call[Req, Resp](ctx, c, rank.Cmd, sub, req)
	if err != nil {
		t.Fatalf("route %d-%d: %v", rank.Cmd, sub, err)
	}
	return resp
}

func pbOwners(recs []*rankpb.Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.OwnerId
	}
	return out
}

// TestEndToEnd drives the service through a gate with real clients, on
// each store backend (on Redis, the boards are sorted sets).
func TestEndToEnd(t *testing.T) {
	for _, be := range svctest.Backends() {
		t.Run(be.Name, func(t *testing.T) { testEndToEnd(t, be.Open) })
	}
}

func testEndToEnd(t *testing.T, st func(testing.TB, *broker.Broker) store.Opener) {
	s := startStack(t, st, []rank.BoardConfig{{ID: "weekly", Reset: "0 0 * * 1", Metadata: true}})
	players := map[int64]*client.Client{}
	for id := int64(101); id <= 105; id++ {
		players[id] = s.player(t, id)
	}
	// Scores 10, 20, ... 50: player 105 leads.
	for id, c := range players {
		sub := call[*rankpb.Submit, *rankpb.Submitted](t, c, rank.SubSubmit,
			&rankpb.Submit{BoardId: "weekly", Score: (id - 100) * 10, DisplayName: "p", Metadata: `{"lvl":1}`})
		if sub.Record.OwnerId != id || sub.Record.Rank < 1 || sub.Period.NextReset <= sub.Period.Start || sub.Period.Start == 0 {
			t.Fatalf("submitted %v", sub)
		}
	}
	c := players[103]
	top := call[*rankpb.Top, *rankpb.Records](t, c, rank.SubTop, &rankpb.Top{Query: &rankpb.Query{BoardId: "weekly"}, Limit: 2})
	if !slices.Equal(pbOwners(top.Records), []int64{105, 104}) || top.NextCursor == "" || top.Total != 5 || top.Period.GetNextReset() == 0 {
		t.Fatalf("top %v", top)
	}
	next := call[*rankpb.Top, *rankpb.Records](t, c, rank.SubTop, &rankpb.Top{Query: &rankpb.Query{BoardId: "weekly"}, Limit: 2, Cursor: top.NextCursor})
	if !slices.Equal(pbOwners(next.Records), []int64{103, 102}) || next.Records[0].Rank != 3 {
		t.Fatalf("page 2 %v", next)
	}
	me := call[*rankpb.Query, *rankpb.Records](t, c, rank.SubMyRank, &rankpb.Query{BoardId: "weekly"})
	if len(me.Records) != 1 || me.Records[0].Rank != 3 || me.Records[0].Metadata != `{"lvl":1}` {
		t.Fatalf("my rank %v", me)
	}
	around := call[*rankpb.Around, *rankpb.Records](t, c, rank.SubAround, &rankpb.Around{Query: &rankpb.Query{BoardId: "weekly"}, Limit: 3})
	if !slices.Equal(pbOwners(around.Records), []int64{104, 103, 102}) {
		t.Fatalf("around %v", around)
	}
	friends := call[*rankpb.Owners, *rankpb.Records](t, c, rank.SubOwners, &rankpb.Owners{Query: &rankpb.Query{BoardId: "weekly"}, OwnerIds: []int64{101, 105, 999}})
	if !slices.Equal(pbOwners(friends.Records), []int64{105, 101}) || friends.Records[1].Rank != 5 {
		t.Fatalf("friends %v", friends)
	}
	info := call[*rankpb.Query, *rankpb.Board](t, c, rank.SubBoard, &rankpb.Query{BoardId: "weekly"})
	if info.Config.GetResetSchedule() != "0 0 * * 1" || info.Total != 5 || info.Period.GetPreviousStart() == 0 {
		t.Fatalf("board %v", info)
	}
	list := call[*emptypb.Empty, *rankpb.Boards](t, c, rank.SubBoards, &emptypb.Empty{})
	if len(list.Boards) != 1 {
		t.Fatalf("boards %v", list)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Errors reach the client with their codes.
	_, err := client.Call[*rankpb.Submit, *rankpb.Submitted](ctx, c, rank.Cmd, rank.SubSubmit, &rankpb.Submit{BoardId: "nope"})
	if !errors.Is(err, rank.ErrBoardNotFound) {
		t.Fatalf("unknown board: %v", err)
	}
	// Internal routes are not reachable from clients.
	_, err = client.Call[*rankpb.SubmitFor, *rankpb.Submitted](ctx, c, rank.Cmd, rank.SubSubmitFor, &rankpb.SubmitFor{OwnerId: 1, Submit: &rankpb.Submit{BoardId: "weekly"}})
	if !errors.Is(err, errs.ErrRouteNotFound) {
		t.Fatalf("internal route from a client: %v", err)
	}
	// Before login, the gate refuses.
	anon, err := client.Dial(ctx, "tcp://"+s.gate.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := client.Call[*rankpb.Query, *rankpb.Records](ctx, anon, rank.Cmd, rank.SubMyRank, &rankpb.Query{BoardId: "weekly"}); !errors.Is(err, errs.ErrLoginRequired) {
		t.Fatalf("anonymous: %v", err)
	}
}
