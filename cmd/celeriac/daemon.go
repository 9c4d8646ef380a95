package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// daemon holds the flags of the long-running commands (worker, serve,
// beat) that Celery's daemon commands share (celery/bin/base.py
// CeleryDaemonCommand): where the log goes and the pid file.
type daemon struct {
	logfile, pidfile string
}

func (d *daemon) register(fs *flagSet) {
	fs.String(&d.logfile, "f logfile", "", "append the log to this file instead of stderr")
	fs.String(&d.pidfile, "pidfile", "", "write the process id to this file, removed at exit; refused while it names a running process")
}

// setup parses the flags of a long-running command (no positional
// arguments), opens its log file and writes its pid file, and builds its
// logger; done undoes what it opened.
func setup(fs *flagSet, c *common, d *daemon, args []string, stdout, stderr io.Writer) (log *slog.Logger, done func(), err error) {
	if err := parse(fs, args, stdout); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	var closers []func()
	done = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	w := stderr
	if d.logfile != "" {
		f, err := os.OpenFile(d.logfile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("--logfile: %w", err)
		}
		closers = append(closers, func() { f.Close() })
		w = f
	}
	if d.pidfile != "" {
		if err := writePidfile(d.pidfile); err != nil {
			done()
			return nil, nil, fmt.Errorf("--pidfile: %w", err)
		}
		closers = append(closers, func() { os.Remove(d.pidfile) })
	}
	log = c.logger(w)
	if c.app != "" {
		log.Info("-A/--app is ignored: the Go binary runs the tasks compiled into it", "app", c.app)
	}
	return log, done, nil
}

// writePidfile creates path holding this process's id. A file naming a
// process that no longer runs is stale and replaced, as Celery's Pidfile
// does (celery/platforms.py); one naming a running process is an error.
func writePidfile(path string) error {
	for range 2 {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, err = fmt.Fprintf(f, "%d\n", os.Getpid())
			return errors.Join(err, f.Close())
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err == nil && pid > 0 && running(pid) {
			return fmt.Errorf("%s names process %d, which is running", path, pid)
		}
		if err := os.Remove(path); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s: could not replace a stale pid file", path)
}

// running reports whether process pid exists (one of another user's
// counts too).
func running(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
