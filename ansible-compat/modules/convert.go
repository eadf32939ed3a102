package modules

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// convert turns a JSON value into the Go value of kind k.
func convert(k Kind, v any) (any, error) {
	switch k {
	case Str:
		return scalar(v)
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		s, err := scalar(v)
		if err == nil {
			if b, ok := parseBool(s); ok {
				return b, nil
			}
		}
		return nil, fmt.Errorf("%s is not a boolean (use true or false)", short(v))
	case Int:
		s, err := scalar(v)
		if err == nil {
			if n, err := strconv.Atoi(s); err == nil {
				return n, nil
			}
		}
		return nil, fmt.Errorf("%s is not an integer", short(v))
	case Float:
		s, err := scalar(v)
		if err == nil {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return f, nil
			}
		}
		return nil, fmt.Errorf("%s is not a number", short(v))
	case Seconds:
		s, err := scalar(v)
		if err == nil {
			if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
				return time.Duration(f * float64(time.Second)), nil
			}
			if d, err := time.ParseDuration(s); err == nil && d >= 0 {
				return d, nil
			}
		}
		return nil, fmt.Errorf("%s is not a duration (give seconds, or e.g. 90s or 2m)", short(v))
	case List:
		return toList(v)
	case Dict:
		return toDict(v)
	case Dicts:
		return toDicts(v)
	}
	return nil, fmt.Errorf("unknown option kind %d", k)
}

func scalar(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case bool:
		return strconv.FormatBool(t), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("want a single value, got %s", typeName(v))
}

func toList(v any) ([]string, error) {
	switch t := v.(type) {
	case []any:
		out := make([]string, 0, len(t))
		for i, x := range t {
			s, err := scalar(x)
			if err != nil {
				return nil, fmt.Errorf("item %d: %v", i, err)
			}
			out = append(out, s)
		}
		return out, nil
	case string:
		if strings.TrimSpace(t) == "" {
			return []string{}, nil
		}
		if strings.HasPrefix(strings.TrimSpace(t), "[") {
			var l []any
			if err := json.Unmarshal([]byte(t), &l); err == nil {
				return toList(l)
			}
		}
		parts := strings.Split(t, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, nil
	}
	s, err := scalar(v)
	if err != nil {
		return nil, fmt.Errorf("want a list, got %s", typeName(v))
	}
	return []string{s}, nil
}

func toDict(v any) (map[string]string, error) {
	if s, ok := v.(string); ok {
		if strings.TrimSpace(s) == "" {
			return map[string]string{}, nil
		}
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			return nil, fmt.Errorf("want a mapping (KEY: value), got a string")
		}
		v = m
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a mapping (KEY: value), got %s", typeName(v))
	}
	out := make(map[string]string, len(m))
	for k, x := range m {
		if x == nil {
			out[k] = ""
			continue
		}
		s, err := scalar(x)
		if err != nil {
			return nil, fmt.Errorf("key %s: %v", k, err)
		}
		out[k] = s
	}
	return out, nil
}

func toDicts(v any) ([]map[string]any, error) {
	if s, ok := v.(string); ok {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var l []any
		if err := d.Decode(&l); err != nil {
			return nil, fmt.Errorf("want a list of mappings, got a string")
		}
		v = l
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list of mappings, got %s", typeName(v))
	}
	out := make([]map[string]any, 0, len(l))
	for i, x := range l {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d: want a mapping, got %s", i, typeName(x))
		}
		out = append(out, m)
	}
	return out, nil
}

// parseBool reads a boolean the way Ansible does.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "on", "1", "true", "y", "t":
		return true, true
	case "no", "off", "0", "false", "n", "f", "":
		return false, true
	}
	return false, false
}

func truthy(v any) bool {
	if b, ok := v.(bool); ok {
		return b
	}
	s, err := scalar(v)
	if err != nil {
		return false
	}
	b, _ := parseBool(s)
	return b
}

func typeName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// short quotes a value for an error message without echoing much of it.
func short(v any) string {
	s, err := scalar(v)
	if err != nil {
		return typeName(v)
	}
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
