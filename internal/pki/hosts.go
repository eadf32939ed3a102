package pki

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// ErrBadHostsEntry is returned (wrapped with the entry and the expected form)
// when ParseHosts cannot use part of its input.
var ErrBadHostsEntry = errors.New("bad hosts entry")

// hostsForm is the syntax ParseHosts accepts, quoted in its errors so the
// user can fix the flag without reading the docs.
const hostsForm = "expected NAME=ADDR[+ADDR...][,NAME=ADDR...], e.g. node1=127.0.0.11+node1.lab,node2=127.0.0.12"

// ParseHosts parses the --hosts flag: comma-separated NAME=ADDR entries where
// ADDR is an IP address or DNS name and several addresses are joined with
// '+' (node1=127.0.0.11+node1.lab). '+' is used because neither IPv6
// addresses nor DNS names can contain it, and it needs no shell quoting.
// Names must be unique DNS labels.
func ParseHosts(s string) ([]Host, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: no hosts given; %s", ErrBadHostsEntry, hostsForm)
	}
	var hosts []Host
	seen := map[string]bool{}
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w %d %q: %s; %s", ErrBadHostsEntry, i+1, entry, fmt.Sprintf(format, args...), hostsForm)
		}
		name, addrs, ok := strings.Cut(entry, "=")
		switch {
		case entry == "":
			return nil, bad("empty entry")
		case !ok:
			return nil, bad(`no "="`)
		}
		name = strings.TrimSpace(name)
		if err := checkLabel(name); err != nil {
			return nil, bad("node name %q: %v", name, err)
		}
		if seen[strings.ToLower(name)] {
			return nil, bad("node %q is listed twice", name)
		}
		seen[strings.ToLower(name)] = true

		h := Host{Name: name}
		for _, a := range strings.Split(addrs, "+") {
			a = strings.TrimSpace(a)
			if a == "" {
				return nil, bad("empty address")
			}
			if err := checkAddr(a); err != nil {
				return nil, bad("address %q: %v", a, err)
			}
			h.Addrs = append(h.Addrs, a)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// checkLabel accepts an RFC 1123 DNS label: 1 to 63 letters, digits and
// hyphens, not starting or ending with a hyphen. Node names are both DNS
// SANs and file names, and a label is safe as both.
func checkLabel(s string) error {
	switch {
	case s == "":
		return errors.New("empty name")
	case len(s) > 63:
		return errors.New("longer than 63 characters")
	case s[0] == '-' || s[len(s)-1] == '-':
		return errors.New("starts or ends with '-'")
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("contains %q; a DNS label has only letters, digits and '-'", c)
		}
	}
	return nil
}

// checkAddr accepts an IP address (without zone, which a certificate cannot
// hold) or a DNS name of valid labels.
func checkAddr(s string) error {
	if net.ParseIP(s) != nil {
		return nil
	}
	if len(s) > 253 {
		return errors.New("DNS name longer than 253 characters")
	}
	labels := strings.Split(s, ".")
	for _, label := range labels {
		if err := checkLabel(label); err != nil {
			return fmt.Errorf("neither an IP address nor a DNS name (%v)", err)
		}
	}
	// No top-level domain is all digits, so "10.0.0.300" is a mistyped IP
	// address, not a host name.
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return errors.New("not a valid IP address")
	}
	return nil
}
