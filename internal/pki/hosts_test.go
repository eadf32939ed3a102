package pki_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/labfleet/labfleet/internal/pki"
)

func TestParseHosts(t *testing.T) {
	tests := map[string][]pki.Host{
		"node1=127.0.0.11,node2=127.0.0.12": {
			{Name: "node1", Addrs: []string{"127.0.0.11"}},
			{Name: "node2", Addrs: []string{"127.0.0.12"}},
		},
		"node1=127.0.0.11+node1.lab+::1": {
			{Name: "node1", Addrs: []string{"127.0.0.11", "node1.lab", "::1"}},
		},
		" db-1 = 10.0.0.5 , web2=web2.example.org ": {
			{Name: "db-1", Addrs: []string{"10.0.0.5"}},
			{Name: "web2", Addrs: []string{"web2.example.org"}},
		},
	}
	for in, want := range tests {
		got, err := pki.ParseHosts(in)
		if err != nil {
			t.Errorf("ParseHosts(%q): %v", in, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParseHosts(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func TestParseHosts_BadInputNamesEntryAndForm(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "no hosts given"},
		{"node1", `entry 1 "node1": no "="`},
		{"node1=127.0.0.11,", `entry 2 "": empty entry`},
		{"node1=127.0.0.11,,node2=127.0.0.12", `entry 2 "": empty entry`},
		{"=127.0.0.11", "empty name"},
		{"node1=", `entry 1 "node1=": empty address`},
		{"node1=127.0.0.11+", "empty address"},
		{"node_1=127.0.0.11", `node name "node_1": contains '_'`},
		{"-node=127.0.0.11", "starts or ends with '-'"},
		{"node1.lab=127.0.0.11", `node name "node1.lab"`},
		{strings.Repeat("n", 64) + "=127.0.0.11", "longer than 63"},
		{"node1=127.0.0.11,node1=127.0.0.12", `entry 2 "node1=127.0.0.12": node "node1" is listed twice`},
		{"node1=10.0.0.300", `address "10.0.0.300": not a valid IP address`},
		{"node1=fe80::1%eth0", `address "fe80::1%eth0": neither an IP address nor a DNS name`},
		{"node1=bad_host.lab", `address "bad_host.lab"`},
		{"node1=127.0.0.11;::1", `address "127.0.0.11;::1"`},
	}
	for _, tt := range tests {
		_, err := pki.ParseHosts(tt.in)
		if !errors.Is(err, pki.ErrBadHostsEntry) {
			t.Errorf("ParseHosts(%q) err = %v, want ErrBadHostsEntry", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "expected NAME=ADDR[+ADDR...]") {
			t.Errorf("ParseHosts(%q) err = %q, want it to mention %q and the expected form", tt.in, err, tt.want)
		}
	}
}
