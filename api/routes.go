package api

import "github.com/gin-gonic/gin"

// routes registers every route. openapi.json documents each of them; a
// test compares the two lists.
func (h *handlers) routes(e *gin.Engine) {
	e.Use(h.recovery, h.logRequests, h.measure, h.watchBroker)
	e.Use(h.rateLimit)
	if h.o.maxInFlight > 0 {
		e.Use(h.shedder(h.o.maxInFlight))
	}

	// Public: probes and the API description.
	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	e.GET("/openapi.json", h.openAPI)
	e.GET("/docs", h.docs)

	// Everything else may require the bearer token.
	a := e.Group("/", h.authenticate, h.limitBody)
	a.GET("/metrics", h.metricsHandler)

	// The original FastAPI endpoints, unchanged.
	a.GET("/run-task/", h.runTask)
	a.GET("/task-status/:task_id", h.taskStatus)

	v1 := a.Group("/api/v1")
	v1.POST("/tasks/:task", h.sendTask)
	v1.GET("/tasks/:task", h.getTask)
	v1.DELETE("/tasks/:task", h.revokeTask)
	v1.GET("/tasks/:task/events", h.taskEvents)
	v1.GET("/queues", h.queues)
	v1.GET("/queues/:name/messages", h.listMessages)
	v1.DELETE("/queues/:name/messages", h.purgeMessages)
	v1.DELETE("/queues/:name/messages/:task_id", h.removeMessage)
	v1.POST("/queues/:name/move", h.moveMessages)
	v1.POST("/queues/:name/pause", h.pauseQueue)
	v1.POST("/queues/:name/resume", h.resumeQueue)
	v1.GET("/archive", h.listArchive)
	v1.POST("/archive/:task_id/requeue", h.requeueArchived)
	v1.DELETE("/archive/:task_id", h.deleteArchived)
	v1.GET("/workers", h.listWorkers)

	e.NoRoute(h.authenticate, h.notFound)
	e.NoMethod(h.notAllowed)
}
