package h2

import "errors"

// This file is pure: HPACK (RFC 7541), the decoder a client needs for
// every response, and an encoder that never touches the dynamic table.

// headerField is one decoded field (RFC 7541, Section 1.3). Sensitive is
// set for a field sent as "never indexed" (Section 6.2.3), and makes the
// encoder send it that way.
type headerField struct {
	name, value string
	sensitive   bool
}

// size is the field's size as the dynamic table counts it (RFC 7541,
// Section 4.1) and as SETTINGS_MAX_HEADER_LIST_SIZE does (RFC 9113,
// Section 6.5.2).
func (f headerField) size() uint64 { return uint64(len(f.name)) + uint64(len(f.value)) + 32 }

// Decoding errors: each is a COMPRESSION_ERROR connection error (RFC 9113,
// Section 4.3), since a decoder that stopped part-way no longer shares the
// peer's dynamic table.
var (
	errHpackTruncated  = connErr(ErrCodeCompression, "HPACK: header block ends inside a field")
	errHpackInteger    = connErr(ErrCodeCompression, "HPACK: integer overflow")
	errHpackIndex      = connErr(ErrCodeCompression, "HPACK: index out of range")
	errHpackTableSize  = connErr(ErrCodeCompression, "HPACK: dynamic table size update above SETTINGS_HEADER_TABLE_SIZE")
	errHpackLateUpdate = connErr(ErrCodeCompression, "HPACK: dynamic table size update after a header field")
)

// errHeaderListTooLarge is what decode returns, after decoding the whole
// block, when the fields add up to more than the header list limit. The
// decoder's state is intact, so the caller can reset only the stream.
var errHeaderListTooLarge = errors.New("header list larger than SETTINGS_MAX_HEADER_LIST_SIZE")

// maxIntShift caps the continuation bytes of an HPACK integer: 4 of them
// reach 2^28 beyond the prefix, more than any length or index here needs.
const maxIntShift = 28

// readInt decodes an integer with an n-bit prefix from the start of p
// (RFC 7541, Section 5.1) and returns it with the rest of p.
func readInt(p []byte, n uint) (uint64, []byte, error) {
	if len(p) == 0 {
		return 0, p, errHpackTruncated
	}
	max := uint64(1)<<n - 1
	i := uint64(p[0]) & max
	p = p[1:]
	if i < max {
		return i, p, nil
	}
	for shift := uint(0); len(p) > 0; shift += 7 {
		if shift > maxIntShift {
			return 0, p, errHpackInteger
		}
		b := p[0]
		p = p[1:]
		i += uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return i, p, nil
		}
	}
	return 0, p, errHpackTruncated
}

// appendInt appends i with an n-bit prefix whose high bits are those of
// first (RFC 7541, Section 5.1).
func appendInt(dst []byte, n uint, first byte, i uint64) []byte {
	max := uint64(1)<<n - 1
	if i < max {
		return append(dst, first|byte(i))
	}
	dst = append(dst, first|byte(max))
	for i -= max; i >= 0x80; i >>= 7 {
		dst = append(dst, byte(i)|0x80)
	}
	return append(dst, byte(i))
}

// dynamicTable is the decoder's dynamic table (RFC 7541, Section 2.3.2):
// the newest entry is the last of ents, and has index 62.
type dynamicTable struct {
	ents []headerField
	size uint64 // sum of the entries' sizes
	max  uint64 // from the latest size update
}

// add inserts f, evicting the oldest entries to make room; a field larger
// than the table empties it and is not inserted (RFC 7541, Section 4.4).
func (t *dynamicTable) add(f headerField) {
	f.sensitive = false
	if f.size() > t.max {
		t.evict(len(t.ents))
		return
	}
	t.evictTo(t.max - f.size())
	t.ents = append(t.ents, f)
	t.size += f.size()
}

// setMax applies a dynamic table size update (RFC 7541, Section 4.3).
func (t *dynamicTable) setMax(n uint64) {
	t.max = n
	t.evictTo(n)
}

// evictTo evicts the oldest entries until the table holds at most n.
func (t *dynamicTable) evictTo(n uint64) {
	k := 0
	for size := t.size; size > n; k++ {
		size -= t.ents[k].size()
	}
	t.evict(k)
}

// evict drops the k oldest entries, in place: the table holds at most
// 4096/32 entries, so the copy is small and no memory is retained.
func (t *dynamicTable) evict(k int) {
	for _, f := range t.ents[:k] {
		t.size -= f.size()
	}
	n := copy(t.ents, t.ents[k:])
	clear(t.ents[n:])
	t.ents = t.ents[:n]
}

// hpackDecoder decodes header blocks (RFC 7541, Section 3). One decoder
// serves a connection; blocks must be decoded in the order they arrive.
type hpackDecoder struct {
	table        dynamicTable
	maxTableSize uint64 // the SETTINGS_HEADER_TABLE_SIZE this endpoint sent
	maxListSize  uint64 // decode fails beyond this (RFC 9113, Section 6.5.2)
	buf          []byte // scratch for Huffman decoding
}

func newHpackDecoder(maxTableSize, maxListSize uint32) *hpackDecoder {
	return &hpackDecoder{
		table:        dynamicTable{max: uint64(maxTableSize)},
		maxTableSize: uint64(maxTableSize),
		maxListSize:  uint64(maxListSize),
	}
}

// decode decodes one complete header block and appends its fields to dst.
// Memory stays bounded by the block, the table and the header list limit:
// past the limit, fields are decoded (the table must stay in step) but
// not kept, and decode returns errHeaderListTooLarge at the end.
func (d *hpackDecoder) decode(dst []headerField, block []byte) ([]headerField, error) {
	var listSize uint64
	fieldSeen := false
	for len(block) > 0 {
		var (
			f   headerField
			err error
		)
		b := block[0]
		switch {
		case b&0x80 != 0: // indexed field (Section 6.1)
			var i uint64
			if i, block, err = readInt(block, 7); err != nil {
				return dst, err
			}
			var ok bool
			if f, ok = d.at(i); !ok {
				return dst, errHpackIndex
			}
		case b&0xc0 == 0x40: // literal with incremental indexing (Section 6.2.1)
			if f, block, err = d.literal(block, 6); err != nil {
				return dst, err
			}
			d.table.add(f)
		case b&0xe0 == 0x20: // dynamic table size update (Section 6.3)
			// "This dynamic table size update MUST occur at the beginning
			// of the first header block following the change" (Section
			// 4.2): one after a field is an error.
			if fieldSeen {
				return dst, errHpackLateUpdate
			}
			var n uint64
			if n, block, err = readInt(block, 5); err != nil {
				return dst, err
			}
			if n > d.maxTableSize {
				return dst, errHpackTableSize
			}
			d.table.setMax(n)
			continue
		default: // literal without indexing or never indexed (Sections 6.2.2, 6.2.3)
			if f, block, err = d.literal(block, 4); err != nil {
				return dst, err
			}
			f.sensitive = b&0x10 != 0
		}
		fieldSeen = true
		if listSize += f.size(); listSize <= d.maxListSize {
			dst = append(dst, f)
		}
	}
	if listSize > d.maxListSize {
		return dst, errHeaderListTooLarge
	}
	return dst, nil
}

// at returns the field at index i of the static and dynamic tables
// together (RFC 7541, Section 2.3.3).
func (d *hpackDecoder) at(i uint64) (headerField, bool) {
	if i == 0 {
		return headerField{}, false
	}
	if i <= uint64(len(staticTable)) {
		return staticTable[i-1], true
	}
	i -= uint64(len(staticTable))
	if i > uint64(len(d.table.ents)) {
		return headerField{}, false
	}
	return d.table.ents[uint64(len(d.table.ents))-i], true
}

// literal decodes a literal field representation whose name index has an
// n-bit prefix (RFC 7541, Section 6.2).
func (d *hpackDecoder) literal(p []byte, n uint) (headerField, []byte, error) {
	var f headerField
	i, p, err := readInt(p, n)
	if err != nil {
		return f, p, err
	}
	if i == 0 {
		if f.name, p, err = d.readString(p); err != nil {
			return f, p, err
		}
	} else {
		nf, ok := d.at(i)
		if !ok {
			return f, p, errHpackIndex
		}
		f.name = nf.name
	}
	f.value, p, err = d.readString(p)
	return f, p, err
}

// readString decodes a string literal (RFC 7541, Section 5.2).
func (d *hpackDecoder) readString(p []byte) (string, []byte, error) {
	if len(p) == 0 {
		return "", p, errHpackTruncated
	}
	huff := p[0]&0x80 != 0
	n, p, err := readInt(p, 7)
	if err != nil {
		return "", p, err
	}
	if n > uint64(len(p)) {
		return "", p, errHpackTruncated
	}
	raw, p := p[:n], p[n:]
	if !huff {
		return string(raw), p, nil
	}
	// A Huffman code is at least 5 bits a byte, so the output is at most
	// 8/5 of the input, which the block size bounds.
	d.buf, err = huffmanDecode(d.buf[:0], raw, len(raw)*8/5+1)
	if err != nil {
		return "", p, err
	}
	return string(d.buf), p, nil
}

// appendField appends f in a representation that leaves the dynamic table
// alone: indexed when the static table holds the whole field, else a
// literal without indexing ("never indexed" when f is sensitive, RFC 7541,
// Section 6.2.3) that names a static entry when one has the name. Strings
// are Huffman-coded when that is shorter.
func appendField(dst []byte, f headerField) []byte {
	if !f.sensitive {
		if i := staticPairIndex[[2]string{f.name, f.value}]; i != 0 {
			return appendInt(dst, 7, 0x80, uint64(i))
		}
	}
	var first byte // 0000: without indexing
	if f.sensitive {
		first = 0x10 // 0001: never indexed
	}
	if i := staticNameIndex[f.name]; i != 0 {
		dst = appendInt(dst, 4, first, uint64(i))
	} else {
		dst = append(dst, first)
		dst = appendString(dst, f.name)
	}
	return appendString(dst, f.value)
}

// appendTableSizeUpdate appends a dynamic table size update (RFC 7541,
// Section 6.3).
func appendTableSizeUpdate(dst []byte, n uint32) []byte {
	return appendInt(dst, 5, 0x20, uint64(n))
}

// appendString appends a string literal, Huffman-coded when shorter.
func appendString(dst []byte, s string) []byte {
	if h := huffmanLen(s); h < len(s) {
		dst = appendInt(dst, 7, 0x80, uint64(h))
		return appendHuffman(dst, s)
	}
	dst = appendInt(dst, 7, 0, uint64(len(s)))
	return append(dst, s...)
}

// staticTable is RFC 7541, Appendix A; entry i has index i+1.
var staticTable = [...]headerField{
	{name: ":authority"},
	{name: ":method", value: "GET"},
	{name: ":method", value: "POST"},
	{name: ":path", value: "/"},
	{name: ":path", value: "/index.html"},
	{name: ":scheme", value: "http"},
	{name: ":scheme", value: "https"},
	{name: ":status", value: "200"},
	{name: ":status", value: "204"},
	{name: ":status", value: "206"},
	{name: ":status", value: "304"},
	{name: ":status", value: "400"},
	{name: ":status", value: "404"},
	{name: ":status", value: "500"},
	{name: "accept-charset"},
	{name: "accept-encoding", value: "gzip, deflate"},
	{name: "accept-language"},
	{name: "accept-ranges"},
	{name: "accept"},
	{name: "access-control-allow-origin"},
	{name: "age"},
	{name: "allow"},
	{name: "authorization"},
	{name: "cache-control"},
	{name: "content-disposition"},
	{name: "content-encoding"},
	{name: "content-language"},
	{name: "content-length"},
	{name: "content-location"},
	{name: "content-range"},
	{name: "content-type"},
	{name: "cookie"},
	{name: "date"},
	{name: "etag"},
	{name: "expect"},
	{name: "expires"},
	{name: "from"},
	{name: "host"},
	{name: "if-match"},
	{name: "if-modified-since"},
	{name: "if-none-match"},
	{name: "if-range"},
	{name: "if-unmodified-since"},
	{name: "last-modified"},
	{name: "link"},
	{name: "location"},
	{name: "max-forwards"},
	{name: "proxy-authenticate"},
	{name: "proxy-authorization"},
	{name: "range"},
	{name: "referer"},
	{name: "refresh"},
	{name: "retry-after"},
	{name: "server"},
	{name: "set-cookie"},
	{name: "strict-transport-security"},
	{name: "transfer-encoding"},
	{name: "user-agent"},
	{name: "vary"},
	{name: "via"},
	{name: "www-authenticate"},
}

// staticNameIndex maps a name to its first static index, staticPairIndex a
// name and value to theirs.
var (
	staticNameIndex = map[string]uint8{}
	staticPairIndex = map[[2]string]uint8{}
)

func init() {
	for i, f := range staticTable {
		if _, ok := staticNameIndex[f.name]; !ok {
			staticNameIndex[f.name] = uint8(i + 1)
		}
		if f.value != "" {
			staticPairIndex[[2]string{f.name, f.value}] = uint8(i + 1)
		}
	}
}
