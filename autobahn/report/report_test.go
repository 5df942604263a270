package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const synthetic = `{
  "agent-a": {
    "1.1.1":  {"behavior": "OK", "behaviorClose": "OK", "duration": 2, "remoteCloseCode": 1000, "reportfile": "a_1_1_1.json"},
    "2.10":   {"behavior": "OK", "behaviorClose": "OK", "duration": 1, "remoteCloseCode": 1000, "reportfile": "a_2_10.json"},
    "2.9":    {"behavior": "NON-STRICT", "behaviorClose": "OK", "duration": 1, "remoteCloseCode": 1000, "reportfile": "a_2_9.json"},
    "6.4.3":  {"behavior": "INFORMATIONAL", "behaviorClose": "INFORMATIONAL", "duration": 3, "remoteCloseCode": null, "reportfile": "a_6_4_3.json"},
    "7.1.6":  {"behavior": "INFORMATIONAL", "behaviorClose": "WRONG CODE", "duration": 4, "remoteCloseCode": 1002, "reportfile": "a_7_1_6.json"},
    "9.1.1":  {"behavior": "OK", "behaviorClose": "OK", "duration": 120, "remoteCloseCode": 1000, "reportfile": "a_9_1_1.json"},
    "12.1.1": {"behavior": "UNIMPLEMENTED", "behaviorClose": "UNIMPLEMENTED", "duration": 0, "remoteCloseCode": null, "reportfile": "a_12_1_1.json"},
    "5.1":    {"behavior": "FAILED", "behaviorClose": "OK", "duration": 5, "remoteCloseCode": 1000, "reportfile": "a_5_1.json"}
  }
}`

func writeIndex(t *testing.T, dir, body string) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), dir)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(d, "index.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClassification(t *testing.T) {
	idx, err := Load(writeIndex(t, "servers", synthetic))
	if err != nil {
		t.Fatal(err)
	}
	cases := Cases("x", idx)
	if len(cases) != 8 {
		t.Fatalf("got %d cases, want 8", len(cases))
	}
	// Numeric ordering: 2.9 before 2.10, 9.x before 12.x.
	var ids []string
	for _, c := range cases {
		ids = append(ids, c.ID)
	}
	if got, want := strings.Join(ids, " "), "1.1.1 2.9 2.10 5.1 6.4.3 7.1.6 9.1.1 12.1.1"; got != want {
		t.Errorf("order = %q, want %q", got, want)
	}

	wantPass := map[string]bool{
		"1.1.1": true, "2.10": true, "6.4.3": true, "9.1.1": true,
		"2.9": false, "7.1.6": false, "12.1.1": false, "5.1": false,
	}
	for _, c := range cases {
		if c.Passed() != wantPass[c.ID] {
			t.Errorf("%s: Passed() = %v, want %v", c.ID, c.Passed(), wantPass[c.ID])
		}
	}
	if p, f := Summary(cases); p != 4 || f != 4 {
		t.Errorf("Summary = %d passed, %d failed; want 4, 4", p, f)
	}

	tally := Tally(cases)
	if k := tally[2]; k == nil || k.Behavior[OK] != 1 || k.Behavior[NonStrict] != 1 || k.Passed != 1 || k.Failed != 1 {
		t.Errorf("section 2 tally = %+v", tally[2])
	}
	if k := tally[7]; k == nil || k.Behavior[Informational] != 1 || k.BehaviorClose[other] != 1 {
		t.Errorf("section 7 tally = %+v", tally[7])
	}
	if k := tally[12]; k == nil || k.Behavior[Unimplemented] != 1 || k.Failed != 1 {
		t.Errorf("section 12 tally = %+v", tally[12])
	}
	if Section("13.7.18") != 13 || Section("x") != -1 {
		t.Errorf("Section parsing wrong")
	}
}

func TestRunOutputAndExit(t *testing.T) {
	var buf bytes.Buffer
	code := run(&buf, []string{writeIndex(t, "servers", synthetic)})
	out := buf.String()
	if code != 1 {
		t.Errorf("exit = %d, want 1 with failures", code)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if last := lines[len(lines)-1]; last != "4 passed, 4 failed" {
		t.Errorf("last line = %q", last)
	}
	for _, want := range []string{"FAIL 2.9 behavior=NON-STRICT", "FAIL 12.1.1 behavior=UNIMPLEMENTED", "FAIL 7.1.6 behavior=INFORMATIONAL behaviorClose=WRONG CODE", "9.1.1=120ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	buf.Reset()
	allOK := `{"a": {"1.1.1": {"behavior": "OK", "behaviorClose": "OK", "duration": 1, "remoteCloseCode": 1000, "reportfile": "f"}}}`
	if code := run(&buf, []string{writeIndex(t, "clients", allOK)}); code != 0 {
		t.Errorf("all OK: exit = %d, want 0:\n%s", code, buf.String())
	}
	if !strings.HasSuffix(buf.String(), "\n1 passed, 0 failed\n") {
		t.Errorf("all OK: output ends %q", buf.String())
	}

	buf.Reset()
	if code := run(&buf, []string{writeIndex(t, "clients", `{}`)}); code != 1 {
		t.Errorf("empty index: exit = %d, want 1", code)
	}
	buf.Reset()
	if code := run(&buf, []string{filepath.Join(t.TempDir(), "missing.json")}); code != 1 {
		t.Errorf("missing file: exit = %d, want 1", code)
	}
}
