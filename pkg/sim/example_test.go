package sim_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/iogo-dev/iogo/pkg/sim"
	demopb "github.com/iogo-dev/iogo/proto/demo"
)

// A scenario of one's own: greet once, then sum numbers and echo a line,
// with a pause between iterations; every response is checked.
func Example() {
	sc := &sim.Scenario{
		Name: "tour",
		Setup: []sim.Step{
			sim.Request("hello", 2, 0,
				func(p *sim.Player) *demopb.HelloReq { return &demopb.HelloReq{Name: fmt.Sprint("bot", p.ID)} },
				func(p *sim.Player, _ *demopb.HelloReq, resp *demopb.HelloResp) error {
					p.Set("greeting", resp.GetText())
					return nil
				}),
		},
		Loop: []sim.Step{
			sim.Request("sum", 2, 2,
				func(p *sim.Player) []int64 { return []int64{int64(p.Iteration), 1} },
				func(p *sim.Player, req []int64, sum int64) error {
					if sum != req[0]+req[1] {
						return errors.New("wrong sum")
					}
					return nil
				}),
			sim.Request[*demopb.EchoMsg, *demopb.EchoMsg]("echo", 2, 1,
				func(p *sim.Player) *demopb.EchoMsg { return &demopb.EchoMsg{Text: p.Get("greeting").(string)} }, nil),
			sim.ThinkRandom(50*time.Millisecond, 150*time.Millisecond),
		},
	}
	rep, err := sim.Run(context.Background(), sim.Config{
		URL: "ws://127.0.0.1:10100/websocket", Scenario: sc,
		Players: 200, RampUp: 5 * time.Second, Duration: 30 * time.Second,
	})
	if err != nil {
		fmt.Println(err) // an invalid Config
		return
	}
	rep.WriteText(os.Stdout)
	if f, err := os.Create("tour.html"); err == nil {
		rep.WritePlot(f)
		f.Close()
	}
}
