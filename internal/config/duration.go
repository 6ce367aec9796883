package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Durations are time.Duration fields in the configuration structs, each
// with the unit of its bare numbers in a tag: `unit:"s"` or `unit:"ms"`.
// A file or a WAC_* variable gives a duration as a Go duration ("30s",
// "1m30s", "250ms"), or as a bare number in the key's unit, as the seeds
// and earlier versions wrote it (qss.pingInterval: 20000 is 20 s). This
// file is the one place where those numbers become durations.

var durationType = reflect.TypeOf(time.Duration(0))

// unitOf is the unit of a duration field's bare numbers.
func unitOf(f reflect.StructField) time.Duration {
	switch f.Tag.Get("unit") {
	case "ms":
		return time.Millisecond
	case "s":
		return time.Second
	}
	panic("config: duration field " + f.Name + " has no unit tag (s or ms)")
}

// parseDuration reads raw as a Go duration or a bare number of unit.
func parseDuration(raw string, unit time.Duration) (time.Duration, error) {
	raw = strings.TrimSpace(raw)
	if n, err := strconv.ParseFloat(raw, 64); err == nil {
		d := n * float64(unit)
		if d > float64(1<<63-1) || d < -float64(1<<63) {
			return 0, fmt.Errorf("%q is out of range", raw)
		}
		return time.Duration(d), nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: give a Go duration such as 30s, 500ms or 1h, or a number of %s", raw, unitName(unit))
	}
	return d, nil
}

func unitName(unit time.Duration) string {
	if unit == time.Millisecond {
		return "milliseconds"
	}
	return "seconds"
}

// formatDuration writes d the short way: 30s, 1h, 1h30m, 500ms.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// durationNodes rewrites, in the YAML document doc, the value of every
// duration key to a Go duration (bare numbers taken in the key's unit),
// so that the decoder reads it into the time.Duration field. It returns
// the lines of the duration values, whose "cannot unmarshal" errors of the
// strict decoder it answers for, and an error for each value that is not
// a duration, naming the key and its line.
func durationNodes(doc *yaml.Node) (lines []int, errs []error) {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	var visit func(n *yaml.Node, t reflect.Type, prefix string)
	visit = func(n *yaml.Node, t reflect.Type, prefix string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			f, ok := fieldByYAML(t, key.Value)
			if !ok {
				continue
			}
			path := key.Value
			if prefix != "" {
				path = prefix + "." + key.Value
			}
			switch {
			case f.Type.Kind() == reflect.Struct:
				visit(val, f.Type, path)
			case f.Type == durationType:
				lines = append(lines, val.Line)
				if val.Kind != yaml.ScalarNode {
					errs = append(errs, fmt.Errorf("line %d: config key %s: not a duration", val.Line, path))
					continue
				}
				d, err := parseDuration(val.Value, unitOf(f))
				if err != nil {
					errs = append(errs, fmt.Errorf("line %d: config key %s: %w", val.Line, path, err))
					continue
				}
				val.Value, val.Tag, val.Style = d.String(), "!!str", 0
			}
		}
	}
	visit(doc, reflect.TypeOf(Config{}), "")
	return lines, errs
}

// fieldByYAML finds the field of struct type t whose yaml name is name.
func fieldByYAML(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if n, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); n == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// dropDurationErrors removes the strict decoder's errors on the duration
// values that durationNodes read.
func dropDurationErrors(errs []string, lines []int) []string {
	var rest []string
next:
	for _, e := range errs {
		for _, l := range lines {
			if strings.HasPrefix(e, fmt.Sprintf("line %d: cannot unmarshal ", l)) && strings.HasSuffix(e, "into time.Duration") {
				continue next
			}
		}
		rest = append(rest, e)
	}
	return rest
}
