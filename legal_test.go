package wac

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite NOTICE and THIRD_PARTY_LICENSES from the module cache (go mod download)")

// module is one requirement of go.mod.
type module struct{ Path, Version string }

// requirements reads the require directives of go.mod.
func requirements(t *testing.T) []module {
	t.Helper()
	f, err := os.Open("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mods []module
	block := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "//")
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
		case block && fields[0] == ")":
			block = false
		case block && len(fields) == 2:
			mods = append(mods, module{fields[0], fields[1]})
		case fields[0] == "require" && len(fields) == 2 && fields[1] == "(":
			block = true
		case fields[0] == "require" && len(fields) == 3:
			mods = append(mods, module{fields[1], fields[2]})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	return mods
}

// noticeRow is a module's row in NOTICE's table.
var noticeRow = regexp.MustCompile("(?m)^\\| `([^`]+)` \\| `([^`]+)` \\| ([^|]+) \\|$")

// Every module go.mod requires, and nothing else, is listed in NOTICE with
// its version and licence, and its licence texts are in
// THIRD_PARTY_LICENSES; the licences are ones Apache-2.0 software may
// include.
func TestNoticeListsEveryModule(t *testing.T) {
	mods := requirements(t)
	if *update {
		writeNotices(t, mods)
	}
	listed := map[string]string{}
	for _, m := range noticeRow.FindAllStringSubmatch(Notice, -1) {
		listed[m[1]] = m[2]
		for _, l := range strings.Split(strings.TrimSpace(m[3]), " AND ") {
			if !compatible[l] {
				t.Errorf("NOTICE: %s is under %s, which is not known to be compatible with Apache-2.0", m[1], l)
			}
		}
	}
	required := map[string]bool{}
	for _, m := range mods {
		required[m.Path] = true
		switch v, ok := listed[m.Path]; {
		case !ok:
			t.Errorf("NOTICE does not list %s (go test . -update rewrites it)", m.Path)
		case v != m.Version:
			t.Errorf("NOTICE lists %s %s, go.mod requires %s (go test . -update rewrites it)", m.Path, v, m.Version)
		}
		if !strings.Contains(ThirdPartyLicenses, "\n"+heading(m)+"\n") {
			t.Errorf("THIRD_PARTY_LICENSES has no texts of %s %s", m.Path, m.Version)
		}
	}
	for p := range listed {
		if !required[p] {
			t.Errorf("NOTICE lists %s, which go.mod does not require", p)
		}
	}
	if len(mods) < 20 {
		t.Fatalf("only %d requirements read from go.mod", len(mods))
	}
}

// The web app and the SDK bundle no third-party package (they have only
// build tools, as devDependencies), and say their licence.
func TestPackagesAreApacheAndBundleNothing(t *testing.T) {
	for _, file := range []string{"web/package.json", "sdk/js/package.json"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var pkg struct {
			License      string            `json:"license"`
			Dependencies map[string]string `json:"dependencies"`
		}
		if err := json.Unmarshal(b, &pkg); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if pkg.License != "Apache-2.0" {
			t.Errorf("%s: license %q, want Apache-2.0", file, pkg.License)
		}
		for name := range pkg.Dependencies {
			if !strings.Contains(Notice, "`"+name+"`") {
				t.Errorf("%s bundles %s, which NOTICE does not list", file, name)
			}
		}
	}
}

// compatible are the licences whose software an Apache-2.0 work may
// include (as it is, with its notices).
var compatible = map[string]bool{"Apache-2.0": true, "MIT": true, "BSD-2-Clause": true, "BSD-3-Clause": true,
	"ISC": true, "MPL-2.0": true, "public domain": true, "CC0-1.0": true}

func heading(m module) string { return "== " + m.Path + " " + m.Version }

// licenceFile matches the files of a module's root that hold its licence
// or notices (LICENSE, LICENSE.txt, LICENSE-SQLITE, COPYING, NOTICE ...).
var licenceFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying|notice)([-_.].*)?$`)

// writeNotices rewrites NOTICE and THIRD_PARTY_LICENSES from the licence
// files of the modules in the module cache.
func writeNotices(t *testing.T, mods []module) {
	t.Helper()
	dirs := downloadModules(t, mods)
	var rows, texts strings.Builder
	seen := map[string]string{} // text -> the first module that had it
	for _, m := range mods {
		dir := dirs[m.Path+"@"+m.Version]
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("%s: %v", m.Path, err)
		}
		var found []string
		fmt.Fprintf(&texts, "\n%s\n", heading(m))
		for _, e := range entries {
			if !e.Type().IsRegular() || !licenceFile.MatchString(e.Name()) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			text := strings.TrimSpace(string(b))
			if !strings.Contains(strings.ToUpper(e.Name()), "3RD-PARTY") && !strings.HasPrefix(strings.ToUpper(e.Name()), "NOTICE") {
				found = append(found, licencesIn(text)...)
			}
			if first, ok := seen[text]; ok {
				fmt.Fprintf(&texts, "\n-- %s: the same text as the %s of %s above\n", e.Name(), e.Name(), first)
				continue
			}
			seen[text] = m.Path
			fmt.Fprintf(&texts, "\n-- %s\n\n%s\n", e.Name(), text)
		}
		if len(found) == 0 {
			t.Fatalf("%s: no licence found in %s", m.Path, dir)
		}
		fmt.Fprintf(&rows, "| `%s` | `%s` | %s |\n", m.Path, m.Version, strings.Join(unique(found), " AND "))
	}
	notice := strings.Replace(noticeTemplate, "{{rows}}", rows.String(), 1)
	if err := os.WriteFile("NOTICE", []byte(notice), 0o644); err != nil {
		t.Fatal(err)
	}
	out := "Licence and notice files of the Go modules built into OpenWAC (NOTICE lists them),\n" +
		"as each module ships them. Written by `go test . -update`.\n" + texts.String()
	if err := os.WriteFile("THIRD_PARTY_LICENSES", []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	Notice, ThirdPartyLicenses = notice, out
}

// downloadModules returns the module cache directory of each module.
func downloadModules(t *testing.T, mods []module) map[string]string {
	t.Helper()
	args := []string{"mod", "download", "-json"}
	for _, m := range mods {
		args = append(args, m.Path+"@"+m.Version)
	}
	var out bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go mod download: %v", err)
	}
	dirs := map[string]string{}
	dec := json.NewDecoder(&out)
	for {
		var d struct{ Path, Version, Dir, Error string }
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if d.Error != "" {
			t.Fatalf("go mod download %s: %s", d.Path, d.Error)
		}
		dirs[d.Path+"@"+d.Version] = d.Dir
	}
	return dirs
}

// licencesIn names the licences of a licence file, in the order they
// appear.
func licencesIn(text string) []string {
	flat := strings.Join(strings.Fields(text), " ")
	type hit struct {
		at   int
		name string
	}
	var hits []hit
	mark := func(name string, phrases ...string) {
		for _, p := range phrases {
			if i := strings.Index(flat, p); i >= 0 {
				hits = append(hits, hit{i, name})
				return
			}
		}
	}
	mark("Apache-2.0", "Apache License Version 2.0", "Apache License, Version 2.0")
	mark("MIT", "Permission is hereby granted, free of charge")
	mark("ISC", "Permission to use, copy, modify, and/or distribute this software",
		"Permission to use, copy, modify, and distribute this software for any purpose with or without fee")
	mark("MPL-2.0", "Mozilla Public License Version 2.0", "Mozilla Public License, version 2.0")
	mark("CC0-1.0", "CC0 1.0 Universal")
	mark("public domain", "Public Domain", "public domain")
	if i := strings.Index(flat, "Redistribution and use in source and binary forms"); i >= 0 {
		if strings.Contains(flat, "endorse or promote products") {
			hits = append(hits, hit{i, "BSD-3-Clause"})
		} else {
			hits = append(hits, hit{i, "BSD-2-Clause"})
		}
	}
	if strings.Contains(flat, "GNU General Public License") || strings.Contains(flat, "GNU Lesser General Public") {
		hits = append(hits, hit{0, "GPL"})
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].at < hits[j].at })
	var names []string
	for _, h := range hits {
		names = append(names, h.name)
	}
	return names
}

func unique(list []string) []string {
	var out []string
	for _, s := range list {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

const noticeTemplate = `OpenWAC
Copyright 2026 The OpenWAC Authors

Licensed under the Apache License, Version 2.0 (the "License"); you may not
use OpenWAC except in compliance with the License. The License is in the file
LICENSE, and ` + "`wac licenses`" + ` prints it. Unless required by applicable law
or agreed to in writing, software distributed under the License is
distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
KIND, either express or implied.

Third-party software
--------------------

The wac program is built with the Go modules below (go.mod), each under its
own licence, all of which allow their use in an Apache-2.0 program. Their
licence and notice files, as each module ships them (with the NOTICE files of
the Apache-2.0 modules that have one, and the third-party notices of
modernc.org/libc and modernc.org/sqlite, which include SQLite, public domain,
and musl, MIT), are in THIRD_PARTY_LICENSES; ` + "`wac licenses`" + ` prints them.

| module | version | licence |
| --- | --- | --- |
{{rows}}
The web app (web/dist) and the JavaScript SDK (sdk/js/dist) bundle no
third-party package: they are built from OpenWAC's own sources. The tools
that build them are not shipped: esbuild (MIT), TypeScript (Apache-2.0), tsx
(MIT), @types/node (MIT); nor is the linter of the API document,
@redocly/cli (MIT).
`
