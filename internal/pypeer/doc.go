// Package pypeer runs the Python Celery peers of the integration tests:
// real Celery 5.7 workers and the small client CLI in integration/pyapp.
//
// The interpreter is $CELERIAC_PYTHON, or else <repo>/.venv/bin/python,
// where <repo> is the directory holding go.mod (found by walking up from
// the working directory). The virtualenv is made by `make venv` from
// integration/requirements.txt. A missing interpreter, or one that cannot
// import celery, fails the test with a hint to run `make venv`; the
// Python side of the tests is never skipped.
//
// Every peer runs with its working directory in integration/pyapp, with
// CELERY_BROKER_URL and CELERY_RESULT_BACKEND (default: the broker URL)
// set, and with any CELERY_* or CELERIAC_* variables of the test process
// removed, so only the options the test chose reach tasks.py.
//
// A worker:
//
//	srv := redistest.Start(t)
//	w := pypeer.StartWorker(t, srv.URL(0), pypeer.WithQueues("celery", "other"))
//
// StartWorker returns once the worker has logged "<node> ready." (at most
// 60 s) and stops it when the test ends: SIGTERM (warm shutdown), then
// SIGKILL of its process group after 15 s. Its output goes to a file in
// t.TempDir() and is logged if the test failed. Worker.Kill simulates a
// crash.
//
// The client (integration/pyapp/client.py; see its docstring for the
// subcommands), or any other script in integration/pyapp:
//
//	var sent struct{ ID string `json:"id"` }
//	pypeer.RunJSON(t, srv.URL(0), &sent, "client.py", "send", "tasks.add", "--args", "[2,3]")
//
// Run and RunJSON fail the test on a non-zero exit (showing stderr) or
// after 120 s; Cmd adds standard input, extra environment, another result
// backend or timeout, and Cmd.Output runs a script that is expected to fail.
//
// The package keeps no global mutable state. Functions that take a
// testing.TB must be called from the test's goroutine; Worker's methods
// are safe for concurrent use.
package pypeer
