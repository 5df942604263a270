//go:build !js

package websocket

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
)

// Group tracks connections so that they can be closed together, as when a
// server shuts down, or sent one message together ([Group.Broadcast]). The
// zero value is ready to use. [Accept] adds each Conn to AcceptOptions.Group; [Group.Add] adds it
// to others: a Conn may be in any number of groups, and leaves all of them
// when it closes.
//
// A typical server registers the group with its http.Server:
//
//	var conns websocket.Group
//	srv.RegisterOnShutdown(func() { conns.Close(websocket.StatusGoingAway, "server shutting down") })
//
// (http.Server.Shutdown does not wait for hijacked connections; Close does.)
type Group struct {
	mu      sync.Mutex
	conns   map[groupMember]struct{}
	closing bool
	code    StatusCode
	reason  string
}

// groupMember is what a Group holds: a [Conn] or an [EngineConn].
type groupMember interface {
	// closeWait runs the closing handshake and returns once it is over.
	closeWait(code StatusCode, reason string)
	// broadcast sends pm as WritePrepared does.
	broadcast(ctx context.Context, pm *PreparedMessage) error
	RemoteAddr() net.Addr
	// joined records g among the member's groups and reports whether the
	// member is still open (if not, it will not leave g by itself).
	joined(g *Group) bool
}

func (c *Conn) closeWait(code StatusCode, reason string) { c.Close(code, reason) }

func (c *Conn) broadcast(ctx context.Context, pm *PreparedMessage) error {
	return c.WritePrepared(ctx, pm)
}

func (c *Conn) joined(g *Group) bool {
	c.groupMu.Lock()
	c.groups = append(c.groups, g)
	c.groupMu.Unlock()
	// markClosed detaches a closing Conn from the groups it has then; one
	// that closed before it was recorded above is taken out by the caller.
	return !c.isClosed()
}

// Add adds c to the group. If the group is already being closed, c is
// closed too, with the same code and reason.
func (g *Group) Add(c *Conn) { g.add(c) }

func (g *Group) add(c groupMember) {
	g.mu.Lock()
	if g.closing {
		code, reason := g.code, g.reason
		g.mu.Unlock()
		go c.closeWait(code, reason)
		return
	}
	if g.conns == nil {
		g.conns = make(map[groupMember]struct{})
	}
	_, member := g.conns[c]
	g.conns[c] = struct{}{}
	g.mu.Unlock()
	if member {
		return
	}
	if !c.joined(g) {
		g.remove(c)
	}
}

func (g *Group) remove(c groupMember) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
}

// Len returns the number of open connections in the group.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

// Close runs the closing handshake with code and reason on every
// connection of the group at once, and returns when all are closed: each
// within its own close timeout. Connections added later are closed as they
// arrive. A code or reason that [Conn.Close] would refuse is an error
// wrapping [ErrInvalidCloseCode], and then nothing is closed.
func (g *Group) Close(code StatusCode, reason string) error {
	if !checkCloseArgs(code, reason) {
		return fmt.Errorf("%w: code %d, reason %q", ErrInvalidCloseCode, int(code), reason)
	}
	g.mu.Lock()
	g.closing, g.code, g.reason = true, code, reason
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range g.members() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.closeWait(code, reason)
		}()
	}
	wg.Wait()
	return nil
}

// Broadcast sends pm to every open connection of the group, as
// [Broadcast] does, and returns what it returns. Connections that join
// while it runs may or may not get the message. An [EngineConn] member
// never makes it wait: its copy of the message is queued.
func (g *Group) Broadcast(ctx context.Context, pm *PreparedMessage) error {
	return broadcast(ctx, g.members(), pm)
}

// members returns the group's connections as they are now.
func (g *Group) members() []groupMember {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Collect(maps.Keys(g.conns))
}
