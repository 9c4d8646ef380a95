// Command rabbitnode runs a private RabbitMQ node for bench/run.sh (see
// internal/rabbittest): it boots the node, prints its amqp:// URL (the
// default vhost, as guest) on one line, and stops the node and removes
// its files on SIGTERM or SIGINT. If rabbitnode itself dies, the kernel
// kills the node (Pdeathsig).
//
// With -tls the node also has an AMQPS listener that wants a client
// certificate (rabbittest.WithTLS), and a second line gives its amqps://
// URL with the CA and the client certificate in kombu's ssl_ options.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/celeriac/celeriac/internal/rabbittest"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	withTLS := flag.Bool("tls", false, "add an AMQPS listener and print its URL on a second line")
	flag.Parse()
	var opts []rabbittest.Option
	if *withTLS {
		opts = append(opts, rabbittest.WithTLS())
	}
	node, err := rabbittest.New(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rabbitnode:", err)
		return 1
	}
	defer node.Close()
	fmt.Println(node.URL("/"))
	if *withTLS {
		fmt.Println(node.TLSURL("/"))
	}
	<-ctx.Done()
	return 0
}
