package beat

import (
	"fmt"

	"github.com/celeriac/celeriac/celery"
)

// WithRoutes routes the entries that name no queue as Celery's
// task_routes does: to their task's route's queue. Beat sends to queues
// only, so New refuses a route it would apply that goes through an
// exchange or to a topic or broadcast queue. Default none.
func WithRoutes(r *celery.Routes) Option { return func(o *options) { o.routes = r } }

// routedQueue returns the queue of task's route ("" when none applies).
func (o *options) routedQueue(task string) string {
	if o.routes == nil {
		return ""
	}
	rt, ok := o.routes.Route(task)
	if !ok {
		return ""
	}
	return rt.Queue
}

// checkRoutes refuses the routes of entries that name no queue when
// they lead anywhere but to a plain queue.
func (o *options) checkRoutes(entries []Entry) error {
	if o.routes == nil {
		return nil
	}
	for _, e := range entries {
		if e.Queue != "" {
			continue
		}
		rt, ok := o.routes.Route(e.Task)
		if !ok {
			continue
		}
		q, declared := o.routes.QueueSpec(rt.Queue)
		switch {
		case rt.Exchange != "" || (rt.ExchangeType != "" && rt.ExchangeType != celery.ExchangeDirect):
			return fmt.Errorf("beat: entry %q: the route of %s goes through an exchange; beat sends to queues only (give the entry a queue)", e.Name, e.Task)
		case declared && q.ExchangeType != celery.ExchangeDirect:
			return fmt.Errorf("beat: entry %q: the route of %s leads to %s queue %s; beat sends to plain queues only (give the entry a queue)", e.Name, e.Task, q.ExchangeType, q.Name)
		}
	}
	return nil
}
