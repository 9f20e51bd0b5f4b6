package store_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/store"
)

// Example opens a bucket on an in-process broker, creates a record that
// must not exist yet, and changes it with store.Update.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.New(broker.Config{DontListen: true})
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer b.Shutdown(ctx)
	nc, err := b.InProcessConn()
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}

	accounts, err := store.NewJetStream(js).Open(ctx, store.Bucket{Name: "example_accounts"})
	if err != nil {
		log.Fatal(err)
	}
	key := "account." + store.Token("Zoë the Brave")
	if _, err := accounts.Create(ctx, key, []byte("0")); err != nil {
		log.Fatal(err)
	}
	_, err = accounts.Create(ctx, key, []byte("0"))
	fmt.Println("second create:", errors.Is(err, store.ErrExists))

	for range 3 {
		_, err := store.Update(ctx, accounts, key, func(cur []byte, exists bool) ([]byte, error) {
			n, err := strconv.Atoi(string(cur))
			return []byte(strconv.Itoa(n + 10)), err
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	e, err := accounts.Get(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	name, _ := store.ParseToken(e.Key[len("account."):])
	fmt.Printf("%s: %s\n", name, e.Value)
	// Output:
	// second create: true
	// Zoë the Brave: 30
}

func ExampleToken() {
	key := "guild." + store.Token("Knights of Ni!") + ".member.7"
	fmt.Println(key, store.ValidKey(key))
	name, _ := store.ParseToken("S25pZ2h0cyBvZiBOaSE")
	fmt.Println(name)
	// Output:
	// guild.S25pZ2h0cyBvZiBOaSE.member.7 true
	// Knights of Ni!
}
