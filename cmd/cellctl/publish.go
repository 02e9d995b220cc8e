package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

var publishCmd = &command{
	name:    "publish",
	args:    "--to TARGET [--expect V] [--await-confirmed] [--public-key PUB]... [--json] FILE",
	summary: "publish a map where clients read it, guarded against races",
	help: `Publish checks the map FILE strictly (and its signature, with --public-key)
and makes it the map in force at TARGET, with its signature file FILE.sig
when there is one. It refuses a version that does not increase on the one
in force. With --expect V it publishes only if the version in force is
exactly V (0: none yet), so that two operators who edited the same version
cannot both publish: the one who lost the race is told both versions.

Targets:
  file:PATH      PATH and PATH.sig, each replaced atomically (a temporary
                 file renamed over it), in the order that keeps them
                 verifiable together. A PATH (or PATH.sig) that is a
                 symbolic link is followed: the file it points to is
                 replaced, and the link keeps pointing at it (a link to
                 nothing is refused). An flock on PATH.lock (of the
                 link's target) serializes publishers; the kernel drops
                 it when a publisher dies, so it never goes stale, and
                 the next publish removes the temporary files that a
                 killed publisher left
  http-dir:DIR   DIR/map.json (+ .sig), the document a web server or
                 'cellctl serve DIR/map.json' serves, and a copy of each
                 version as DIR/vN.json (+ .sig)
  etcd:ENDPOINTS/PREFIX
                 the layout of placement/etcdsource under PREFIX on the etcd
                 cluster at ENDPOINTS (host:port, comma-separated), written
                 in one transaction that compares the stored version: a
                 publisher that got there between the read of the version and
                 the write loses the race, with both versions named

A target whose document cannot be parsed is refused unless --force.

With --await-confirmed, the next phase of a migration is published only
once every cell of each migration that FILE changes (its from and to
cells) has confirmed the version in force at TARGET: no request judged on
an older map still runs there. Each cell is asked at its endpoints in the
map in force (GET --confirm-path, placement/source.ConfirmHandler beside
the cell's Guard) until it confirms or --confirm-timeout passes; then
nothing is published and the error names the cells that have not
confirmed (source.ErrNotConfirmed). To an etcd target, or with
--confirm-via etcd:ENDPOINTS/PREFIX, the confirmations are read where the
cells write them in etcd (placement/etcdsource's ConfirmWriter) instead.
After the wait the publish expects the version that was confirmed, as
--expect does.`,
	examples: `cellctl publish --to file:/srv/placement/map.json v6.json
cellctl publish --to etcd:10.0.0.1:2379,10.0.0.2:2379/cellkit/placement/prod/ v6.json
cellctl publish --to http-dir:/srv/www/placement --expect 5 v6.json
cellctl publish --public-key control-plane.pub --to file:map.json v6.json
cellctl publish --await-confirmed --confirm-timeout 5m --to http-dir:/srv/www/placement v7.json`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var d docFlags
		d.register(fs, true)
		to := fs.String("to", "", "the `TARGET`: file:PATH, http-dir:DIR or etcd:ENDPOINTS/PREFIX (required)")
		var expect optUint
		fs.Var(&expect, "expect", "publish only if the version in force is `V` (0: none)")
		force := fs.Bool("force", false, "replace a target whose document cannot be parsed")
		lockWait := fs.Duration("lock-wait", 5*time.Second, "how long to wait for another publish to a file target")
		asJSON := fs.Bool("json", false, "print the result as JSON")
		var await awaitFlags
		await.register(fs)
		return func(e *env, args []string) error {
			if len(args) != 1 || *to == "" {
				return usagef("publish needs --to TARGET and one map FILE")
			}
			t, err := parseTarget(*to, false)
			if err != nil {
				return err
			}
			if ft, ok := t.(*fileTarget); ok {
				ft.lockWait = *lockWait
			}
			opt, err := d.options()
			if err != nil {
				return err
			}
			m, doc, sigs, err := loadDoc(args[0], opt)
			if err != nil {
				return err
			}
			if _, err := readSidecar(args[0] + sigSuffix); err != nil && !errors.Is(err, iofs.ErrNotExist) {
				return err // publishing it would make every client refuse the map
			}
			res := publishResult{Target: t.String(), Version: m.Version(), Signed: len(sigs) > 0}
			if await.on {
				prev, err := awaitedTarget(e, t, opt, &await, &expect, m)
				if err != nil {
					return err
				}
				res.Awaited = prev
			}
			check := func(cur uint64, found bool, curErr error) error {
				if curErr != nil && !*force {
					return fmt.Errorf("%s holds a document that does not parse (use --force to replace it): %w", t, curErr)
				}
				if found {
					res.Previous = cur
				}
				if expect.set && expect.v != cur {
					return &raceError{target: t.String(), expected: expect.v, found: cur, publishing: m.Version()}
				}
				if found && m.Version() <= cur {
					return &placement.FieldError{Field: "version", Value: strconv.FormatUint(m.Version(), 10), Err: source.ErrStaleVersion,
						Detail: fmt.Sprintf("version %d does not increase on v%d, the version in force at %s", m.Version(), cur, t)}
				}
				return nil
			}
			if err := t.publish(e.ctx, m, doc, sigs, opt.Limits, check); err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(e.stdout, res)
			}
			was := "none"
			if res.Previous > 0 {
				was = fmt.Sprintf("v%d", res.Previous)
			}
			signed := "unsigned"
			if res.Signed {
				signed = "signed"
			}
			fmt.Fprintf(e.stdout, "published v%d to %s (%s; was %s)\n", res.Version, t, signed, was)
			return nil
		}
	},
}

type publishResult struct {
	Target   string         `json:"target"`
	Version  uint64         `json:"version"`
	Previous uint64         `json:"previous"` // 0: none
	Signed   bool           `json:"signed"`
	Awaited  *awaitedResult `json:"awaited,omitempty"` // the confirmation --await-confirmed waited for
}

// awaitedTarget waits, for --await-confirmed, until the cells of the
// migrations that m changes have confirmed the version in force at t, then
// makes the publish expect that version, so that a map published
// meanwhile, whose confirmations were not awaited, fails it as a lost race.
// A target without a map has nothing to confirm.
func awaitedTarget(e *env, t target, opt placement.Options, a *awaitFlags, expect *optUint, m *placement.Map) (*awaitedResult, error) {
	prev, _, _, err := t.get(e.ctx, opt)
	switch {
	case errors.Is(err, iofs.ErrNotExist) || errors.Is(err, errNoMap):
		fmt.Fprintf(e.stderr, "%s holds no map: no confirmation to await\n", t)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("--await-confirmed reads the map in force at %s: %w", t, err)
	case expect.set && expect.v != prev.Version():
		return nil, &raceError{target: t.String(), expected: expect.v, found: prev.Version(), publishing: m.Version()}
	}
	via := t
	if a.via != "" {
		if via, err = parseTarget(a.via, false); err != nil {
			return nil, err
		}
	}
	res, err := a.awaitPrevious(e.ctx, e.stderr, via, prev, m)
	if err != nil {
		return nil, err
	}
	expect.v, expect.set = prev.Version(), true
	return res, nil
}

// A confirmingTarget has confirmations of its own (etcd); the cells of the
// others are asked over HTTP, at their endpoints.
type confirmingTarget interface {
	confirmer(ctx context.Context) (source.Confirmer, func(), error)
}

// optUint is a uint64 flag that knows whether it was given.
type optUint struct {
	v   uint64
	set bool
}

func (o *optUint) String() string {
	if !o.set {
		return ""
	}
	return strconv.FormatUint(o.v, 10)
}

func (o *optUint) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not a version: %q", s)
	}
	o.v, o.set = v, true
	return nil
}

// A raceError reports a publish refused because the target does not hold
// the version the publisher started from.
type raceError struct {
	target          string
	expected, found uint64
	publishing      uint64
}

func (e *raceError) Error() string {
	return fmt.Sprintf("cellctl: lost the race: %s holds %s, not %s as expected; v%d not published",
		e.target, versionName(e.found), versionName(e.expected), e.publishing)
}

func (e *raceError) Unwrap() error { return errLostRace }

func versionName(v uint64) string {
	if v == 0 {
		return "no map"
	}
	return fmt.Sprintf("v%d", v)
}

// A target is where maps are published and read back.
type target interface {
	String() string
	// publish makes m, whose document is doc, (with sigs) the map in force, after check accepts
	// the version in force (found false: none; curErr: it does not parse).
	// No other publish through cellctl runs between check and the write.
	publish(ctx context.Context, m *placement.Map, doc []byte, sigs [][]byte, lim placement.Limits, check func(cur uint64, found bool, curErr error) error) error
	// get returns the map in force, its bytes and its signatures.
	get(ctx context.Context, opt placement.Options) (*placement.Map, []byte, [][]byte, error)
}

// parseTarget reads file:PATH, http-dir:DIR and, for reading (get), http://
// and https:// URLs.
func parseTarget(s string, forGet bool) (target, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return nil, usagef("target %q: want file:PATH, http-dir:DIR or etcd:ENDPOINTS/PREFIX", s)
	}
	switch scheme {
	case "file":
		if rest == "" {
			return nil, usagef("target %q: empty path", s)
		}
		return &fileTarget{name: s, path: rest}, nil
	case "http-dir":
		if rest == "" {
			return nil, usagef("target %q: empty directory", s)
		}
		return &fileTarget{name: s, path: filepath.Join(rest, "map.json"), archive: rest}, nil
	case "http", "https":
		if forGet {
			return &httpTarget{url: s}, nil
		}
		return nil, usagef("target %q: publish to a directory that a server serves (http-dir:DIR), not to a URL", s)
	case "etcd":
		return parseEtcd(s, rest)
	}
	return nil, usagef("target %q: unknown kind %q (file, http-dir, etcd)", s, scheme)
}

// A fileTarget publishes to a file, and for http-dir also keeps each
// version in the directory.
type fileTarget struct {
	name     string
	path     string
	archive  string // the http-dir directory, or ""
	lockWait time.Duration
}

func (t *fileTarget) String() string { return t.name }

func (t *fileTarget) publish(ctx context.Context, m *placement.Map, doc []byte, sigs [][]byte, lim placement.Limits, check func(uint64, bool, error) error) error {
	if t.archive != "" {
		if err := os.MkdirAll(t.archive, 0o755); err != nil {
			return err
		}
	}
	// The lock and the temporary files belong to the file written: the
	// link's target when the path is a symbolic link, so that publishers
	// through different links to one file exclude each other.
	docPath, err := resolve(t.path)
	if err != nil {
		return err
	}
	sigPath, err := resolve(t.path + sigSuffix)
	if err != nil {
		return err
	}
	unlock, err := lockFile(ctx, docPath+".lock", t.lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	// Under the lock no other publisher is writing: a temporary file here is
	// a killed publisher's.
	source.RemoveStaleTemps(docPath)
	source.RemoveStaleTemps(sigPath)
	if t.archive != "" {
		removeArchiveTemps(t.archive)
	}
	var cur uint64
	found := false
	data, err := os.ReadFile(docPath)
	var curErr error
	switch {
	case err == nil:
		old, err := placement.ParseWith(data, placement.Options{Limits: lim})
		if err != nil {
			curErr = err
		} else {
			cur, found = old.Version(), true
		}
	case !errors.Is(err, iofs.ErrNotExist):
		return err
	}
	if err := check(cur, found, curErr); err != nil {
		return err
	}
	if t.archive != "" {
		if err := saveDoc(filepath.Join(t.archive, fmt.Sprintf("v%d.json", m.Version())), doc, sigs); err != nil {
			return err
		}
	}
	return saveDoc(t.path, doc, sigs)
}

// removeArchiveTemps removes the temporary files that killed publishers
// left in an http-dir directory: those of map.json and of every vN.json,
// with their signature files.
func removeArchiveTemps(dir string) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	done := make(map[string]bool)
	for _, e := range es {
		base, _, ok := strings.Cut(e.Name(), ".tmp-")
		base = strings.TrimSuffix(base, sigSuffix)
		if !ok || done[base] || !isArchiveName(base) {
			continue
		}
		done[base] = true
		source.RemoveStaleTemps(filepath.Join(dir, base)) // base's and base.sig's
	}
}

// isArchiveName reports whether name is map.json or vN.json.
func isArchiveName(name string) bool {
	if name == "map.json" {
		return true
	}
	n, ok := strings.CutPrefix(name, "v")
	if !ok {
		return false
	}
	if n, ok = strings.CutSuffix(n, ".json"); !ok || n == "" {
		return false
	}
	return strings.Trim(n, "0123456789") == ""
}

func (t *fileTarget) get(ctx context.Context, opt placement.Options) (*placement.Map, []byte, [][]byte, error) {
	return loadDoc(t.path, opt)
}

// An httpTarget reads the map in force from a URL through the HTTP source.
type httpTarget struct{ url string }

func (t *httpTarget) String() string { return t.url }

func (t *httpTarget) publish(context.Context, *placement.Map, []byte, [][]byte, placement.Limits, func(uint64, bool, error) error) error {
	return usagef("cannot publish to a URL")
}

func (t *httpTarget) get(ctx context.Context, opt placement.Options) (*placement.Map, []byte, [][]byte, error) {
	m, err := fetchHTTP(ctx, t.url, opt)
	if err != nil {
		return nil, nil, nil, err
	}
	var sigs [][]byte
	if s := m.Signature(); s != nil {
		sigs = [][]byte{s}
	}
	return m, m.Bytes(), sigs, nil
}

var getCmd = &command{
	name:    "get",
	args:    "--from SOURCE [--public-key PUB]... [-o OUT] [--json]",
	summary: "fetch and print the map in force",
	help: `Get reads the map in force at SOURCE, checks it as a client does (and its
signature, with --public-key), and prints the document on standard output,
or writes it to OUT with its signature file. A line on standard error says
which version it got. SOURCE is a publish target (file:PATH, http-dir:DIR,
etcd:ENDPOINTS/PREFIX) or a URL served by 'cellctl serve' or any server that speaks the HTTP
source's protocol; from a URL or etcd the signature is kept only when
--public-key verified it.`,
	examples: `cellctl get --from file:/srv/placement/map.json
cellctl get --from http://127.0.0.1:8080/ --public-key control-plane.pub -o current.json
cellctl get --json --from http-dir:/srv/www/placement
cellctl get --from etcd:10.0.0.1:2379/cellkit/placement/prod/`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var d docFlags
		d.register(fs, true)
		from := fs.String("from", "", "the `SOURCE`: file:PATH, http-dir:DIR, etcd:ENDPOINTS/PREFIX or an http(s) URL (required)")
		out := fs.String("o", "", "write the map to `OUT` (and OUT.sig) instead of standard output")
		timeout := fs.Duration("timeout", 10*time.Second, "give up on a URL after this long")
		asJSON := fs.Bool("json", false, "print a summary of the map as JSON instead of the document")
		return func(e *env, args []string) error {
			if len(args) != 0 || *from == "" {
				return usagef("get takes --from SOURCE and no arguments")
			}
			t, err := parseTarget(*from, true)
			if err != nil {
				return err
			}
			opt, err := d.options()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(e.ctx, *timeout)
			defer cancel()
			m, doc, sigs, err := t.get(ctx, opt)
			if err != nil {
				return err
			}
			s := summarize(m, opt.PublicKeys)
			switch {
			case *asJSON:
				return writeJSON(e.stdout, s)
			case *out != "":
				if err := saveDoc(*out, doc, sigs); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "wrote %s: %s\n", *out, s)
			default:
				if _, err := e.stdout.Write(doc); err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "got %s from %s\n", s, t)
			}
			return nil
		}
	},
}

// fetchHTTP gets the map in force at url through the HTTP source.
func fetchHTTP(ctx context.Context, url string, opt placement.Options) (*placement.Map, error) {
	s, err := source.NewHTTP(url, source.HTTPConfig{Jitter: -1})
	if err != nil {
		return nil, usageError{err.Error()}
	}
	s.SetParse(opt, nil)
	return s.Next(ctx)
}
