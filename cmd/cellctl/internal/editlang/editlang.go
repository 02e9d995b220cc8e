package editlang

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cellkit/cellkit/placement"
)

// Apply runs the edits on a Builder of base (nil: from nothing) with
// the limits clients parse with, and builds the result. raw names the edits in errors.
func Apply(base *placement.Map, lim placement.Limits, edits []Edit, raw []string) (*placement.Map, []string, error) {
	b := placement.NewBuilderWith(base, lim)
	s := &State{b: b, base: base, zones: map[string]string{}}
	for i, ed := range edits {
		if err := ed(s); err != nil {
			return nil, nil, fmt.Errorf("edit %d %q: %w", i+1, raw[i], err)
		}
	}
	m, err := b.Build()
	if err != nil {
		return nil, nil, fmt.Errorf("build: %w", err)
	}
	return m, s.notes, nil
}

// State is what edits work on: the Builder, the map it started from,
// and what earlier edits of the same Apply did.
type State struct {
	b     *placement.Builder
	base  *placement.Map
	zones map[string]string // zones of the cells added by earlier edits
	notes []string
}

// zone returns the zone of cell id, for endpoints without one.
func (s *State) zone(id string) string {
	if z, ok := s.zones[id]; ok {
		return z
	}
	if s.base != nil {
		if c, ok := s.base.Cell(id); ok {
			return c.Zone
		}
	}
	return ""
}

// eachBucketMigration applies step to the bucket migration of exactly r,
// or else to every bucket migration inside r: MigrateBuckets and Rebalance
// start one migration for each run of buckets with one owner, and the
// operator names the range they asked for.
func (s *State) eachBucketMigration(r placement.Range, step func(*placement.Builder, placement.Migration) error) error {
	now, err := s.b.Build() // the builder's migrations, as a document
	if err != nil {
		return step(s.b, placement.Migration{Buckets: r})
	}
	var inside []placement.Migration
	for _, g := range now.Migrations() {
		if g.Key != "" {
			continue
		}
		if g.Buckets == r {
			return step(s.b, g)
		}
		if r.Lo <= g.Buckets.Lo && g.Buckets.Hi <= r.Hi {
			inside = append(inside, g)
		}
	}
	if len(inside) == 0 {
		return step(s.b, placement.Migration{Buckets: r}) // the Builder's own error
	}
	for _, g := range inside {
		if err := step(s.b, g); err != nil {
			return err
		}
	}
	return nil
}

// An Edit is one parsed EDIT, applied by Apply.
type Edit func(s *State) error

// Parse parses one EDIT; errors are misuse.
func Parse(raw string) (Edit, error) {
	words, err := splitWords(raw)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, errors.New("empty edit")
	}
	verb, args := words[0], words[1:]
	want := func(n int, form string) error {
		if len(args) != n {
			return fmt.Errorf("want %q", form)
		}
		return nil
	}
	switch verb {
	case "add":
		return parseAdd(args)
	case "remove":
		if err := want(1, "remove ID"); err != nil {
			return nil, err
		}
		return func(s *State) error { return s.b.RemoveCell(args[0]) }, nil
	case "state":
		if err := want(2, "state ID STATE"); err != nil {
			return nil, err
		}
		st, ok := placement.ParseState(args[1])
		if !ok {
			return nil, fmt.Errorf("unknown state %q (active, draining, disabled, canary)", args[1])
		}
		return func(s *State) error { return s.b.SetState(args[0], st) }, nil
	case "weight":
		if err := want(2, "weight ID W"); err != nil {
			return nil, err
		}
		w, err := strconv.ParseFloat(args[1], 64)
		if err != nil {
			return nil, fmt.Errorf("weight %q is not a number", args[1])
		}
		return func(s *State) error { return s.b.SetWeight(args[0], w) }, nil
	case "zone":
		if err := want(2, "zone ID Z"); err != nil {
			return nil, err
		}
		return func(s *State) error {
			if err := s.b.SetZone(args[0], args[1]); err != nil {
				return err
			}
			s.zones[args[0]] = args[1]
			return nil
		}, nil
	case "endpoints":
		if len(args) < 1 {
			return nil, errors.New(`want "endpoints ID [URL[@ZONE]]..."`)
		}
		id, eps := args[0], args[1:]
		return func(s *State) error {
			list := []placement.Endpoint{}
			for _, ep := range eps {
				list = append(list, parseEndpoint(ep, s.zone(id)))
			}
			return s.b.SetEndpoints(id, list)
		}, nil
	case "labels":
		if len(args) < 1 {
			return nil, errors.New(`want "labels ID [K=V]..."`)
		}
		labels := map[string]string{}
		for _, kv := range args[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("label %q is not K=V", kv)
			}
			labels[k] = v
		}
		if len(labels) == 0 {
			labels = nil
		}
		return func(s *State) error { return s.b.SetLabels(args[0], labels) }, nil
	case "pin", "quarantine":
		if err := want(2, verb+" KEY CELL"); err != nil {
			return nil, err
		}
		key := keyWord(args[0])
		if verb == "pin" {
			return func(s *State) error { return s.b.Pin(key, args[1]) }, nil
		}
		return func(s *State) error { return s.b.Quarantine(key, args[1]) }, nil
	case "unpin":
		if err := want(1, "unpin KEY"); err != nil {
			return nil, err
		}
		key := keyWord(args[0])
		return func(s *State) error { return s.b.Unpin(key) }, nil
	case "migrate":
		if err := want(2, "migrate SUBJECT CELL"); err != nil {
			return nil, err
		}
		g, err := parseSubject(args[0])
		if err != nil {
			return nil, err
		}
		to := args[1]
		if g.Key != "" {
			return func(s *State) error { return s.b.MigrateKey(g.Key, to) }, nil
		}
		return func(s *State) error { return s.b.MigrateBuckets(g.Buckets, to) }, nil
	case "advance", "rollback":
		if err := want(1, verb+" SUBJECT"); err != nil {
			return nil, err
		}
		g, err := parseSubject(args[0])
		if err != nil {
			return nil, err
		}
		step := (*placement.Builder).Advance
		if verb == "rollback" {
			step = (*placement.Builder).Rollback
		}
		if g.Key != "" {
			return func(s *State) error { return step(s.b, g) }, nil
		}
		return func(s *State) error { return s.eachBucketMigration(g.Buckets, step) }, nil
	case "freeze":
		if err := want(0, "freeze"); err != nil {
			return nil, err
		}
		return func(s *State) error { return s.b.FreezeTable() }, nil
	case "rebalance":
		if err := want(0, "rebalance"); err != nil {
			return nil, err
		}
		return func(s *State) error {
			n, err := s.b.Rebalance()
			if err == nil {
				s.notes = append(s.notes, fmt.Sprintf("rebalance: %s to move, as migrations in phase copying", Plural(n, "bucket")))
			}
			return err
		}, nil
	case "seed":
		if err := want(1, "seed SEED"); err != nil {
			return nil, err
		}
		seed, err := parseSeed(args[0])
		if err != nil {
			return nil, err
		}
		return func(s *State) error { s.b.SetSeed(seed); return nil }, nil
	case "buckets", "shard-size":
		if err := want(1, verb+" N"); err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return nil, fmt.Errorf("%s %q is not an integer", verb, args[0])
		}
		if verb == "buckets" {
			return func(s *State) error { return s.b.SetBuckets(n) }, nil
		}
		return func(s *State) error { return s.b.SetShardSize(n) }, nil
	}
	return nil, fmt.Errorf("unknown edit %q", verb)
}

func parseAdd(args []string) (Edit, error) {
	if len(args) < 1 || strings.Contains(args[0], "=") {
		return nil, errors.New(`want "add ID [zone=Z] [weight=W] [state=S] [endpoint=URL[@ZONE]]... [label=K=V]..."`)
	}
	c := placement.Cell{ID: args[0], Weight: 1}
	var eps []string
	for _, a := range args[1:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not NAME=VALUE", a)
		}
		switch k {
		case "zone":
			c.Zone = v
		case "weight":
			w, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("weight %q is not a number", v)
			}
			c.Weight = w
		case "state":
			st, ok := placement.ParseState(v)
			if !ok {
				return nil, fmt.Errorf("unknown state %q (active, draining, disabled, canary)", v)
			}
			c.State = st
		case "endpoint":
			eps = append(eps, v)
		case "label":
			lk, lv, ok := strings.Cut(v, "=")
			if !ok {
				return nil, fmt.Errorf("label %q is not K=V", v)
			}
			if c.Labels == nil {
				c.Labels = map[string]string{}
			}
			c.Labels[lk] = lv
		default:
			return nil, fmt.Errorf("unknown cell field %q (zone, weight, state, endpoint, label)", k)
		}
	}
	for _, ep := range eps {
		c.Endpoints = append(c.Endpoints, parseEndpoint(ep, c.Zone))
	}
	return func(s *State) error {
		if err := s.b.AddCell(c); err != nil {
			return err
		}
		s.zones[c.ID] = c.Zone
		return nil
	}, nil
}

// parseEndpoint reads URL[@ZONE]; endpoint URLs have no user info, so an @
// after the host names the zone.
func parseEndpoint(s, defaultZone string) placement.Endpoint {
	if i := strings.LastIndexByte(s, '@'); i >= 0 && !strings.ContainsAny(s[i+1:], "/:") {
		return placement.Endpoint{URL: s[:i], Zone: s[i+1:]}
	}
	return placement.Endpoint{URL: s, Zone: defaultZone}
}

// FormatEndpoint is the inverse of parseEndpoint.
func FormatEndpoint(ep placement.Endpoint, cellZone string) string {
	if ep.Zone == cellZone {
		return ep.URL
	}
	return ep.URL + "@" + ep.Zone
}

// keyWord reads a KEY word: key=K is K.
func keyWord(w string) string {
	if k, ok := strings.CutPrefix(w, "key="); ok {
		return k
	}
	return w
}

// parseSubject reads KEY, key=KEY or buckets=LO-HI.
func parseSubject(w string) (placement.Migration, error) {
	if r, ok := strings.CutPrefix(w, "buckets="); ok {
		rg, err := placement.ParseRange(r)
		if err != nil {
			return placement.Migration{}, fmt.Errorf("bad bucket range %q: want LO-HI or N", r)
		}
		return placement.Migration{Buckets: rg}, nil
	}
	return placement.Migration{Key: keyWord(w)}, nil
}

// parseSeed reads a seed as the document writes it: decimal or 0x-hex.
func parseSeed(s string) (uint64, error) {
	var v uint64
	var err error
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		v, err = strconv.ParseUint(h, 16, 64)
	} else {
		v, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil {
		return 0, fmt.Errorf("seed %q is not a 64-bit decimal or 0x-hex number", s)
	}
	return v, nil
}

// splitWords splits an EDIT at spaces; a word may hold Go-quoted parts,
// which keep their spaces.
func splitWords(s string) ([]string, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("not valid UTF-8")
	}
	var words []string
	var w strings.Builder
	in := false // inside a word
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case unicode.IsSpace(r):
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
			s = s[size:]
		case r == '"':
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("bad quoted string at %q", s)
			}
			u, _ := strconv.Unquote(q)
			w.WriteString(u)
			in = true
			s = s[len(q):]
		default:
			w.WriteRune(r)
			in = true
			s = s[size:]
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words, nil
}

// Plural is "1 noun" or "n nouns", as cellctl writes counts.
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
