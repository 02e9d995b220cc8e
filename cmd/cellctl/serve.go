package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

var serveCmd = &command{
	name:    "serve",
	args:    "[--addr A] [--ready FILE] [--poll D] [--idle-timeout D] [--public-key PUB]... FILE",
	summary: "serve a map over HTTP for the HTTP source, reloading on change",
	help: `Serve is a development control plane: it serves the map FILE over HTTP at
/ and /NAME (NAME being FILE's base name) the way the HTTP source reads it,
with placement/source's Handler: a strong ETag (a 304 for a matching
If-None-Match), HEAD, Cache-Control: no-cache and, for a map whose
signature in FILE.sig verified with --public-key, the signature in the
Cellkit-Signature header.

A source.Follower follows FILE with the file source, polling every --poll:
a new document that does not parse, fails the signature check (with
--public-key) or does not increase the version is refused, logged once on
standard error, and the last good map stays served. Requests never touch
the file: a FIFO or a slow disk at FILE cannot hold them, and the document's
bytes and ETag are computed once per map, not per request. Idle
connections are closed after --idle-timeout. Publish to the file with
'cellctl publish --to file:FILE'.

It prints the address it listens on ('serving vN at http://HOST:PORT/'),
writes the URL to --ready FILE once listening (for scripts: use port 0 and
read it there), and stops cleanly on SIGINT or SIGTERM.`,
	examples: `cellctl serve --addr 127.0.0.1:8080 /srv/placement/map.json
cellctl serve --addr 127.0.0.1:0 --ready url.txt map.json &
cellctl get --from "$(cat url.txt)"`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var d docFlags
		d.register(fs, true)
		var c serveConfig
		fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen on `A` (host:port; port 0 picks a free one)")
		fs.StringVar(&c.ready, "ready", "", "write the URL to `FILE` once listening")
		fs.DurationVar(&c.poll, "poll", time.Second, "look for a new FILE every `D`")
		fs.DurationVar(&c.idle, "idle-timeout", 30*time.Second, "close a connection idle for `D`")
		return func(e *env, args []string) error {
			if len(args) != 1 {
				return usagef("serve needs one map FILE")
			}
			if c.poll <= 0 || c.idle <= 0 {
				return usagef("serve: --poll and --idle-timeout must be positive")
			}
			opt, err := d.options()
			if err != nil {
				return err
			}
			c.path, c.opt = args[0], opt
			return serve(e, c)
		}
	},
}

type serveConfig struct {
	path        string
	opt         placement.Options
	addr, ready string
	poll, idle  time.Duration
}

// serve runs a Follower of the file and serves its map through a
// source.Handler until e.ctx is done.
func serve(e *env, c serveConfig) error {
	file, err := source.NewFile(c.path, source.FileConfig{Interval: c.poll})
	if err != nil {
		return err
	}
	// Until the first map is in force, an error of the source ends serve:
	// a file that is missing, not regular or refused is the operator's to
	// fix before anything is served.
	first := make(chan error, 1)
	ready := false
	f, err := source.NewFollower(source.FollowerConfig{
		Source:  file,
		Options: c.opt,
		Logger:  slog.New(slog.DiscardHandler), // OnUpdate says it in cellctl's words
		OnUpdate: func(u source.Update) {
			switch {
			case !ready && u.Accepted:
				ready = true
			case !ready:
				select {
				case first <- u.Err:
				default:
				}
			case u.Accepted:
				fmt.Fprintf(e.stderr, "serve: now serving v%d\n", u.Version)
			case u.Err != nil:
				fmt.Fprintf(e.stderr, "serve: keeping v%d: %v\n", u.Previous, u.Err)
			}
		},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(e.ctx)
	ran := make(chan struct{})
	defer func() { cancel(); <-ran }() // OnUpdate writes to e.stderr: stop it first
	go func() {
		defer close(ran)
		f.Run(ctx)
	}()
	select {
	case <-f.Ready():
	case err := <-first:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String() + "/"
	srv := &http.Server{
		Handler:           serveMux(c.path, source.NewHandler(f)),
		ReadHeaderTimeout: 10 * time.Second,
		// Without it a client that keeps connections alive (every HTTP
		// source does) holds them forever.
		IdleTimeout: c.idle,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(e.stdout, "serving v%d at %s\n", f.Map().Version(), url)
	if c.ready != "" {
		if err := writeFile(c.ready, []byte(url+"\n")); err != nil {
			srv.Close()
			return err
		}
	}
	select {
	case err := <-done:
		return err
	case <-e.ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "stopped\n")
	return nil
}

// serveMux answers at / and /NAME with h, and 404 elsewhere.
func serveMux(path string, h http.Handler) http.Handler {
	name := "/" + filepath.Base(path)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != name {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
