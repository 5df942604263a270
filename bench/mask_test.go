package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"os"
	"testing"
	"unsafe"

	"github.com/ccf874ba/websocket/bench/internal/peermask"
	"github.com/gobwas/ws"
)

// funcSource returns the parameter list, results and body of the named
// top-level function of a Go file, as written in the file.
func funcSource(t *testing.T, path, name string) string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv != nil || fd.Name.Name != name {
			continue
		}
		start := fset.Position(fd.Type.Params.Pos()).Offset
		end := fset.Position(fd.Body.End()).Offset
		return string(src[start:end])
	}
	t.Fatalf("%s: no function %s", path, name)
	return ""
}

// TestOurMaskInSync fails when ourMask is no longer a copy of the library's
// mask, so the mask benchmarks measure the library's current code.
func TestOurMaskInSync(t *testing.T) {
	lib := funcSource(t, "../mask.go", "mask")
	copy := funcSource(t, "ourmask.go", "ourMask")
	if lib != copy {
		t.Fatalf("ourMask in ourmask.go differs from mask in ../mask.go; copy the function again.\nlibrary:\n%s\n\ncopy:\n%s", lib, copy)
	}
}

type maskImpl struct {
	name string
	// mask masks b from key phase 0 with key, given both ways.
	mask func(b []byte, key uint32, k [4]byte)
}

// byteLoop is the naive reference.
func byteLoop(b []byte, k [4]byte) {
	for i := range b {
		b[i] ^= k[i&3]
	}
}

var maskImpls = []maskImpl{
	{"ours", func(b []byte, key uint32, _ [4]byte) { ourMask(b, key) }},
	{"gorilla", func(b []byte, _ uint32, k [4]byte) { peermask.GorillaMaskBytes(k, 0, b) }},
	{"coder", func(b []byte, key uint32, _ [4]byte) { peermask.CoderMaskGo(b, key) }},
	{"gobwas", func(b []byte, _ uint32, k [4]byte) { ws.Cipher(b, k, 0) }},
	{"gws", func(b []byte, _ uint32, k [4]byte) { peermask.GwsMaskXOR(b, k[:]) }},
	{"byteloop", func(b []byte, _ uint32, k [4]byte) { byteLoop(b, k) }},
}

var maskSizes = []int{16, 125, 1 << 10, 64 << 10, 1 << 20}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// alignedBuf returns n bytes starting at offset off from a 64-byte
// boundary.
func alignedBuf(n, off int) []byte {
	raw := make([]byte, n+128)
	a := int(uintptr(unsafe.Pointer(&raw[0])) & 63)
	start := (64-a)&63 + off
	return raw[start : start+n : start+n]
}

// TestMaskImplsAgree checks every implementation against the byte loop, so
// the benchmark compares routines that all do the job.
func TestMaskImplsAgree(t *testing.T) {
	for _, n := range []int{0, 1, 3, 7, 8, 15, 16, 17, 63, 64, 65, 125, 127, 128, 129, 1000, 4096, 65537} {
		for off := 0; off < 8; off++ {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(rand.IntN(256))
			}
			k := [4]byte{0x12, 0x34, 0x56, 0x78}
			key := binary.LittleEndian.Uint32(k[:])
			want := bytes.Clone(src)
			byteLoop(want, k)
			for _, im := range maskImpls {
				b := alignedBuf(n, off)
				copy(b, src)
				im.mask(b, key, k)
				if !bytes.Equal(b, want) {
					t.Errorf("%s: size %d offset %d: wrong result", im.name, n, off)
				}
			}
		}
	}
}

// BenchmarkMask measures every masking routine, and copy as the bandwidth
// reference, for each size, on a 64-byte aligned buffer and one starting
// one byte past it.
func BenchmarkMask(b *testing.B) {
	k := [4]byte{0x12, 0x34, 0x56, 0x78}
	key := binary.LittleEndian.Uint32(k[:])
	for _, n := range maskSizes {
		for _, align := range []struct {
			name string
			off  int
		}{{"aligned", 0}, {"unaligned", 1}} {
			for _, im := range maskImpls {
				b.Run(sizeName(n)+"/"+align.name+"/"+im.name, func(b *testing.B) {
					buf := alignedBuf(n, align.off)
					b.SetBytes(int64(n))
					for b.Loop() {
						im.mask(buf, key, k)
					}
				})
			}
			b.Run(sizeName(n)+"/"+align.name+"/copy", func(b *testing.B) {
				buf := alignedBuf(n, align.off)
				dst := alignedBuf(n, align.off)
				b.SetBytes(int64(n))
				for b.Loop() {
					copy(dst, buf)
				}
			})
		}
	}
}
