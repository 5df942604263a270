package h2

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestHostileConnectionErrors runs servers that break RFC 9113 in ways
// that must end the connection with a named ConnectionError and a GOAWAY
// carrying its code. Each script runs after the server's SETTINGS (with
// the extended CONNECT enabled, unless the script sends its own) and the
// client's HEADERS for stream 1.
func TestHostileConnectionErrors(t *testing.T) {
	status200 := headerField{name: ":status", value: "200"}
	repeat := func(n int, frame []byte) []byte { return bytes.Repeat(frame, n) }
	for _, tc := range []struct {
		name     string
		cfg      *Config
		settings bool // the script sends the first SETTINGS itself
		script   func(f *fake)
		want     *ConnectionError
	}{
		{"3.4/first frame not SETTINGS", nil, true, func(f *fake) {
			f.frame(framePing, 0, 0, make([]byte, 8))
		}, errNoPreface},
		{"6.5.2/ENABLE_PUSH 1", nil, true, func(f *fake) {
			f.settings(setting{settingEnablePush, 1})
		}, errEnablePush},
		{"6.5.2/INITIAL_WINDOW_SIZE 2^31", nil, true, func(f *fake) {
			f.settings(setting{settingInitialWindowSize, 1 << 31})
		}, errBadInitWindow},
		{"6.5.2/MAX_FRAME_SIZE 100", nil, true, func(f *fake) {
			f.settings(setting{settingMaxFrameSize, 100})
		}, errBadMaxFrame},
		{"6.5/SETTINGS length not a multiple of 6", nil, true, func(f *fake) {
			f.frame(frameSettings, 0, 0, make([]byte, 7))
		}, errSettingsLength},
		{"RFC 8441 3/ENABLE_CONNECT_PROTOCOL 2", nil, true, func(f *fake) {
			f.settings(setting{settingEnableConnectProtocol, 2})
		}, errBadConnectProto},
		{"RFC 8441 3/ENABLE_CONNECT_PROTOCOL 1 then 0", nil, false, func(f *fake) {
			f.settings(setting{settingEnableConnectProtocol, 0})
		}, errConnectWithdrawn},
		{"4.2/frame above MAX_FRAME_SIZE", &Config{MaxFrameSize: 16384}, false, func(f *fake) {
			f.write(appendFrameHeader(nil, frameHeader{length: 16385, typ: frameData, streamID: 1}))
		}, errFrameTooLarge},
		{"6.10/header block over the limit", &Config{MaxHeaderListSize: 8 << 10}, false, func(f *fake) {
			f.frame(frameHeaders, 0, 1, make([]byte, 4<<10))
			f.frame(frameContinuation, 0, 1, make([]byte, 4<<10))
			f.frame(frameContinuation, 0, 1, make([]byte, 4<<10))
		}, errHeaderBlockSize},
		{"6.10/endless CONTINUATION", nil, false, func(f *fake) {
			f.frame(frameHeaders, 0, 1, appendField(nil, status200))
			f.write(repeat(1000, appendFrame(nil, frameContinuation, 0, 1, nil)))
		}, errTooManyContinue},
		{"6.10/header block interrupted", nil, false, func(f *fake) {
			f.frame(frameHeaders, 0, 1, appendField(nil, status200))
			f.frame(framePing, 0, 0, make([]byte, 8))
		}, errExpectContinuation},
		{"6.10/CONTINUATION without HEADERS", nil, false, func(f *fake) {
			f.frame(frameContinuation, flagEndHeaders, 1, appendField(nil, status200))
		}, errStrayContinuation},
		{"8.4/PUSH_PROMISE", nil, false, func(f *fake) {
			f.frame(framePushPromise, flagEndHeaders, 1, []byte{0, 0, 0, 2, 0x82})
		}, errPushPromise},
		{"6.9.1/connection window above 2^31-1", nil, false, func(f *fake) {
			f.windowUpdate(0, maxWindow)
		}, errConnWindowOverflow},
		{"6.9/connection WINDOW_UPDATE of 0", nil, false, func(f *fake) {
			f.windowUpdate(0, 0)
		}, errZeroIncrement},
		{"6.9.2/INITIAL_WINDOW_SIZE change overflows a stream", nil, false, func(f *fake) {
			f.ok(1)
			f.windowUpdate(1, maxWindow-initialWindow)
			f.settings(setting{settingInitialWindowSize, initialWindow + 1})
		}, errSettingsOverflow},
		{"6.9.1/DATA beyond the stream window", &Config{StreamWindow: 65535}, false, func(f *fake) {
			f.ok(1)
			f.frame(frameData, 0, 1, make([]byte, 40000))
			f.frame(frameData, 0, 1, make([]byte, 40000))
		}, errStreamFlowControl},
		{"6.9.1/DATA beyond the connection window", &Config{ConnWindow: 65535}, false, func(f *fake) {
			f.ok(1)
			f.frame(frameData, 0, 1, make([]byte, 65536))
		}, errConnFlowControl},
		{"RFC 7541/HPACK index 0", nil, false, func(f *fake) {
			f.frame(frameHeaders, flagEndHeaders, 1, []byte{0x80})
		}, errHpackIndex},
		{"RFC 7541/HPACK truncated", nil, false, func(f *fake) {
			f.frame(frameHeaders, flagEndHeaders, 1, []byte{0x40, 0x05, 'a'})
		}, errHpackTruncated},
		{"5.1/DATA on an idle stream", nil, false, func(f *fake) {
			f.frame(frameData, 0, 3, []byte("x"))
		}, errIdleStream},
		{"5.1/HEADERS on a server stream", nil, false, func(f *fake) {
			f.headers(2, 0, status200)
		}, errIdleStream},
		{"6.4/RST_STREAM on an idle stream", nil, false, func(f *fake) {
			f.frame(frameRSTStream, 0, 9, []byte{0, 0, 0, 8})
		}, errIdleStream},
		{"flood/PING", nil, false, func(f *fake) {
			f.write(repeat(2*floodLimit, appendPing(nil, false, [8]byte{})))
		}, floodErrors[floodPing].(*ConnectionError)},
		{"flood/SETTINGS", nil, false, func(f *fake) {
			f.write(repeat(2*floodLimit, appendSettings(nil, nil)))
		}, floodErrors[floodSettings].(*ConnectionError)},
		{"flood/empty DATA", nil, false, func(f *fake) {
			f.ok(1)
			f.write(repeat(2*floodLimit, appendFrame(nil, frameData, 0, 1, nil)))
		}, floodErrors[floodEmpty].(*ConnectionError)},
		{"flood/GOAWAY", nil, false, func(f *fake) {
			f.ok(1)
			var b []byte
			for i := range 2 * floodLimit {
				b = appendGoAway(b, 1, ErrCode(i%2), "")
			}
			f.write(b)
		}, floodErrors[floodGoAway].(*ConnectionError)},
		{"flood/unknown frame types", nil, false, func(f *fake) {
			f.write(repeat(20*floodLimit, appendFrame(nil, 0xfa, 0, 0, []byte("junk"))))
		}, floodErrors[floodClosed].(*ConnectionError)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			goAway := make(chan int64, 1)
			addr := startFake(t, func(f *fake) {
				if !tc.settings {
					f.hello()
					if _, _, ok := f.awaitFrame(frameHeaders); !ok {
						t.Error("no HEADERS from the client")
						goAway <- -1
						return
					}
				}
				tc.script(f)
				goAway <- f.goAwayCode()
			})
			cc, err := dialFake(t, addr, tc.cfg)
			if err == nil {
				// The response may come before the fault: the stream
				// then fails with the connection.
				if res := <-openInBackground(cc, testContext(t)); res.s != nil {
					defer res.s.Close()
				}
				<-cc.Done()
				err = cc.Err()
			}
			if err != tc.want {
				t.Fatalf("connection ended with %v, want %v", err, tc.want)
			}
			if code := <-goAway; code != int64(tc.want.Code) {
				t.Errorf("server got GOAWAY %d, want %v", code, tc.want.Code)
			}
		})
	}
}

// TestHostileStreamErrors runs servers whose faults concern one stream:
// the stream fails with a StreamError (RFC 9113, Section 5.4.2) and the
// connection lives on.
func TestHostileStreamErrors(t *testing.T) {
	status := func(s string) headerField { return headerField{name: ":status", value: s} }
	for _, tc := range []struct {
		name   string
		script func(f *fake)
		code   ErrCode // of the client's RST_STREAM; ErrCodeNo when none is due
		check  func(t *testing.T, err error)
	}{
		{"8.1/DATA before HEADERS", func(f *fake) {
			f.frame(frameData, 0, 1, []byte("early"))
		}, ErrCodeProtocol, wantStreamError(ErrCodeProtocol, "DATA before")},
		{"6.4/RST_STREAM on an open stream", func(f *fake) {
			f.frame(frameRSTStream, 0, 1, []byte{0, 0, 0, byte(ErrCodeCancel)})
		}, ErrCodeNo, wantStreamError(ErrCodeCancel, "")},
		{"8.7/REFUSED_STREAM", func(f *fake) {
			f.frame(frameRSTStream, 0, 1, []byte{0, 0, 0, byte(ErrCodeRefusedStream)})
		}, ErrCodeNo, func(t *testing.T, err error) { wantErr(t, err, ErrStreamRefused) }},
		{"6.8/GOAWAY below the stream", func(f *fake) {
			f.write(appendGoAway(nil, 0, ErrCodeNo, "restarting"))
		}, ErrCodeNo, func(t *testing.T, err error) {
			var ga *GoAwayError
			if !errors.As(err, &ga) || ga.Debug != "restarting" || !errors.Is(err, ErrStreamRefused) {
				t.Fatalf("%v, want a GoAwayError that is ErrStreamRefused", err)
			}
		}},
		{"8.3.2/no :status", func(f *fake) {
			f.headers(1, 0, headerField{name: "x", value: "y"})
		}, ErrCodeProtocol, wantStreamError(ErrCodeProtocol, reasonNoStatus)},
		{"8.2.1/upper-case field name", func(f *fake) {
			f.headers(1, 0, status("200"), headerField{name: "X-Upper", value: "y"})
		}, ErrCodeProtocol, wantStreamError(ErrCodeProtocol, reasonFieldName)},
		{"8.2.2/connection-specific field", func(f *fake) {
			f.headers(1, 0, status("200"), headerField{name: "connection", value: "close"})
		}, ErrCodeProtocol, wantStreamError(ErrCodeProtocol, reasonConnSpecific)},
		{"8.3/pseudo-header after a field", func(f *fake) {
			f.headers(1, 0, headerField{name: "x", value: "y"}, status("200"))
		}, ErrCodeProtocol, wantStreamError(ErrCodeProtocol, reasonPseudoLate)},
		{"8.6/status 101", func(f *fake) {
			f.headers(1, 0, status("101"))
		}, ErrCodeProtocol, wantStreamError(ErrCodeProtocol, reasonStatus101)},
		{"8.1/too many 1xx", func(f *fake) {
			for range maxInformational + 1 {
				f.headers(1, 0, status("103"))
			}
		}, ErrCodeProtocol, wantStreamError(ErrCodeProtocol, reasonTooManyInterim)},
		{"6.5.2/header list over the limit", func(f *fake) {
			f.headers(1, 0, status("200"), headerField{name: "big", value: strings.Repeat("v", 70<<10)})
		}, ErrCodeProtocol, wantStreamError(ErrCodeProtocol, "larger than")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rst := make(chan int64, 1)
			scriptDone := make(chan struct{})
			addr := startFake(t, func(f *fake) {
				defer close(scriptDone)
				f.hello()
				f.awaitFrame(frameHeaders)
				tc.script(f)
				if tc.code != ErrCodeNo {
					rst <- f.rstCode()
				}
				if strings.HasPrefix(tc.name, "6.8/") {
					return // GOAWAY: the client closes once no stream is left
				}
				// The connection must live on: a PING is answered.
				f.frame(framePing, 0, 0, []byte("live?..."))
				if _, p, ok := f.awaitFrame(framePing); !ok || string(p) != "live?..." {
					t.Error("connection did not survive the stream error")
				}
			})
			cfg := &Config{MaxHeaderListSize: 1 << 20}
			if strings.Contains(tc.name, "over the limit") {
				cfg.MaxHeaderListSize = 64 << 10
			}
			cc, err := dialFake(t, addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = cc.OpenStream(testContext(t), fakeRequest)
			tc.check(t, err)
			if tc.code != ErrCodeNo {
				if code := <-rst; code != int64(tc.code) {
					t.Errorf("client sent RST_STREAM %d, want %v", code, tc.code)
				}
			}
			<-scriptDone
		})
	}
}

func wantStreamError(code ErrCode, reason string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var se *StreamError
		if !errors.As(err, &se) || se.Code != code || !strings.Contains(se.Reason, reason) {
			t.Fatalf("%v, want a StreamError %v with %q", err, code, reason)
		}
	}
}

// TestNoSettings checks that a server that never sends SETTINGS holds the
// client no longer than its context.
func TestNoSettings(t *testing.T) {
	addr := startFake(t, func(f *fake) { f.awaitFrame(frameGoAway) })
	c, err := new(net.Dialer).DialContext(testContext(t), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := NewClientConn(ctx, c, nil); err != context.DeadlineExceeded {
		t.Fatalf("NewClientConn: %v", err)
	}
}

// TestNoExtendedConnect checks RFC 8441, Section 3: without
// SETTINGS_ENABLE_CONNECT_PROTOCOL=1 no extended CONNECT is sent.
func TestNoExtendedConnect(t *testing.T) {
	addr := startFake(t, func(f *fake) {
		f.settings()
		if h, _, ok := f.awaitFrame(frameHeaders); ok {
			t.Errorf("client sent HEADERS %+v", h)
		}
	})
	cc, err := dialFake(t, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cc.ExtendedConnect() {
		t.Fatal("ExtendedConnect without the setting")
	}
	if _, err := cc.OpenStream(testContext(t), fakeRequest); err != ErrHTTP1 {
		t.Fatalf("OpenStream: %v, want ErrHTTP1", err)
	}
}

// TestStreamWindowOverflow checks that a WINDOW_UPDATE taking a stream's
// window above 2^31-1 resets that stream only (RFC 9113, Section 6.9.1).
func TestStreamWindowOverflow(t *testing.T) {
	rst := make(chan int64, 1)
	testDone := make(chan struct{})
	defer close(testDone)
	addr := startFake(t, func(f *fake) {
		f.hello()
		f.awaitFrame(frameHeaders)
		f.ok(1)
		f.windowUpdate(1, maxWindow)
		rst <- f.rstCode()
		<-testDone // keep the connection up while the test looks at it
	})
	cc, err := dialFake(t, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cc.OpenStream(testContext(t), fakeRequest)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if code := <-rst; code != int64(ErrCodeFlowControl) {
		t.Fatalf("RST_STREAM %d", code)
	}
	_, err = s.Read(make([]byte, 1))
	wantStreamError(ErrCodeFlowControl, "2^31-1")(t, err)
	if cc.Err() != nil {
		t.Fatalf("connection ended: %v", cc.Err())
	}
}

// TestWriteTimeout checks that a server that stops reading its socket
// fails the connection after Config.WriteTimeout, rather than blocking
// writers forever: stream deadlines cannot help there.
func TestWriteTimeout(t *testing.T) {
	stop := make(chan struct{})
	addr := startFake(t, func(f *fake) {
		f.hello(setting{settingInitialWindowSize, maxWindow}, setting{settingMaxFrameSize, maxMaxFrameSize})
		f.windowUpdate(0, maxWindow-initialWindow)
		f.awaitFrame(frameHeaders)
		f.ok(1)
		<-stop // and read nothing more
	})
	defer close(stop)
	cc, err := dialFake(t, addr, &Config{WriteTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cc.OpenStream(testContext(t), fakeRequest)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg := make([]byte, 1<<20)
	for {
		if _, err = s.Write(msg); err != nil {
			break
		}
	}
	select {
	case <-cc.Done():
	case <-time.After(testTimeout):
		t.Fatal("connection still up")
	}
	if !errors.Is(cc.Err(), os.ErrDeadlineExceeded) {
		t.Fatalf("connection ended with %v", cc.Err())
	}
}

// TestInitialWindowChange checks that a SETTINGS_INITIAL_WINDOW_SIZE
// change applies to open streams (RFC 9113, Section 6.9.2): down to 0 it
// stops a write, up again it lets it go.
func TestInitialWindowChange(t *testing.T) {
	raise := make(chan struct{})
	data := make(chan string, 1)
	addr := startFake(t, func(f *fake) {
		f.hello()
		f.awaitFrame(frameHeaders)
		f.ok(1)
		f.settings(setting{settingInitialWindowSize, 0})
		<-raise
		f.settings(setting{settingInitialWindowSize, 100})
		_, p, _ := f.awaitFrame(frameData)
		data <- string(p)
	})
	cc, err := dialFake(t, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cc.OpenStream(testContext(t), fakeRequest)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for deadline := time.Now().Add(testTimeout); ; time.Sleep(time.Millisecond) {
		cc.mu.Lock()
		w := cc.peer.initialWindow
		cc.mu.Unlock()
		if w == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SETTINGS not applied")
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Write([]byte("0123456789"))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Write went out with a window of 0: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(raise)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := <-data; got != "0123456789" {
		t.Fatalf("server got %q", got)
	}
}
