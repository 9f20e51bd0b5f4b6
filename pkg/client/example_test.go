package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
)

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws://127.0.0.1:10100/websocket")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	// Route (1, 0) takes a bare int64 and answers a string; both travel
	// in ioGame's wrapper messages.
	name, err := client.Call[int64, string](ctx, c, 1, 0, 42)
	if e, ok := errors.AsType[*errs.Error](err); ok {
		fmt.Println("refused:", e.Code, e.Msg)
		return
	}
	fmt.Println(name, err)

	go func() {
		for p := range c.Pushes() {
			fmt.Println("push on route", p.CmdMerge, len(p.Data), "bytes")
		}
	}()
}
