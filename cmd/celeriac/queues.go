package main

import (
	"fmt"
	"io"

	"github.com/celeriac/celeriac/celery"
)

// checkQueues refuses a queue flag (a comma-separated list) that names a
// queue celery.ValidateQueue refuses, a key of the transport or the result
// backend, say: one line on stderr and errUsage (exit 2).
func checkQueues(stderr io.Writer, cmd, flagName, list string) error {
	for _, q := range splitList(list) {
		if err := celery.ValidateQueue(q); err != nil {
			fmt.Fprintf(stderr, "celeriac %s: %s: %v\n", cmd, flagName, err)
			return errUsage
		}
	}
	return nil
}
