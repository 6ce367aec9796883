package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Key describes one configuration key: its YAML path, its environment
// variable, its default and what it does.
type Key struct {
	Path    string
	Env     string
	Default string
	Doc     string
}

// Keys lists every leaf key of the configuration with its default value.
func Keys() []Key {
	var keys []Key
	def := Default()
	walk(reflect.ValueOf(&def).Elem(), "", func(path string, v reflect.Value, f reflect.StructField) {
		keys = append(keys, Key{Path: path, Env: EnvName(path), Default: format(v), Doc: f.Tag.Get("doc")})
	})
	return keys
}

// EnvName is the environment variable that overrides the key at path.
func EnvName(path string) string {
	var b strings.Builder
	b.WriteString("WAC")
	for _, seg := range strings.Split(path, ".") {
		b.WriteByte('_')
		rs := []rune(seg)
		for i, r := range rs {
			if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// ApplyEnv sets every key whose WAC_* variable is present in environ
// (entries of the form NAME=value, as os.Environ returns).
func ApplyEnv(cfg *Config, environ []string) error {
	env := make(map[string]string)
	for _, kv := range environ {
		if name, value, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(name, "WAC_") {
			env[name] = value
		}
	}
	if len(env) == 0 {
		return nil
	}
	var errs []error
	walk(reflect.ValueOf(cfg).Elem(), "", func(path string, v reflect.Value, f reflect.StructField) {
		raw, ok := env[EnvName(path)]
		if !ok {
			return
		}
		if err := set(v, f, raw); err != nil {
			errs = append(errs, fmt.Errorf("environment %s (key %s): %w", EnvName(path), path, err))
		}
	})
	return errors.Join(errs...)
}

func walk(v reflect.Value, prefix string, fn func(path string, v reflect.Value, f reflect.StructField)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			walk(fv, path, fn)
			continue
		}
		fn(path, fv, f)
	}
}

func set(v reflect.Value, f reflect.StructField, raw string) error {
	if v.Type() == durationType {
		d, err := parseDuration(raw, unitOf(f))
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || v.OverflowInt(n) {
			return fmt.Errorf("%q is not an integer", raw)
		}
		v.SetInt(n)
	case reflect.Uint8, reflect.Uint32, reflect.Uint64, reflect.Uint:
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil || v.OverflowUint(n) {
			return fmt.Errorf("%q is not a non-negative integer in range", raw)
		}
		v.SetUint(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", raw)
		}
		v.SetFloat(f)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot set a list of %s from the environment", v.Type().Elem())
		}
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot set a %s from the environment", v.Kind())
	}
	return nil
}

func format(v reflect.Value) string {
	if v.Type() == durationType {
		return formatDuration(time.Duration(v.Int()))
	}
	switch v.Kind() {
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ",")
	case reflect.String:
		return v.String()
	}
	return fmt.Sprint(v.Interface())
}
