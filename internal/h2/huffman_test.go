package h2

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestHuffmanTableMatchesRFC checks the tables against RFC 7541, Appendix
// B (testdata/rfc7541-huffman.txt: symbol, code in hex, length, as the RFC
// prints them), and then the canonical properties the decoder relies on:
// recomputed from the lengths alone, codes of one length are consecutive
// in symbol order and each length starts where the shorter one left off;
// the code is complete (Kraft sum 1); EOS is the only 30-bit all-ones code.
func TestHuffmanTableMatchesRFC(t *testing.T) {
	f, err := os.Open("testdata/rfc7541-huffman.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sym, _ := strconv.Atoi(fields[0])
		code, _ := strconv.ParseUint(fields[1], 16, 32)
		length, _ := strconv.Atoi(fields[2])
		if sym != n || huffmanCodes[sym] != uint32(code) || huffmanLengths[sym] != uint8(length) {
			t.Errorf("symbol %d: table has %#x/%d, RFC %#x/%d", sym, huffmanCodes[n], huffmanLengths[n], code, length)
		}
		n++
	}
	if n != 257 {
		t.Fatalf("RFC table has %d symbols, want 257", n)
	}

	// Canonical recomputation, in (length, symbol) order.
	code, prevLen := uint32(0), uint8(0)
	first := true
	for l := uint8(1); l <= 30; l++ {
		for s := 0; s < 257; s++ {
			if huffmanLengths[s] != l {
				continue
			}
			if !first {
				code = (code + 1) << (l - prevLen)
			} else {
				code <<= l - 1
				first = false
			}
			prevLen = l
			if huffmanCodes[s] != code {
				t.Errorf("symbol %d: code %#x, canonical %#x", s, huffmanCodes[s], code)
			}
		}
	}
	var kraft float64
	for _, l := range huffmanLengths {
		kraft += 1 / float64(uint64(1)<<l)
	}
	if kraft != 1 {
		t.Errorf("Kraft sum %v, want 1 (a complete code)", kraft)
	}
	if huffmanCodes[256] != 1<<30-1 || huffmanLengths[256] != 30 {
		t.Errorf("EOS is %#x/%d", huffmanCodes[256], huffmanLengths[256])
	}
}

func TestHuffmanRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	inputs := []string{"", "a", "www.example.com", "no-cache", "custom-key", "\x00\xff\x7f\x80\n\r\x16"}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	inputs = append(inputs, string(all))
	for range 200 {
		b := make([]byte, r.IntN(100))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		inputs = append(inputs, string(b))
	}
	for _, s := range inputs {
		enc := appendHuffman(nil, s)
		if len(enc) != huffmanLen(s) {
			t.Fatalf("%q: huffmanLen %d, encoded %d", s, huffmanLen(s), len(enc))
		}
		dec, err := huffmanDecode(nil, enc, len(s))
		if err != nil || string(dec) != s {
			t.Fatalf("%q: decoded %q, %v", s, dec, err)
		}
	}
}

func TestHuffmanDecodeErrors(t *testing.T) {
	eos := appendHuffman(nil, "a")[:0]
	eos = append(eos, 0xff, 0xff, 0xff, 0xfc) // 30 one-bits then two zero-bits
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		// RFC 7541, Section 5.2: "A padding strictly longer than 7 bits
		// MUST be treated as a decoding error."
		{"8 bits of padding", []byte{0xff}, errHuffmanPadding},
		{"padding of zeros", []byte{0x18}, errHuffmanPadding},          // 'a' 00011 then 000
		{"'a' then 8 one-bits", []byte{0x1f, 0xff}, errHuffmanPadding}, // 00011 111|11111111
		// "A padding not corresponding to the most significant bits of the
		// code for the EOS symbol MUST be treated as a decoding error."
		{"padding 110", []byte{0x1e}, errHuffmanPadding},
		// "A Huffman-encoded string literal containing the EOS symbol MUST
		// be treated as a decoding error."
		{"EOS", eos, errHuffmanEOS},
	}
	for _, tt := range tests {
		_, err := huffmanDecode(nil, tt.in, 100)
		if err != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := huffmanDecode(nil, appendHuffman(nil, "abcdef"), 3); err != errStringTooLong {
		t.Errorf("limit: %v, want errStringTooLong", err)
	}
	// 'a' plus 3 one-bits of padding is fine.
	if got, err := huffmanDecode(nil, []byte{0x1f}, 10); err != nil || !bytes.Equal(got, []byte("a")) {
		t.Errorf("'a' padded: %q, %v", got, err)
	}
}

func BenchmarkHuffmanDecode(b *testing.B) {
	enc := appendHuffman(nil, "Mon, 21 Oct 2013 20:13:21 GMT; https://www.example.com/index.html")
	var dst []byte
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = huffmanDecode(dst[:0], enc, 1000)
	}
}
