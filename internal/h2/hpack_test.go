package h2

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// hexBytes decodes hex written as the RFC prints it, with spaces.
func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fields parses "name: value" lines; a leading "!" marks a never-indexed
// field.
func fields(lines ...string) []headerField {
	var out []headerField
	for _, l := range lines {
		f := headerField{}
		if strings.HasPrefix(l, "!") {
			f.sensitive = true
			l = l[1:]
		}
		i := strings.Index(l[1:], ": ") + 1
		f.name, f.value = l[:i], l[i+2:]
		out = append(out, f)
	}
	return out
}

// tableOf renders the dynamic table as the RFC lists it, newest first:
// "[1] (s = 55) custom-key: custom-header".
func tableOf(d *hpackDecoder) []string {
	var out []string
	for i := len(d.table.ents) - 1; i >= 0; i-- {
		f := d.table.ents[i]
		out = append(out, fmt.Sprintf("[%d] (s = %d) %s: %s", len(d.table.ents)-i, f.size(), f.name, f.value))
	}
	return append(out, fmt.Sprintf("Table size: %d", d.table.size))
}

type hpackStep struct {
	block string   // hex
	want  []string // "name: value"
	table []string // as tableOf prints it
}

func runHpackSteps(t *testing.T, d *hpackDecoder, steps []hpackStep) {
	t.Helper()
	for i, st := range steps {
		got, err := d.decode(nil, hexBytes(t, st.block))
		if err != nil {
			t.Fatalf("block %d: %v", i+1, err)
		}
		if want := fields(st.want...); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("block %d:\n got %v\nwant %v", i+1, got, want)
		}
		if got := tableOf(d); strings.Join(got, "\n") != strings.Join(st.table, "\n") {
			t.Errorf("block %d table:\n got %s\nwant %s", i+1, strings.Join(got, "\n     "), strings.Join(st.table, "\n     "))
		}
	}
}

// TestHpackAppendixC2 runs RFC 7541, Appendix C.2: single fields, one
// decoder each.
func TestHpackAppendixC2(t *testing.T) {
	t.Run("C.2.1/literal with indexing", func(t *testing.T) {
		runHpackSteps(t, newHpackDecoder(4096, 1<<16), []hpackStep{{
			"400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
			[]string{"custom-key: custom-header"},
			[]string{"[1] (s = 55) custom-key: custom-header", "Table size: 55"},
		}})
	})
	t.Run("C.2.2/literal without indexing", func(t *testing.T) {
		runHpackSteps(t, newHpackDecoder(4096, 1<<16), []hpackStep{{
			"040c 2f73 616d 706c 652f 7061 7468",
			[]string{":path: /sample/path"},
			[]string{"Table size: 0"},
		}})
	})
	t.Run("C.2.3/literal never indexed", func(t *testing.T) {
		runHpackSteps(t, newHpackDecoder(4096, 1<<16), []hpackStep{{
			"1008 7061 7373 776f 7264 0673 6563 7265 74",
			[]string{"!password: secret"},
			[]string{"Table size: 0"},
		}})
	})
	t.Run("C.2.4/indexed", func(t *testing.T) {
		runHpackSteps(t, newHpackDecoder(4096, 1<<16), []hpackStep{{
			"82", []string{":method: GET"}, []string{"Table size: 0"},
		}})
	})
}

var requestFields = [][]string{
	{":method: GET", ":scheme: http", ":path: /", ":authority: www.example.com"},
	{":method: GET", ":scheme: http", ":path: /", ":authority: www.example.com", "cache-control: no-cache"},
	{":method: GET", ":scheme: https", ":path: /index.html", ":authority: www.example.com", "custom-key: custom-value"},
}

var requestTables = [][]string{
	{"[1] (s = 57) :authority: www.example.com", "Table size: 57"},
	{"[1] (s = 53) cache-control: no-cache", "[2] (s = 57) :authority: www.example.com", "Table size: 110"},
	{"[1] (s = 54) custom-key: custom-value", "[2] (s = 53) cache-control: no-cache", "[3] (s = 57) :authority: www.example.com", "Table size: 164"},
}

// TestHpackAppendixC3C4 runs RFC 7541, Appendix C.3 (requests, raw
// strings) and C.4 (the same, Huffman-coded) on one decoder each.
func TestHpackAppendixC3C4(t *testing.T) {
	for _, tc := range []struct {
		name   string
		blocks []string
	}{
		{"C.3/requests without Huffman", []string{
			"8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
			"8286 84be 5808 6e6f 2d63 6163 6865",
			"8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
		}},
		{"C.4/requests with Huffman", []string{
			"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
			"8286 84be 5886 a8eb 1064 9cbf",
			"8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var steps []hpackStep
			for i, b := range tc.blocks {
				steps = append(steps, hpackStep{b, requestFields[i], requestTables[i]})
			}
			runHpackSteps(t, newHpackDecoder(4096, 1<<16), steps)
		})
	}
}

var responseFields = [][]string{
	{":status: 302", "cache-control: private", "date: Mon, 21 Oct 2013 20:13:21 GMT", "location: https://www.example.com"},
	{":status: 307", "cache-control: private", "date: Mon, 21 Oct 2013 20:13:21 GMT", "location: https://www.example.com"},
	{":status: 200", "cache-control: private", "date: Mon, 21 Oct 2013 20:13:22 GMT", "location: https://www.example.com",
		"content-encoding: gzip", "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"},
}

var responseTables = [][]string{
	{"[1] (s = 63) location: https://www.example.com", "[2] (s = 65) date: Mon, 21 Oct 2013 20:13:21 GMT",
		"[3] (s = 52) cache-control: private", "[4] (s = 42) :status: 302", "Table size: 222"},
	{"[1] (s = 42) :status: 307", "[2] (s = 63) location: https://www.example.com",
		"[3] (s = 65) date: Mon, 21 Oct 2013 20:13:21 GMT", "[4] (s = 52) cache-control: private", "Table size: 222"},
	{"[1] (s = 98) set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
		"[2] (s = 52) content-encoding: gzip", "[3] (s = 65) date: Mon, 21 Oct 2013 20:13:22 GMT", "Table size: 215"},
}

// TestHpackAppendixC5C6 runs RFC 7541, Appendix C.5 (responses, raw
// strings) and C.6 (Huffman-coded), with the table limited to 256 bytes so
// that entries are evicted.
func TestHpackAppendixC5C6(t *testing.T) {
	for _, tc := range []struct {
		name   string
		blocks []string
	}{
		{"C.5/responses without Huffman", []string{
			"4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
			"4803 3330 37c1 c0bf",
			"88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
		}},
		{"C.6/responses with Huffman", []string{
			"4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
			"4883 640e ffc1 c0bf",
			"88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newHpackDecoder(4096, 1<<16)
			d.table.setMax(256) // as if the encoder had sent a size update to 256
			var steps []hpackStep
			for i, b := range tc.blocks {
				steps = append(steps, hpackStep{b, responseFields[i], responseTables[i]})
			}
			runHpackSteps(t, d, steps)
		})
	}
}

// TestHpackEncoderAppendixC checks that the encoder, which never indexes,
// writes the Appendix C fields in a form the decoder reads back, Huffman
// where shorter, and that it matches the RFC's own bytes where the RFC
// uses the same representations (C.2.2, C.2.3, C.2.4).
func TestHpackEncoderAppendixC(t *testing.T) {
	for _, tc := range []struct {
		f    headerField
		want string
	}{
		{headerField{name: ":method", value: "GET"}, "82"},
		{headerField{name: ":scheme", value: "https"}, "87"},
		// The Huffman strings of C.4: a static name index, 4-bit prefix.
		{headerField{name: ":authority", value: "www.example.com"}, "018c f1e3 c2e5 f23a 6ba0 ab90 f4ff"},
		{headerField{name: "cache-control", value: "no-cache"}, "0f09 86a8 eb10 649c bf"},
		// A new name, never indexed when sensitive.
		{headerField{name: "custom-key", value: "custom-value"}, "0088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"},
		{headerField{name: "custom-key", value: "custom-value", sensitive: true}, "1088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"},
		// Raw when Huffman is not shorter.
		{headerField{name: "x", value: "\x00"}, "0001 7801 00"},
	} {
		got := appendField(nil, tc.f)
		if want := hexBytes(t, tc.want); string(got) != string(want) {
			t.Errorf("%v: % x, want % x", tc.f, got, want)
		}
	}
	for _, group := range append(append([][]string{}, requestFields...), responseFields...) {
		var block []byte
		want := fields(group...)
		for _, f := range want {
			block = appendField(block, f)
		}
		d := newHpackDecoder(4096, 1<<16)
		got, err := d.decode(nil, block)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) || len(d.table.ents) != 0 {
			t.Errorf("round trip of %v: %v, %v, table %v", want, got, err, d.table.ents)
		}
	}
}

func TestHpackInteger(t *testing.T) {
	// RFC 7541, Appendix C.1.
	for _, tc := range []struct {
		n    uint
		i    uint64
		wire string
	}{
		{5, 10, "0a"},       // C.1.1
		{5, 1337, "1f9a0a"}, // C.1.2
		{8, 42, "2a"},       // C.1.3
		{7, 127, "7f00"},    // boundary: exactly the prefix maximum
		{4, 1 << 28, "0ff1ffff7f"},
	} {
		got := appendInt(nil, tc.n, 0, tc.i)
		if hex.EncodeToString(got) != tc.wire {
			t.Errorf("appendInt(%d, %d) = %x, want %s", tc.n, tc.i, got, tc.wire)
		}
		i, rest, err := readInt(got, tc.n)
		if err != nil || i != tc.i || len(rest) != 0 {
			t.Errorf("readInt(%x) = %d, %x, %v", got, i, rest, err)
		}
	}
	for _, bad := range []string{"1f", "1f80", "1fffffffffff7f", "1f8080808080808001"} {
		if _, _, err := readInt(hexBytes(t, bad), 5); err == nil {
			t.Errorf("readInt(%s): no error", bad)
		}
	}
}

func TestHpackDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block string
		want  error
	}{
		{"index 0", "80", errHpackIndex},
		{"index past the tables", "be", errHpackIndex}, // 62, empty dynamic table
		{"name index past the tables", "7f00 0161", errHpackIndex},
		{"truncated string", "0003 6162", errHpackTruncated},
		{"truncated name", "00", errHpackTruncated},
		{"truncated integer", "ff", errHpackTruncated},
		{"integer overflow", "ffffffffffffff7f", errHpackInteger},
		{"size update above the limit", "3fe21f", errHpackTableSize}, // 4097
		{"size update after a field", "82 20", errHpackLateUpdate},
		{"bad Huffman padding", "0081 00 0161", errHuffmanPadding},
		{"Huffman EOS", "0084 ffff fffc 0161", errHuffmanEOS},
	} {
		d := newHpackDecoder(4096, 1<<16)
		if _, err := d.decode(nil, hexBytes(t, tc.block)); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestHpackTableSizeUpdates(t *testing.T) {
	d := newHpackDecoder(4096, 1<<16)
	block := hexBytes(t, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572") // 55 bytes
	if _, err := d.decode(nil, block); err != nil {
		t.Fatal(err)
	}
	// Two updates at the start of a block are allowed; 0 evicts everything.
	if _, err := d.decode(nil, append(hexBytes(t, "20 3f e1 1f"), 0x82)); err != nil {
		t.Fatal(err)
	}
	if len(d.table.ents) != 0 || d.table.max != 4096 {
		t.Fatalf("after updates to 0 and 4096: %v, max %d", d.table.ents, d.table.max)
	}
	// A field larger than the table empties it (RFC 7541, Section 4.4).
	d.decode(nil, block)
	d.decode(nil, hexBytes(t, "3f 11")) // max 48
	if len(d.table.ents) != 0 || d.table.size != 0 {
		t.Fatalf("55-byte entry in a 48-byte table: %v", d.table.ents)
	}
	d.decode(nil, block)
	if len(d.table.ents) != 0 {
		t.Fatalf("55-byte entry added to a 48-byte table: %v", d.table.ents)
	}
}

// TestHpackHeaderListLimit checks that fields past the limit are dropped
// while the table still follows the encoder, and that the error says so
// only after the whole block.
func TestHpackHeaderListLimit(t *testing.T) {
	d := newHpackDecoder(4096, 100)
	var block []byte
	block = append(block, 0x40)
	block = appendString(block, "big")
	block = appendString(block, strings.Repeat("v", 80)) // 115 bytes: over the limit, indexed anyway
	got, err := d.decode(nil, block)
	if err != errHeaderListTooLarge || len(got) != 0 {
		t.Fatalf("%v, %v; want errHeaderListTooLarge", got, err)
	}
	if len(d.table.ents) != 1 {
		t.Fatalf("table %v: the field must be indexed although dropped", d.table.ents)
	}
	// Indexed references amplify: 200 one-byte references to a 115-byte
	// entry would be 23 KB of fields; the limit keeps none of them.
	got, err = d.decode(nil, []byte(strings.Repeat("\xbe", 200)))
	if err != errHeaderListTooLarge || len(got) != 0 {
		t.Fatalf("%d fields, %v; want errHeaderListTooLarge", len(got), err)
	}
}

// FuzzHpackDecode checks that the decoder never panics, keeps its memory
// within the table and list limits, and that decode(encode(x)) == x for the
// fields it produced.
func FuzzHpackDecode(f *testing.F) {
	for _, s := range []string{
		"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
		"4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
		"4803 3330 37c1 c0bf",
		"1008 7061 7373 776f 7264 0673 6563 7265 74",
		"3fe21f", "20 82", "be", "ffffffffffffff7f",
	} {
		f.Add(hexBytes(f, s))
	}
	f.Fuzz(func(t *testing.T, block []byte) {
		const maxList = 4096
		d := newHpackDecoder(4096, maxList)
		// Two passes: the second sees the table the first left.
		for range 2 {
			got, err := d.decode(nil, block)
			if err != nil {
				if _, ok := err.(*ConnectionError); !ok && err != errHeaderListTooLarge {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
			}
			var size uint64
			for _, f := range got {
				size += f.size()
			}
			if size > maxList {
				t.Fatalf("kept %d bytes of fields, limit %d", size, maxList)
			}
			if d.table.size > d.table.max || d.table.max > 4096 {
				t.Fatalf("table size %d, max %d", d.table.size, d.table.max)
			}
			var enc []byte
			for _, f := range got {
				enc = appendField(enc, f)
			}
			back, err := newHpackDecoder(4096, 1<<20).decode(nil, enc)
			if err != nil || fmt.Sprint(back) != fmt.Sprint(got) {
				t.Fatalf("round trip: %v, %v; want %v", back, err, got)
			}
			if err != nil {
				return
			}
		}
	})
}

func BenchmarkHpackDecodeResponse(b *testing.B) {
	blocks := [][]byte{
		hexBytes(b, "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"),
		hexBytes(b, "4883 640e ffc1 c0bf"),
	}
	var dst []headerField
	b.ReportAllocs()
	for b.Loop() {
		d := newHpackDecoder(4096, 1<<16)
		d.table.setMax(256)
		for _, bl := range blocks {
			dst, _ = d.decode(dst[:0], bl)
		}
	}
}
