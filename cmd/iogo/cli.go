package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/chzyer/readline"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/svcmain"
	"github.com/iogo-dev/iogo/pkg/svcmain/svcbase"
	"github.com/iogo-dev/iogo/pkg/wire"
	loginpb "github.com/iogo-dev/iogo/proto/login"
	"github.com/iogo-dev/iogo/services/logic-login/login"
	"github.com/nats-io/nats.go"
)

const cliHelp = `Commands:
  connect [URL]                  connect (again), to -url or to URL
  close                          close the connection
  login DEVICE [NICKNAME]        log in as a guest (route 1-0)
  routes                         list the routes with their payload types
  call [-type T] [-resp T] CMD SUB [INPUT]
                                 call a route (CMD-SUB works too). INPUT is JSON
                                 for typed routes (a bare value such as 5 or [1,2]
                                 for int, bool and string routes); -type/-resp name
                                 the protobuf types of routes the console does not
                                 know; without a type INPUT is sent as text, or as
                                 bytes when it starts with hex:
  heartbeat                      send a heartbeat and time the answer
  history                        show the commands entered
  help                           this text
  quit                           leave (Ctrl-D too)
Responses and pushes are printed as they arrive.
`

// voidWait is how long a call to a void route waits for an error
// response before it counts as sent.
const voidWait = 300 * time.Millisecond

// console is one `iogo cli` session: a connection, the known routes and
// the output, shared by the command loop and the push printer.
type console struct {
	url     string
	dial    []client.Option // TLS (tlsflags.go)
	timeout time.Duration
	book    *typeBook
	out     io.Writer // safe for concurrent use

	mu      sync.Mutex // guards c
	c       *client.Client
	history []string
	failed  bool
}

// lockedWriter serializes writes from the command loop and the push
// printer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func runCLI(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) int {
	var (
		url, brokers, historyFile string
		timeout                   time.Duration
	)
	fs := flag.NewFlagSet("iogo cli", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&url, "url", "ws://127.0.0.1:10100/websocket", `external server to connect to at start (ws://, wss://, tcp://, tls://, kcp://); "" = none (use connect)`)
	tlsOpts := tlsFlags(fs) // tlsflags.go
	fs.StringVar(&brokers, "brokers", "", "NATS broker URLs: list routes and their types from the route registry, as a tool (iogo dev -nats prints the URL and the tool's credentials)")
	fs.DurationVar(&timeout, "timeout", 5*time.Second, "request timeout")
	fs.StringVar(&historyFile, "history", defaultHistoryFile(), `history file of the interactive console; "" = none`)
	auth := svcbase.BrokerAuth(fs)
	svcbase.AnnotateEnv(fs, "IOGO_CLI_")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: iogo cli [flags]\n\nAn interactive console client: connect, log in, list routes, call them with JSON\n"+
			"and watch responses and pushes arrive. Reads commands from stdin when it is\nnot a terminal, one per line, and then exits 1 if any failed.\n\n")
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\n", cliHelp)
	}
	err := svcbase.ParseFlags(fs, "IOGO_CLI_", args, lookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return svcmain.ExitOK
	}
	var dial []client.Option
	if err == nil {
		dial, err = tlsOpts()
	}
	var authOpts []nats.Option
	if err == nil {
		authOpts, err = auth()
	}
	if err != nil {
		fmt.Fprintln(stderr, "iogo cli:", err)
		return svcmain.ExitUsage
	}

	var rl *readline.Instance
	interactive := false
	if f, ok := stdin.(*os.File); ok && readline.IsTerminal(int(f.Fd())) && isTerminal(stdout) {
		interactive = true
	}
	con := &console{url: url, dial: dial, timeout: timeout, book: bundledBook(), out: &lockedWriter{w: stdout}}
	if interactive {
		rl, err = readline.NewEx(&readline.Config{
			Prompt:            "iogo> ",
			HistoryFile:       historyFile,
			AutoComplete:      con.completer(),
			InterruptPrompt:   "^C",
			EOFPrompt:         "quit",
			HistorySearchFold: true,
		})
		if err != nil {
			fmt.Fprintln(stderr, "iogo cli:", err)
			return svcmain.ExitError
		}
		defer rl.Close()
		con.out = rl.Stdout()
	}
	if brokers != "" {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := con.book.loadRegistry(lctx, brokers, authOpts); err != nil {
			con.printf("route registry at %s unreachable (%v): showing the bundled routes\n", brokers, err)
		}
		cancel()
	}
	if interactive {
		con.printf("iogo cli: type help for the commands, Tab completes.\n")
	}
	if url != "" {
		con.connect(ctx, url)
	}
	defer con.disconnect()

	if interactive {
		for ctx.Err() == nil {
			line, err := rl.Readline()
			if errors.Is(err, readline.ErrInterrupt) {
				if line == "" {
					break
				}
				continue
			}
			if err != nil { // io.EOF: Ctrl-D
				break
			}
			if !con.exec(ctx, line) {
				break
			}
		}
		return svcmain.ExitOK
	}

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
loop:
	for {
		select {
		case line, ok := <-lines:
			if !ok || !con.exec(ctx, line) {
				break loop
			}
		case <-ctx.Done():
			break loop
		}
	}
	if con.failed {
		return svcmain.ExitError
	}
	return svcmain.ExitOK
}

func defaultHistoryFile() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "iogo", "cli_history")
}

func (con *console) printf(format string, args ...any) {
	fmt.Fprintf(con.out, format, args...)
}

// fail reports a failed command.
func (con *console) fail(format string, args ...any) {
	con.failed = true
	con.printf("error: "+format+"\n", args...)
}

// exec runs one command line; it returns false to leave.
func (con *console) exec(ctx context.Context, line string) bool {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return true
	}
	con.history = append(con.history, line)
	name, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch name {
	case "quit", "exit":
		return false
	case "help", "?":
		con.printf("%s", cliHelp)
	case "connect":
		url := con.url
		if rest != "" {
			url = rest
		}
		con.connect(ctx, url)
	case "close", "disconnect":
		con.disconnect()
	case "login":
		con.login(ctx, strings.Fields(rest))
	case "routes":
		con.routes()
	case "call":
		con.call(ctx, rest)
	case "heartbeat", "ping":
		c := con.client()
		if c == nil {
			return true
		}
		rctx, cancel := context.WithTimeout(ctx, con.timeout)
		began := time.Now()
		err := c.Heartbeat(rctx)
		cancel()
		if err != nil {
			con.fail("heartbeat: %v", err)
			return true
		}
		con.printf("heartbeat answered in %s\n", fmtDur(time.Since(began)))
	case "history":
		for i, h := range con.history {
			con.printf("%4d  %s\n", i+1, h)
		}
	default:
		con.fail("unknown command %q (help lists them)", name)
	}
	return true
}

// client returns the connection, or reports that there is none.
func (con *console) client() *client.Client {
	con.mu.Lock()
	c := con.c
	con.mu.Unlock()
	if c == nil {
		con.fail("not connected (connect [URL])")
		return nil
	}
	select {
	case <-c.Done():
		con.fail("connection closed: %v (connect to reconnect)", c.Err())
		return nil
	default:
	}
	return c
}

func (con *console) connect(ctx context.Context, url string) {
	con.disconnect()
	dctx, cancel := context.WithTimeout(ctx, con.timeout)
	c, err := client.Dial(dctx, url, con.dial...)
	cancel()
	if err != nil {
		con.fail("%v", err)
		return
	}
	con.mu.Lock()
	con.c, con.url = c, url
	con.mu.Unlock()
	con.printf("connected to %s (codec %s)\n", url, c.Codec().Name())
	go con.printPushes(c)
}

func (con *console) disconnect() {
	con.mu.Lock()
	c := con.c
	con.c = nil
	con.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// printPushes prints the pushes of c until it closes.
func (con *console) printPushes(c *client.Client) {
	for m := range c.Pushes() {
		typ := con.book.pushes[m.CmdMerge]
		if m.Status != 0 {
			con.printf("push %d-%d: error %d: %s\n", m.Cmd(), m.Sub(), m.Status, m.ValidMsg)
			continue
		}
		con.printf("push %d-%d: %s\n", m.Cmd(), m.Sub(), con.book.decode(c.Codec(), typ, m.Data))
	}
	if err := c.Err(); err != nil && !errors.Is(err, client.ErrClosed) {
		con.printf("connection closed: %v\n", err)
	}
}

func (con *console) login(ctx context.Context, args []string) {
	if len(args) < 1 || len(args) > 2 {
		con.fail("usage: login DEVICE [NICKNAME]")
		return
	}
	c := con.client()
	if c == nil {
		return
	}
	req := &loginpb.GuestLogin{DeviceId: args[0]}
	if len(args) == 2 {
		req.Nickname = args[1]
	}
	rctx, cancel := context.WithTimeout(ctx, con.timeout)
	defer cancel()
	u, err := client.Call[*loginpb.GuestLogin, *loginpb.User](rctx, c, login.Cmd, login.SubGuest, req)
	if err != nil {
		con.fail("login: %v", err)
		return
	}
	con.printf("logged in: user %d, nickname %q\n", u.GetId(), u.GetNickname())
}

func (con *console) routes() {
	routes := con.book.sorted()
	if con.book.fromRegistry {
		con.printf("routes in the route registry at %s\n", con.book.source)
	} else {
		con.printf("bundled routes (iogo dev); -brokers lists a cluster's from its route registry\n")
	}
	tw := tabwriter.NewWriter(con.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tSERVICE\tACCESS\tREQUEST\tRESPONSE\tDOC")
	for _, r := range routes {
		resp := r.Resp
		if r.Void {
			resp = "(void)"
		}
		fmt.Fprintf(tw, "%d-%d\t%s\t%s\t%s\t%s\t%s\n", r.Cmd, r.Sub, r.Service, r.Effective(), r.Req, resp, r.Doc)
	}
	tw.Flush()
	if len(con.book.pushes) > 0 {
		con.printf("pushes:\n")
		merges := slices.Sorted(maps.Keys(con.book.pushes))
		for _, m := range merges {
			con.printf("  %d-%d  %s\n", m>>16, m&0xffff, con.book.pushes[m])
		}
	}
}

// call parses "[-type T] [-resp T] CMD SUB [INPUT]" (or CMD-SUB) and
// calls the route.
func (con *console) call(ctx context.Context, rest string) {
	var reqType, respType string
	var typed [2]bool
	for {
		tok, after := nextToken(rest)
		if tok == "-type" || tok == "-resp" {
			val, after2 := nextToken(after)
			if val == "" {
				con.fail("%s needs a type name", tok)
				return
			}
			if tok == "-type" {
				reqType, typed[0] = val, true
			} else {
				respType, typed[1] = val, true
			}
			rest = after2
			continue
		}
		break
	}
	cmd, sub, input, err := parseRoute(rest)
	if err != nil {
		con.fail("%v; usage: call [-type T] [-resp T] CMD SUB [INPUT]", err)
		return
	}
	void := false
	if r, ok := con.book.routes[wire.Merge(cmd, sub)]; ok {
		if !typed[0] {
			reqType = r.Req
		}
		if !typed[1] {
			respType = r.Resp
		}
		void = r.Void
	}
	c := con.client()
	if c == nil {
		return
	}
	data, err := con.book.encode(c.Codec(), reqType, input)
	if err != nil {
		con.fail("request %d-%d: %v", cmd, sub, err)
		return
	}
	wait := con.timeout
	if void {
		// A void route answers errors only: wait briefly for one.
		wait = min(wait, voidWait)
	}
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	began := time.Now()
	resp, err := c.Request(rctx, cmd, sub, data)
	took := fmtDur(time.Since(began))
	if void && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		con.printf("%d-%d sent (a void route: no response on success)\n", cmd, sub)
		return
	}
	if err != nil {
		con.fail("%d-%d: %v", cmd, sub, err)
		return
	}
	if resp.Status != 0 {
		con.failed = true
		con.printf("%d-%d error %d in %s: %s\n", cmd, sub, resp.Status, took, resp.ValidMsg)
		return
	}
	con.printf("%d-%d ok in %s: %s\n", cmd, sub, took, con.book.decode(c.Codec(), respType, resp.Data))
}

// nextToken splits off the first space-separated token of s.
func nextToken(s string) (tok, rest string) {
	s = strings.TrimSpace(s)
	tok, rest, _ = strings.Cut(s, " ")
	return tok, strings.TrimSpace(rest)
}

// parseRoute reads "CMD SUB [INPUT]" or "CMD-SUB [INPUT]".
func parseRoute(s string) (cmd, sub int32, input string, err error) {
	first, rest := nextToken(s)
	var cs, ss string
	if a, b, ok := strings.Cut(first, "-"); ok && a != "" {
		cs, ss, input = a, b, rest
	} else {
		cs = first
		ss, input = nextToken(rest)
	}
	c, err1 := strconv.ParseInt(cs, 10, 16)
	u, err2 := strconv.ParseUint(ss, 10, 16)
	if err1 != nil || err2 != nil || c < 0 {
		return 0, 0, "", fmt.Errorf("bad route %q", strings.TrimSpace(cs+" "+ss))
	}
	return int32(c), int32(u), input, nil
}

// completer completes commands and, after call, the known routes.
func (con *console) completer() readline.AutoCompleter {
	routes := func(string) []string {
		var out []string
		for _, r := range con.book.sorted() {
			out = append(out, fmt.Sprintf("%d %d", r.Cmd, r.Sub))
		}
		return out
	}
	return readline.NewPrefixCompleter(
		readline.PcItem("connect"),
		readline.PcItem("close"),
		readline.PcItem("login"),
		readline.PcItem("routes"),
		readline.PcItem("call", readline.PcItem("-type"), readline.PcItem("-resp"), readline.PcItemDynamic(routes)),
		readline.PcItem("heartbeat"),
		readline.PcItem("history"),
		readline.PcItem("help"),
		readline.PcItem("quit"),
	)
}
