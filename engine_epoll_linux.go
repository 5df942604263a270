package websocket

import (
	"net"
	"syscall"
	"unsafe"
)

// This file is the Linux poller: one epoll instance per loop, level
// triggered, so that a loop reads a socket once per readiness event (a
// short read means it is empty; if it is not, epoll says so again) and
// never needs the read that fails with EAGAIN; and an eventfd to wake it.
// Sockets are taken from the runtime's poller by duplicating their
// descriptor and closing the net.Conn.

type epoller struct {
	epfd, evfd int
	events     [128]syscall.EpollEvent
}

const (
	efdCloexec  = syscall.O_CLOEXEC
	efdNonblock = syscall.O_NONBLOCK
)

func newPoller() (poller, error) {
	if testNoEpoll {
		return newChanPoller(), nil
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	r, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, efdCloexec|efdNonblock, 0)
	if errno != 0 {
		syscall.Close(epfd)
		return nil, errno
	}
	p := &epoller{epfd: epfd, evfd: int(r)}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.evfd)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.evfd, &ev); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *epoller) detach(nc net.Conn) (int, bool) {
	var sc syscall.Conn
	switch x := nc.(type) {
	case *net.TCPConn:
		sc = x
	case *net.UnixConn:
		sc = x
	default:
		return -1, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, false
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		// The duplicate shares the socket's file status, non-blocking
		// included; it must not leak into child processes.
		var r uintptr
		var errno syscall.Errno
		r, _, errno = syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		fd = int(r)
		if errno != 0 {
			fd, derr = -1, errno
		}
	}); err != nil || derr != nil {
		return -1, false
	}
	nc.Close()
	return fd, true
}

func events(out bool) uint32 {
	ev := uint32(syscall.EPOLLIN | syscall.EPOLLRDHUP)
	if out {
		ev |= syscall.EPOLLOUT
	}
	return ev
}

func (p *epoller) add(fd int, out bool) error {
	ev := syscall.EpollEvent{Events: events(out), Fd: int32(fd)}
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
}

func (p *epoller) watch(fd int, out bool) {
	ev := syscall.EpollEvent{Events: events(out), Fd: int32(fd)}
	syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
}

func (p *epoller) wake() {
	one := [8]byte{1}
	syscall.Write(p.evfd, one[:])
}

func (p *epoller) close() {
	syscall.Close(p.evfd)
	syscall.Close(p.epfd)
}

func (p *epoller) wait(l *loop, ms int) {
	// A busy loop finds events ready: ask without blocking first, as a
	// raw system call that leaves the scheduler out. Only when nothing
	// is ready does the loop block, in a system call the runtime knows
	// about (it hands the loop's P to other goroutines meanwhile).
	n := p.poll(0)
	if n == 0 && ms != 0 {
		var err error
		n, err = syscall.EpollWait(p.epfd, p.events[:], ms)
		if err != nil {
			return // EINTR
		}
	}
	for i := range n {
		ev := p.events[i]
		fd := int(ev.Fd)
		if fd == p.evfd {
			var b [8]byte
			syscall.Read(p.evfd, b[:])
			continue
		}
		if fd >= len(l.conns) || l.conns[fd] == nil {
			continue
		}
		c := l.conns[fd]
		if ev.Events&syscall.EPOLLOUT != 0 {
			c.writable()
		}
		if ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 && l.conns[fd] == c {
			l.readable(c)
		}
	}
}

// poll is epoll_wait with a timeout of 0, as a raw system call.
func (p *epoller) poll(ms int) int {
	r, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, uintptr(p.epfd),
		uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), uintptr(ms), 0, 0)
	if errno != 0 {
		return 0
	}
	return int(r)
}

// rawRead and rawWrite are read(2) and write(2) as raw system calls: on a
// non-blocking socket they never block, so the scheduler need not be told
// (syscall.Read and Write cost an entersyscall and exitsyscall each, and
// keep the runtime's monitor thread waking every 20 µs under load).
func rawRead(fd int, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	r, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(r), errno
}

func rawWrite(fd int, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	r, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(r), errno
}

func readSocket(fd int, b []byte) (int, error) {
	for {
		n, err := rawRead(fd, b)
		switch err {
		case 0:
			return n, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, errWouldBlock
		}
		return 0, err
	}
}

// writeSocket writes what the socket takes of b without waiting.
func writeSocket(fd int, b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n, err := rawWrite(fd, b)
		switch err {
		case 0:
			written += n
			b = b[n:]
			continue
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return written, nil
		}
		return written, err
	}
	return written, nil
}

func closeSocket(fd int)   { syscall.Close(fd) }
func shutdownWrite(fd int) { syscall.Shutdown(fd, syscall.SHUT_WR) }

func socketAddr(fd int, remote bool) net.Addr {
	var sa syscall.Sockaddr
	var err error
	if remote {
		sa, err = syscall.Getpeername(fd)
	} else {
		sa, err = syscall.Getsockname(fd)
	}
	if err != nil {
		return nil
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *syscall.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}
