package external_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/iogo-dev/iogo/pkg/external"
)

// A gate on the internet: TLS from certificate files, and WebSocket
// upgrades admitted only with a token a login service signed.
func ExampleConfig_tls() {
	secret := []byte("shared with the login service")
	srv, err := external.New(external.Config{
		WSAddr:      ":443",
		TCPAddr:     ":10200",
		TLSCertFile: "/etc/iogo/gate.pem",
		TLSKeyFile:  "/etc/iogo/gate.key",
		Authorize:   external.HMACToken(secret, time.Now),
	})
	if err != nil {
		log.Print(err)
		return
	}
	_ = srv // srv.Run(ctx)
}

// The login service signs a token; the gate admits its bearer and starts
// the session with its claims as attributes.
func ExampleSignToken() {
	secret := []byte("k")
	now := time.Unix(1_800_000_000, 0)
	token := external.SignToken(secret, map[string]string{"user": "42"}, now.Add(time.Hour))

	authorize := external.HMACToken(secret, func() time.Time { return now })
	r := &external.UpgradeRequest{Query: url.Values{"token": {token}}, Header: http.Header{}}
	attrs, err := authorize(context.Background(), r)
	fmt.Println(attrs, err)

	r.Query.Set("token", token+"x")
	_, err = authorize(context.Background(), r)
	fmt.Println(err)
	// Output:
	// map[user:42] <nil>
	// external: upgrade refused: 401 invalid token
}

// A region action every gate serves, which logic servers call with
// logic.RegionCall, RegionCallUser or RegionCallAll.
func ExampleHandleRegion() {
	regions := external.NewRegions()
	const bizLoad int32 = 1
	external.HandleRegion(regions, bizLoad, func(ctx context.Context, _ string) (string, error) {
		gate := external.RegionGate(ctx)
		return gate.ID() + " holds " + strconv.Itoa(gate.Sessions()) + " sessions", nil
	})
	srv, err := external.New(external.Config{WSAddr: ":10100", Regions: regions})
	if err != nil {
		log.Print(err)
		return
	}
	_ = srv // srv.Run(ctx)
}
