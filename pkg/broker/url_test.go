package broker

import (
	"net"
	"testing"
)

func TestListenerURL(t *testing.T) {
	tests := []struct {
		name string
		addr net.Addr
		want string
	}{
		{"ipv4 wildcard", &net.TCPAddr{IP: net.IPv4zero, Port: 4222}, "nats://127.0.0.1:4222"},
		{"wildcard reported as ::", &net.TCPAddr{IP: net.IPv6unspecified, Port: 4222}, "nats://127.0.0.1:4222"},
		{"no ip", &net.TCPAddr{Port: 1}, "nats://127.0.0.1:1"},
		{"loopback", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5}, "nats://127.0.0.1:5"},
		{"ipv6 host", &net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 5}, "nats://[fe80::1]:5"},
		{"not tcp", &net.UDPAddr{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := listenerURL("nats", tt.addr); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
