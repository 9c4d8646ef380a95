package main

import (
	"github.com/celeriac/celeriac/celery"
)

// checkQueues refuses a queue flag's list that names a queue
// celery.ValidateQueue refuses (a key of the transport or the result
// backend, say) with a usage error (exit 2).
func checkQueues(flagName string, queues []string) error {
	for _, q := range queues {
		if err := celery.ValidateQueue(q); err != nil {
			return usagef("%s: %v", flagName, err)
		}
	}
	return nil
}
