package inventory

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Variable values are plain Go values: string, bool, nil, int (or *big.Int
// past the int range), float64, []any and map[string]any, plus the two
// YAML-only kinds below, which keep what Ansible keeps and marshal to JSON the
// way ansible-inventory prints them.

// Unsafe is a YAML value tagged !unsafe, which Ansible never templates.
type Unsafe string

// MarshalJSON prints {"__ansible_unsafe": "..."} like ansible-inventory.
func (u Unsafe) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"__ansible_unsafe": string(u)})
}

// Vault is a YAML value tagged !vault. It holds the ciphertext; this package
// never decrypts it.
type Vault string

// MarshalJSON prints {"__ansible_vault": "..."} like ansible-inventory.
func (v Vault) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"__ansible_vault": string(v)})
}

// pyTuple and pySet exist only while a literal is parsed, so that hashability
// follows Python; they become []any before anyone sees them.
type (
	pyTuple []any
	pySet   []any
)

// dictKey gives a Python dict key its identity (1, 1.0 and True are the same
// key) and the string json.dumps writes for it. Lists, dicts and sets cannot
// be keys.
func dictKey(k any) (id, text string, err error) {
	switch k := k.(type) {
	case string:
		return "s" + k, k, nil
	case Unsafe:
		return "s" + string(k), string(k), nil
	case nil:
		return "none", "null", nil
	case bool:
		if k {
			return "n1", "true", nil
		}
		return "n0", "false", nil
	case int:
		return "n" + strconv.Itoa(k), strconv.Itoa(k), nil
	case *big.Int:
		return "n" + k.String(), k.String(), nil
	case float64:
		if k == math.Trunc(k) && !math.IsInf(k, 0) {
			n, _ := new(big.Float).SetFloat64(k).Int(nil)
			return "n" + n.String(), pyFloatRepr(k), nil
		}
		return "f" + strconv.FormatUint(math.Float64bits(k), 16), pyFloatRepr(k), nil
	case pyTuple:
		ids := make([]string, len(k))
		for i, x := range k {
			id, _, err := dictKey(x)
			if err != nil {
				return "", "", err
			}
			ids[i] = id
		}
		return "t(" + strings.Join(ids, "\x00") + ")", pyRepr(k), nil
	}
	return "", "", fmt.Errorf("unhashable type: '%s'", pyTypeName(plain(k)))
}

// pyRepr approximates Python's repr for the values a tuple key can hold.
func pyRepr(v any) string {
	switch v := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), "'", `\'`) + "'"
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case float64:
		return strings.NewReplacer("Infinity", "inf", "NaN", "nan").Replace(pyFloatRepr(v))
	case pyTuple:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = pyRepr(x)
		}
		if len(v) == 1 {
			return "(" + parts[0] + ",)"
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return fmt.Sprint(v)
}

// plain turns the parse-time tuple and set types into lists, recursively.
func plain(v any) any {
	switch v := v.(type) {
	case pyTuple:
		return plainList(v)
	case pySet:
		return plainList(v)
	case []any:
		return plainList(v)
	case map[string]any:
		for k, x := range v {
			v[k] = plain(x)
		}
		return v
	}
	return v
}

func plainList(v []any) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = plain(x)
	}
	return out
}

// orderedMap builds a map[string]any from key/value pairs with Python dict
// semantics: a repeated key keeps the last value.
type orderedMap struct {
	m    map[string]any
	text map[string]string // identity -> first key text
}

func newOrderedMap() *orderedMap {
	return &orderedMap{m: map[string]any{}, text: map[string]string{}}
}

func (o *orderedMap) set(k, v any) error {
	id, text, err := dictKey(k)
	if err != nil {
		return err
	}
	if first, ok := o.text[id]; ok {
		text = first
	} else {
		o.text[id] = text
	}
	o.m[text] = v
	return nil
}
