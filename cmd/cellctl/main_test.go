package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain makes the test binary the cellctl command of the scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"cellctl": main})
}

// TestScripts runs testdata/script/*.txtar. Besides testscript's commands:
//
//	exits N PROG ARGS...   run PROG and check that its exit status is N
//	waitfile FILE [VAR]    wait (up to 30s) for FILE to hold a line; set VAR to it
//	etcd VAR               start an etcd on loopback for the script; set VAR to host:port
//	waitversion URL V      wait (up to 30s) until URL serves a map of version V
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			// A race-enabled binary sleeps a second at exit by default, to
			// let reports from other threads finish; the scripts run
			// cellctl a few hundred times. Races still fail the command.
			e.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":       cmdExits,
			"waitfile":    cmdWaitFile,
			"etcd":        cmdEtcd,
			"waitversion": cmdWaitVersion,
		},
	})
}

func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N PROG ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with status %d; want %d", strings.Join(args[1:], " "), got, want)
	}
}

func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitfile FILE [VAR]")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if line, _, ok := strings.Cut(string(data), "\n"); err == nil && ok {
			if len(args) == 2 {
				ts.Setenv(args[1], line)
			}
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s: no line within 30s", args[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cmdWaitVersion(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitversion URL V")
	}
	want, err := strconv.ParseUint(args[1], 10, 64)
	ts.Check(err)
	c := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for {
		resp, err := c.Get(args[0])
		if err == nil {
			var doc struct{ Version uint64 }
			err = json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			if err == nil && doc.Version == want {
				return
			}
			last = fmt.Sprintf("v%d", doc.Version)
		}
		if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s does not serve v%d within 30s (last: %s)", args[0], want, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
