package bench

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/ccf874ba/websocket/bench/internal/wsb"
)

// TestDeflateEchoes checks every deflate echo server of wsbench's compress
// part, in both modes, against the common deflate client: every echo is
// inflated (with the server's history when it keeps its context) and
// compared with what was sent, across more round trips than the client
// has messages, so the replayed context-takeover stream is checked too. It
// also pins what each library negotiates, which the report prints.
func TestDeflateEchoes(t *testing.T) {
	sets := []*wsb.DeflateSet{wsb.NewDeflateSet(1 << 10), wsb.NewDeflateSet(16 << 10)}
	for _, takeover := range []bool{false, true} {
		for _, lib := range wsb.DeflateServerNames {
			t.Run(fmt.Sprintf("%s/takeover=%v", lib, takeover), func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				srv, err := wsb.StartDeflateServer(lib, takeover, ln)
				if err != nil {
					t.Fatal(err)
				}
				for _, set := range sets {
					c, err := wsb.DialDeflate(ln.Addr().String(), set, takeover, 10*time.Second)
					if err != nil {
						t.Fatal(err)
					}
					c.VerifyAll = true
					c.NetConn().SetDeadline(time.Now().Add(20 * time.Second))
					for i := 0; i < 2*len(set.Plain)+3; i++ {
						if err := c.RoundTrip(); err != nil {
							c.Close()
							t.Fatalf("size %d, round trip %d: %v", set.Size, i, err)
						}
					}
					if c.CompressedEchoes == 0 {
						t.Errorf("size %d: no echo was compressed", set.Size)
					}
					t.Logf("size %d: %q (client context %v, server context %v), %d of %d echoes compressed, %.0f B per echo on the wire",
						set.Size, c.Response, c.ClientTakeover, c.ServerTakeover, c.CompressedEchoes, c.Echoes, float64(c.EchoWire)/float64(c.Echoes))
					c.Close()
				}
				end := time.Now().Add(5 * time.Second)
				for srv.Active() > 0 && time.Now().Before(end) {
					time.Sleep(time.Millisecond)
				}
			})
		}
	}
}
