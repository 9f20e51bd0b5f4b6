// Command echo is the raw WebSocket baseline of `make bench`: a Fiber +
// gofiber/contrib/websocket server, configured like the external server's
// WebSocket endpoint, that answers every envelope itself — no broker, no
// logic server, no session bookkeeping. Whatever the simulator measures
// against it is the ceiling that the client, the WebSocket stack and the
// machine allow; iogo's figures are reported as ratios of it.
//
//	echo -ws 127.0.0.1:0
//	iogo echo ready ws=ws://127.0.0.1:PORT/websocket
//
// A business request is answered with its own route, MsgID and data, so
// `iogo sim -scenario echo` checks pass; a heartbeat gets a heartbeat.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/iogo-dev/iogo/pkg/wire"
)

func main() {
	addr := flag.String("ws", "127.0.0.1:0", "WebSocket listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string) error {
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ReadBufferSize: 4096})
	app.Use("/websocket", func(c *fiber.Ctx) error {
		if websocket.IsWebSocketUpgrade(c) {
			return c.Next()
		}
		return fiber.ErrUpgradeRequired
	})
	app.Get("/websocket", websocket.New(serve, websocket.Config{ReadBufferSize: 4096, WriteBufferSize: 4096}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	fmt.Printf("iogo echo ready ws=ws://%s/websocket\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return app.ShutdownWithTimeout(5 * time.Second)
}

// serve answers each envelope of one connection, in order.
func serve(c *websocket.Conn) {
	var in wire.Message
	var out []byte
	for {
		mt, b, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := in.UnmarshalProto(b); err != nil {
			return
		}
		resp := wire.Message{CmdCode: in.CmdCode, CmdMerge: in.CmdMerge, MsgID: in.MsgID, Data: in.Data}
		out = resp.AppendProto(out[:0])
		if err := c.WriteMessage(mt, out); err != nil {
			return
		}
	}
}
