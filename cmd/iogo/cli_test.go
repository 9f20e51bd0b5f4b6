package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/wire"
)

// TestCLICommand drives the console in-process through a pipe, as a
// person types: every command answered, a push printed, exit 0.
func TestCLICommand(t *testing.T) {
	urls := devUp(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	exited := make(chan int, 1)
	go func() {
		exited <- runCLI(context.Background(), []string{"-url", urls["ws"] + "?codec=json", "-history", ""}, none, inR, outW, io.Discard)
		outW.Close()
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	expect := func(re string) []string {
		t.Helper()
		rx := regexp.MustCompile(re)
		deadline := time.NewTimer(10 * time.Second)
		defer deadline.Stop()
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("output ended before %q:\n%s", re, strings.Join(seen, "\n"))
				}
				seen = append(seen, line)
				if m := rx.FindStringSubmatch(line); m != nil {
					return m
				}
			case <-deadline.C:
				t.Fatalf("no %q:\n%s", re, strings.Join(seen, "\n"))
			}
		}
	}
	say := func(s string) {
		t.Helper()
		if _, err := io.WriteString(inW, s+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	expect(`^connected to .* \(codec json\)$`)
	say("routes")
	expect(`^bundled routes`)
	expect(`^2-4\s+demo\s+public\s+iogo\.demo\.EchoMsg\s+\(void\)`)
	expect(`^  2-5  iogo\.demo\.EchoMsg$`)
	say("login dev-cli")
	id := expect(`^logged in: user (\d+), nickname "guest"$`)[1]
	say("call 1-1")
	expect(fmt.Sprintf(`^1-1 ok in .*: \{"id":"%s"`, id))
	say(`call -type iogo.demo.HelloReq -resp iogo.demo.HelloResp 2 0 {"name":"x"}`)
	expect(`^2-0 ok in .*: \{"text":"hello, x"\}$`)
	say(`call 2 4 {"text":"all"}`)
	expect(`^push 2-5: \{"text":"all"\}$`)
	say("heartbeat")
	expect(`^heartbeat answered in `)
	say("history")
	expect(`^\s+6  heartbeat$`)
	say("quit")
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, strings.Join(seen, "\n"))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("console did not quit")
	}
	inW.Close()
}

func TestCLIScriptErrors(t *testing.T) {
	var out strings.Builder
	script := "bogus\ncall 2 1\nlogin\nconnect tcp://127.0.0.1:1\n"
	code := runCLI(context.Background(), []string{"-url", "", "-history", ""}, none, strings.NewReader(script), &out, io.Discard)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{`unknown command "bogus"`, "not connected", "usage: login", "dial tcp://127.0.0.1:1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if code := runCLI(context.Background(), []string{"-nope"}, none, strings.NewReader(""), io.Discard, io.Discard); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
}

func TestParseRoute(t *testing.T) {
	tests := []struct {
		in       string
		cmd, sub int32
		input    string
		wantErr  bool
	}{
		{"2 1", 2, 1, "", false},
		{`2 1 {"a": 1}`, 2, 1, `{"a": 1}`, false},
		{"2-1 [1, 2]", 2, 1, "[1, 2]", false},
		{"2-1", 2, 1, "", false},
		{"x 1", 0, 0, "", true},
		{"2", 0, 0, "", true},
		{"-1 2", 0, 0, "", true},
		{"40000 1", 0, 0, "", true},
		{"1 70000", 0, 0, "", true},
	}
	for _, tt := range tests {
		cmd, sub, input, err := parseRoute(tt.in)
		if (err != nil) != tt.wantErr || err == nil && (cmd != tt.cmd || sub != tt.sub || input != tt.input) {
			t.Errorf("parseRoute(%q) = %d %d %q %v", tt.in, cmd, sub, input, err)
		}
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	book := bundledBook()
	tests := []struct {
		name, typ, in, out string
	}{
		{"message", "iogo.demo.EchoMsg", `{"text":"a","seq":2}`, `{"text":"a","seq":"2"}`},
		{"long", "iohao.LongValue", "42", "42"},
		{"long list", "iohao.LongValueList", "[1,2]", "[1,2]"},
		{"int", "iohao.IntValue", "-7", "-7"},
		{"zero int", "iohao.IntValue", "0", "0"},
		{"bool", "iohao.BoolValue", "true", "true"},
		{"bare string", "iohao.StringValue", "hello", `"hello"`},
		{"quoted string", "iohao.StringValue", `"hi there"`, `"hi there"`},
		{"wrapped object", "iohao.LongValue", `{"value":"9"}`, "9"},
		{"message list", "iohao.ByteValueList<iogo.demo.EchoMsg>", `[{"text":"x"},{"seq":1}]`, `[{"text":"x"},{"seq":"1"}]`},
		{"raw text", "", "abc", "(3 bytes) hex:616263"},
		{"raw hex", "bytes", "hex:00ff", "(2 bytes) hex:00ff"},
	}
	for _, codec := range []wire.Codec{wire.Protobuf{}, wire.JSON{}} {
		for _, tt := range tests {
			t.Run(codec.Name()+"/"+tt.name, func(t *testing.T) {
				data, err := book.encode(codec, tt.typ, tt.in)
				if err != nil {
					t.Fatal(err)
				}
				if got := book.decode(codec, tt.typ, data); got != tt.out {
					t.Fatalf("got %s, want %s", got, tt.out)
				}
			})
		}
	}
	for _, bad := range [][2]string{{"iogo.demo.EchoMsg", "{nope"}, {"no.such.Type", "{}"}, {"", "hex:zz"}, {"iohao.ByteValueList<iogo.demo.EchoMsg>", "{}"}} {
		if _, err := book.encode(wire.Protobuf{}, bad[0], bad[1]); err == nil {
			t.Errorf("encode(%q, %q) succeeded", bad[0], bad[1])
		}
	}
	if got := book.decode(wire.Protobuf{}, "iogo.demo.EchoMsg", []byte{0xff}); !strings.Contains(got, "hex:ff") {
		t.Errorf("undecodable payload shown as %q", got)
	}
}

func TestBundledBook(t *testing.T) {
	b := bundledBook()
	r, ok := b.routes[wire.Merge(1, 0)]
	if !ok || r.Req != "iogo.login.GuestLogin" || r.Service != "login" || r.Effective().String() != "public" {
		t.Fatalf("login route %+v", r)
	}
	if len(b.sorted()) < 6 || b.sorted()[0].Merge() != wire.Merge(1, 0) {
		t.Fatalf("sorted routes %+v", b.sorted())
	}
	if b.pushes[wire.Merge(2, 5)] != "iogo.demo.EchoMsg" {
		t.Fatalf("pushes %v", b.pushes)
	}
}
