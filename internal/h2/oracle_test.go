package h2

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// oracleHeader returns the response fields the handler sets for request
// i: a mix of names and values that repeat across requests (so that
// net/http's encoder indexes them and refers to its dynamic table),
// values long enough to evict entries, and fresh random ones, all
// Huffman-coded by net/http where that is shorter.
func oracleHeader(i int) http.Header {
	r := rand.New(rand.NewPCG(uint64(i), 99))
	h := http.Header{}
	const printable = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
	value := func(n int) string {
		b := make([]byte, n)
		for j := range b {
			b[j] = printable[r.IntN(len(printable))]
		}
		return strings.TrimSpace(string(b))
	}
	for j := range 1 + r.IntN(12) {
		var name, v string
		switch r.IntN(4) {
		case 0: // a name and value seen before
			k := r.IntN(8)
			name, v = "x-common-"+strconv.Itoa(k), "value-"+strconv.Itoa(k)
		case 1: // a known name, a new value
			name, v = "x-common-"+strconv.Itoa(r.IntN(8)), value(r.IntN(40))
		case 2: // large: evicts
			name, v = "x-large-"+strconv.Itoa(j), value(500+r.IntN(1500))
		default:
			name, v = fmt.Sprintf("x-%d-%d", i, j), value(r.IntN(100))
		}
		h.Add(name, v)
	}
	return h
}

// TestHpackOracle checks the decoder against net/http's encoder: one
// connection, many requests, random response fields that exercise the
// dynamic table (insertions, references, evictions) and Huffman coding.
func TestHpackOracle(t *testing.T) {
	srv := newServer(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		for k, vs := range oracleHeader(i) {
			w.Header()[k] = vs
		}
		w.WriteHeader(http.StatusOK)
	}))
	cc := srv.clientConn(t, nil)
	const n = 300
	for i := range n {
		s := open(t, cc, srv.request("/"+strconv.Itoa(i)))
		want := oracleHeader(i)
		got := s.Response().Header
		for k, vs := range want {
			if !slices.Equal(got[textproto.CanonicalMIMEHeaderKey(k)], vs) {
				t.Fatalf("request %d, %s: got %q, want %q", i, k, got[k], vs)
			}
		}
		for k := range got {
			if strings.HasPrefix(k, "X-") && want[k] == nil {
				t.Fatalf("request %d: extra field %s", i, k)
			}
		}
		s.Close()
	}
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("%d connections", n)
	}
	cc.Close()
	if len(cc.rd.dec.table.ents) == 0 {
		t.Fatal("net/http's encoder left the dynamic table empty: the test exercised nothing")
	}
}
