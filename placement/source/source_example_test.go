package source_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

func ExampleNewFile() {
	dir, err := os.MkdirTemp("", "cellkit-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "map.json")

	// The control plane publishes version 1, replacing the file atomically.
	publish := func(document string) {
		m, err := placement.Parse([]byte(document))
		if err != nil {
			panic(err)
		}
		if err := source.SaveFile(path, m); err != nil {
			panic(err)
		}
	}
	publish(`{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}]}`)

	src, err := source.NewFile(path, source.FileConfig{Interval: time.Minute})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := src.Next(ctx) // the first poll is at once
	if err != nil {
		panic(err)
	}
	fmt.Printf("version %d, %d cells\n", m.Version(), len(m.Cells()))

	// Version 2 adds a cell; a client that hears of it early (a cell
	// replied that a key moved) does not wait a minute: it calls Refresh.
	publish(`{"version": 2, "cells": [{"id": "c1"}, {"id": "c2"}, {"id": "c3"}]}`)
	src.Refresh()
	if m, err = src.Next(ctx); err != nil {
		panic(err)
	}
	fmt.Printf("version %d, %d cells\n", m.Version(), len(m.Cells()))
	// Output:
	// version 1, 2 cells
	// version 2, 3 cells
}

func ExampleNewHTTP() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}]}`)
	}))
	defer srv.Close()

	src, err := source.NewHTTP(srv.URL+"/map.json", source.HTTPConfig{Interval: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A client refuses traffic until it has a first map. Errors other than
	// ctx's are reports: log them and call Next again, which waits for the
	// next poll.
	var current *placement.Map
	for current == nil {
		m, err := src.Next(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			fmt.Println("report:", err)
			continue
		}
		current = m
	}
	fmt.Println("ready with version", current.Version())

	// Later polls get 304 Not Modified: nothing to deliver or report.
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	_, err = src.Next(short)
	fmt.Println("nothing new:", errors.Is(err, context.DeadlineExceeded))
	// Output:
	// ready with version 1
	// nothing new: true
}

func ExampleLoadFile() {
	dir, err := os.MkdirTemp("", "cellkit-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	lkg := filepath.Join(dir, "last-known-good.json")

	// A client saves each map it accepts ...
	m, err := placement.Parse([]byte(`{"version": 7, "cells": [{"id": "c1"}]}`))
	if err != nil {
		panic(err)
	}
	if err := source.SaveFile(lkg, m); err != nil {
		panic(err)
	}

	// ... and, restarting while the control plane is down, starts from it.
	m, err = source.LoadFile(lkg, placement.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println("serving version", m.Version())

	// Output:
	// serving version 7
}

// A control plane in a few lines (a Follower of the file it edits, served
// by a Handler), and a process that follows it: it starts from its
// last-known-good file with the control plane's version 6 lagging behind,
// refuses that older version, and takes version 8 once it is published.
func ExampleFollower() {
	dir, err := os.MkdirTemp("", "cellkit-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	publish := func(path, document string) {
		m, err := placement.Parse([]byte(document))
		if err != nil {
			panic(err)
		}
		if err := source.SaveFile(path, m); err != nil {
			panic(err)
		}
	}

	// The control plane.
	published := filepath.Join(dir, "published.json")
	publish(published, `{"version": 6, "cells": [{"id": "c1"}]}`)
	file, err := source.NewFile(published, source.FileConfig{Interval: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	cp, err := source.NewFollower(source.FollowerConfig{Source: file, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	go cp.Run(ctx)
	<-cp.Ready() // the control plane serves a map before the process asks
	srv := httptest.NewServer(source.NewHandler(cp))
	defer srv.Close()

	// The process, with version 7 in its last-known-good file.
	lkg := filepath.Join(dir, "last-good.json")
	publish(lkg, `{"version": 7, "cells": [{"id": "c1"}]}`)
	src, err := source.NewHTTP(srv.URL, source.HTTPConfig{Interval: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	updates := make(chan source.Update, 16)
	f, err := source.NewFollower(source.FollowerConfig{
		Source: src, LastGood: lkg, Logger: slog.New(slog.DiscardHandler),
		OnUpdate: func(u source.Update) { updates <- u },
	})
	if err != nil {
		panic(err)
	}
	go f.Run(ctx)
	for range 2 {
		u := <-updates
		fmt.Printf("version %d from %s: accepted %v, stale %v\n", u.Version, u.Origin, u.Accepted, errors.Is(u.Err, source.ErrStaleVersion))
	}

	publish(published, `{"version": 8, "cells": [{"id": "c1"}, {"id": "c2"}]}`)
	m, err := f.Await(ctx, 8)
	if err != nil {
		panic(err)
	}
	fmt.Println("in force:", m.Version(), len(m.Cells()), "cells")
	// Output:
	// version 7 from last-good: accepted true, stale false
	// version 6 from source: accepted false, stale true
	// in force: 8 2 cells
}
