//go:build !js

package wasmtest

import (
	"bufio"
	"bytes"
	"go/constant"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const modulePath = "github.com/ccf874ba/websocket"

// TestJSAPI checks the promise of the js build: its exported API is a
// subset of the native one, with the same names and the same signatures,
// constants of the same value and struct types with the same exported
// fields, both ways, so that code written against either builds against
// the other wherever it uses only what both have. It reads the compiler's
// export data of both builds, and logs what the js build leaves out.
func TestJSAPI(t *testing.T) {
	native := loadPackage(t, runtime.GOOS, runtime.GOARCH)
	js := loadPackage(t, "js", "wasm")
	qual := func(p *types.Package) string {
		if p.Path() == modulePath {
			return ""
		}
		return p.Path()
	}
	str := func(typ types.Type) string { return types.TypeString(typ, qual) }

	for _, name := range js.Scope().Names() {
		jo := js.Scope().Lookup(name)
		if !jo.Exported() {
			continue
		}
		no := native.Scope().Lookup(name)
		if no == nil {
			t.Errorf("%s: exported by the js build only", name)
			continue
		}
		if js, nt := str(jo.Type()), str(no.Type()); js != nt {
			t.Errorf("%s: js %s, native %s", name, js, nt)
			continue
		}
		switch jo := jo.(type) {
		case *types.Const:
			if nv := no.(*types.Const).Val(); !constant.Compare(jo.Val(), token.EQL, nv) {
				t.Errorf("%s: js %v, native %v", name, jo.Val(), nv)
			}
		case *types.TypeName:
			compareType(t, name, jo.Type(), no.Type(), str)
		}
	}
	var left []string
	for _, name := range native.Scope().Names() {
		if o := native.Scope().Lookup(name); o.Exported() && js.Scope().Lookup(name) == nil {
			left = append(left, name)
		}
	}
	t.Logf("native only: %s", strings.Join(left, ", "))
}

// compareType compares the methods and, for structs, the exported fields
// of the type name in both builds.
func compareType(t *testing.T, name string, jt, nt types.Type, str func(types.Type) string) {
	t.Helper()
	for _, ptr := range []bool{false, true} {
		jm, nm := methods(jt, ptr), methods(nt, ptr)
		var left []string
		for m, sig := range jm {
			switch nsig, ok := nm[m]; {
			case !ok:
				t.Errorf("%s.%s: a method of the js build only", name, m)
			case sig != nsig:
				t.Errorf("%s.%s: js %s, native %s", name, m, sig, nsig)
			}
		}
		for m := range nm {
			if _, ok := jm[m]; !ok {
				left = append(left, m)
			}
		}
		if len(left) > 0 && ptr {
			slices.Sort(left)
			t.Logf("*%s: native only: %s", name, strings.Join(left, ", "))
		}
	}
	js, jok := jt.Underlying().(*types.Struct)
	ns, nok := nt.Underlying().(*types.Struct)
	if !jok || !nok {
		if a, b := str(jt.Underlying()), str(nt.Underlying()); a != b {
			t.Errorf("%s: js is %s, native %s", name, a, b)
		}
		return
	}
	jf, nf := fields(js, str), fields(ns, str)
	if !slices.Equal(jf, nf) {
		t.Errorf("%s: exported fields differ:\n  js:     %s\n  native: %s", name, strings.Join(jf, "; "), strings.Join(nf, "; "))
	}
}

func methods(typ types.Type, ptr bool) map[string]string {
	if ptr {
		typ = types.NewPointer(typ)
	}
	ms := types.NewMethodSet(typ)
	out := map[string]string{}
	for i := range ms.Len() {
		f := ms.At(i).Obj()
		if f.Exported() {
			out[f.Name()] = types.TypeString(f.Type(), func(p *types.Package) string {
				if p.Path() == modulePath {
					return ""
				}
				return p.Path()
			})
		}
	}
	return out
}

func fields(s *types.Struct, str func(types.Type) string) []string {
	var out []string
	for i := range s.NumFields() {
		f := s.Field(i)
		if !f.Exported() {
			continue
		}
		emb := ""
		if f.Embedded() {
			emb = " (embedded)"
		}
		out = append(out, f.Name()+" "+str(f.Type())+emb+" `"+s.Tag(i)+"`")
	}
	return out
}

// loadPackage returns the websocket package as the compiler sees it for
// GOOS and GOARCH, from the export data that go list -export writes.
func loadPackage(t *testing.T, goos, goarch string) *types.Package {
	t.Helper()
	cmd := exec.Command(goTool(t), "list", "-deps", "-export", "-f", "{{.ImportPath}} {{.Export}}", modulePath)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("GOOS=%s GOARCH=%s go list -export: %v\n%s", goos, goarch, err, stderr.Bytes())
	}
	export := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if path, file, ok := strings.Cut(sc.Text(), " "); ok && file != "" {
			export[path] = file
		}
	}
	imp := importer.ForCompiler(token.NewFileSet(), "gc", func(path string) (io.ReadCloser, error) {
		return os.Open(export[path])
	})
	pkg, err := imp.Import(modulePath)
	if err != nil {
		t.Fatalf("GOOS=%s: importing %s: %v", goos, modulePath, err)
	}
	return pkg
}
