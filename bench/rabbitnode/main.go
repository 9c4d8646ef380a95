// Command rabbitnode runs a private RabbitMQ node for bench/run.sh (see
// internal/rabbittest): it boots the node, prints its amqp:// URL (the
// default vhost, as guest) on one line, and stops the node and removes
// its files on SIGTERM or SIGINT. If rabbitnode itself dies, the kernel
// kills the node (Pdeathsig).
package main

import (
	"context"
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
	node, err := rabbittest.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rabbitnode:", err)
		return 1
	}
	defer node.Close()
	fmt.Println(node.URL("/"))
	<-ctx.Done()
	return 0
}
