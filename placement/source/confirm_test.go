package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
)

// TestConfirmHandler checks the reply of a cell's ConfirmHandler before
// and after a map, and its methods.
func TestConfirmHandler(t *testing.T) {
	synctest := func(f *Follower) (int, Confirmation, http.Header) {
		rec := httptest.NewRecorder()
		ConfirmHandler("c1", f).ServeHTTP(rec, httptest.NewRequest("GET", ConfirmedPath, nil))
		var c Confirmation
		if rec.Code == http.StatusOK {
			if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
				t.Fatalf("reply %q: %v", rec.Body, err)
			}
		}
		return rec.Code, c, rec.Header()
	}
	f, err := NewFollower(FollowerConfig{Source: newScript()})
	if err != nil {
		t.Fatal(err)
	}
	if code, c, h := synctest(f); code != 200 || c != (Confirmation{Cell: "c1"}) || h.Get("Cache-Control") != "no-store" {
		t.Errorf("before a map: %d %+v %v", code, c, h)
	}
	f.swap(srcMap(t, 4))
	f.confirm()
	j := f.Judge()
	f.swap(srcMap(t, 5))
	if code, c, _ := synctest(f); code != 200 || c != (Confirmation{Cell: "c1", Version: 5, Confirmed: 4}) {
		t.Errorf("a request on 4 running, 5 in force: %d %+v", code, c)
	}
	j.Done()
	if _, c, _ := synctest(f); c != (Confirmation{Cell: "c1", Version: 5, Confirmed: 5}) {
		t.Errorf("no request running: %+v", c)
	}
	rec := httptest.NewRecorder()
	ConfirmHandler("c1", f).ServeHTTP(rec, httptest.NewRequest("PUT", ConfirmedPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d; want 405", rec.Code)
	}
}

// TestHTTPConfirmer checks what counts as a confirmation: every endpoint
// of the cell, answering for that cell, at least the version; and that the
// error at the end names each cell that has not confirmed, with why.
func TestHTTPConfirmer(t *testing.T) {
	behindAsked := make(chan struct{}, 100)
	answer := func(body string, status int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(body, `"behind"`) {
				select {
				case behindAsked <- struct{}{}:
				default:
				}
			}
			if r.URL.Path != ConfirmedPath || r.Header.Get("Authorization") != "Bearer x" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	conf := func(cell string, v uint64) string {
		return fmt.Sprintf(`{"cell": %q, "version": %d, "confirmed": %d}`, cell, v, v)
	}
	ok1, ok1b := answer(conf("ok", 7), 200), answer(conf("ok", 8), 200)
	behind := answer(conf("behind", 6), 200)
	half, halfBad := answer(conf("half", 7), 200), answer(conf("half", 3), 200)
	other := answer(conf("someone-else", 9), 200)
	garbage := answer("<html>", 200)
	failing := answer("oops", 500)
	huge := answer(`{"cell": "huge", "pad": "`+strings.Repeat("x", 2000)+`"}`, 200)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	cell := func(id string, srvs ...string) string {
		var eps []string
		for _, s := range srvs {
			eps = append(eps, fmt.Sprintf(`{"url": %q}`, s))
		}
		return fmt.Sprintf(`{"id": %q, "endpoints": [%s]}`, id, strings.Join(eps, ", "))
	}
	doc := fmt.Sprintf(`{"version": 7, "cells": [%s]}`, strings.Join([]string{
		cell("ok", ok1.URL, ok1b.URL), cell("behind", behind.URL), cell("half", half.URL, halfBad.URL),
		cell("other", other.URL), cell("garbage", garbage.URL), cell("failing", failing.URL),
		cell("huge", huge.URL), cell("down", down.URL), cell("none"),
		`{"id": "off", "state": "disabled", "endpoints": [{"url": "http://off.invalid"}]}`,
	}, ", "))
	m := mapOf(t, []byte(doc))
	c, err := NewHTTPConfirmer(Fixed(m), HTTPConfirmerConfig{Interval: time.Millisecond, Header: http.Header{"Authorization": {"Bearer x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AwaitConfirmed(t.Context(), 7, []string{"ok"}); err != nil {
		t.Fatalf("AwaitConfirmed(ok) = %v", err)
	}
	// End the wait once a round is over: the second time the cell behind
	// is asked.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		<-behindAsked
		<-behindAsked
		cancel()
	}()
	err = c.AwaitConfirmed(ctx, 7, nil)
	var nc *NotConfirmedError
	if !errors.As(err, &nc) || !errors.Is(err, ErrNotConfirmed) || !errors.Is(err, context.Canceled) {
		t.Fatalf("AwaitConfirmed(all) = %v; want a NotConfirmedError", err)
	}
	want := []string{"behind", "down", "failing", "garbage", "half", "huge", "none", "other"}
	if !slices.Equal(nc.Cells, want) {
		t.Errorf("not confirmed: %v; want %v (not ok, not the disabled off)", nc.Cells, want)
	}
	for cell, why := range map[string]string{"behind": "confirmed 6", "half": "confirmed 3", "other": `answers for cell "someone-else"`,
		"garbage": "not a confirmation", "failing": "status 500", "huge": "more than", "none": "no endpoint"} {
		if e := nc.Causes[cell]; e == nil || !strings.Contains(e.Error(), why) {
			t.Errorf("cause for %s: %v; want it to say %q", cell, e, why)
		}
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "source: 8 cell(s) have not confirmed map version 7: behind (") {
		t.Errorf("message %q", msg)
	}
	for _, cfg := range []HTTPConfirmerConfig{{Interval: -1}, {Timeout: -1}, {Path: "confirmed"}} {
		if _, err := NewHTTPConfirmer(Fixed(m), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("NewHTTPConfirmer(%+v) = %v; want ErrConfig", cfg, err)
		}
	}
	if _, err := NewHTTPConfirmer(nil, HTTPConfirmerConfig{}); !errors.Is(err, ErrConfig) {
		t.Errorf("NewHTTPConfirmer(nil) = %v; want ErrConfig", err)
	}
	var none *placement.Map
	if err := (&HTTPConfirmer{maps: Fixed(none), cfg: c.cfg}).AwaitConfirmed(t.Context(), 1, nil); err != nil {
		t.Errorf("no map, no cells: %v; want nil", err)
	}
}
