package winpipe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Pipe buffer sizes: a request or an answer fits.
const bufSize = 64 << 10

// Listener accepts clients of one pipe name.
type Listener struct {
	name string
	sa   *windows.SecurityAttributes

	acceptMu sync.Mutex // one Accept at a time: it owns next while waiting
	ov       windows.Overlapped

	mu     sync.Mutex
	next   windows.Handle // the instance the next client connects to
	closed bool
	stop   windows.Handle // event: Close was called
}

// Listen creates the pipe name with the security descriptor sddl. It
// fails with ErrExists if a pipe of that name exists, whoever made it.
func Listen(name, sddl string) (*Listener, error) {
	if err := CheckName(name); err != nil {
		return nil, fmt.Errorf("pipe %s: %w", name, err)
	}
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return nil, fmt.Errorf("pipe %s: security descriptor: %w", name, err)
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	l := &Listener{name: name, sa: sa}
	if exists(name) {
		return nil, fmt.Errorf("pipe %s: %w", name, ErrExists)
	}
	if l.next, err = l.instance(true); err != nil {
		return nil, err
	}
	if l.stop, err = windows.CreateEvent(nil, 1, 0, nil); err != nil {
		windows.CloseHandle(l.next)
		return nil, err
	}
	if l.ov.HEvent, err = windows.CreateEvent(nil, 1, 0, nil); err != nil {
		windows.CloseHandle(l.next)
		windows.CloseHandle(l.stop)
		return nil, err
	}
	return l, nil
}

// exists reports whether a pipe of that name exists: opening it as a
// client does anything but fail with "not found" (the owner's descriptor
// may deny us, its instances may be busy). The kernel's
// FILE_FLAG_FIRST_PIPE_INSTANCE closes the race after this look; Wine 8
// does not enforce that flag, and this look is what keeps a second
// listener out there.
func exists(name string) bool {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return false
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING,
		windows.SECURITY_SQOS_PRESENT|windows.SECURITY_ANONYMOUS, 0)
	if err == nil {
		windows.CloseHandle(h)
		return true
	}
	return !errors.Is(err, windows.ERROR_FILE_NOT_FOUND)
}

// instance creates one instance of the pipe, for overlapped I/O.
func (l *Listener) instance(first bool) (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(l.name)
	if err != nil {
		return 0, err
	}
	flags := uint32(windows.PIPE_ACCESS_DUPLEX | windows.FILE_FLAG_OVERLAPPED)
	if first {
		flags |= windows.FILE_FLAG_FIRST_PIPE_INSTANCE
	}
	mode := uint32(windows.PIPE_TYPE_BYTE | windows.PIPE_READMODE_BYTE | windows.PIPE_WAIT | windows.PIPE_REJECT_REMOTE_CLIENTS)
	h, err := windows.CreateNamedPipe(name, flags, mode, windows.PIPE_UNLIMITED_INSTANCES, bufSize, bufSize, 0, l.sa)
	if err != nil {
		if first && (errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_PIPE_BUSY)) {
			return 0, fmt.Errorf("pipe %s: %w", l.name, ErrExists)
		}
		return 0, fmt.Errorf("pipe %s: %w", l.name, err)
	}
	return h, nil
}

// Accept waits for the next client and returns its connection.
func (l *Listener) Accept() (net.Conn, error) {
	l.acceptMu.Lock()
	defer l.acceptMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, net.ErrClosed
	}
	h := l.next
	if h == 0 { // the last Accept could not make the next instance
		var err error
		if h, err = l.instance(false); err != nil {
			l.mu.Unlock()
			return nil, err
		}
		l.next = h
	}
	l.mu.Unlock()

	if err := l.connect(h); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.next, _ = l.instance(false) // 0 on failure: the next Accept retries
	l.mu.Unlock()
	return newConn(h, l.name, true), nil
}

// connect waits until a client connects to instance h, or Close.
func (l *Listener) connect(h windows.Handle) error {
	windows.ResetEvent(l.ov.HEvent)
	err := windows.ConnectNamedPipe(h, &l.ov)
	switch {
	case err == nil, errors.Is(err, windows.ERROR_PIPE_CONNECTED):
		return nil
	case errors.Is(err, windows.ERROR_NO_DATA):
		// The client connected and closed its end already: what it
		// wrote can still be read, then EOF, as from a socket.
		return nil
	case !errors.Is(err, windows.ERROR_IO_PENDING):
		return fmt.Errorf("pipe %s: connect: %w", l.name, err)
	}
	ev, err := windows.WaitForMultipleObjects([]windows.Handle{l.ov.HEvent, l.stop}, false, windows.INFINITE)
	if err != nil {
		return fmt.Errorf("pipe %s: wait: %w", l.name, err)
	}
	var n uint32
	if ev != windows.WAIT_OBJECT_0 {
		// Closed: cancel the wait and let it end before l.ov is reused.
		windows.CancelIoEx(h, &l.ov)
		windows.GetOverlappedResult(h, &l.ov, &n, true)
		return net.ErrClosed
	}
	if err := windows.GetOverlappedResult(h, &l.ov, &n, false); err != nil {
		return fmt.Errorf("pipe %s: connect: %w", l.name, err)
	}
	return nil
}

// Close stops Accept; connections already accepted stay open.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	windows.SetEvent(l.stop)
	l.mu.Unlock()
	// Wait for an Accept in progress to let go of the instance.
	l.acceptMu.Lock()
	defer l.acceptMu.Unlock()
	if l.next != 0 {
		windows.CloseHandle(l.next)
		l.next = 0
	}
	windows.CloseHandle(l.ov.HEvent)
	windows.CloseHandle(l.stop)
	return nil
}

// Addr is the pipe's name.
func (l *Listener) Addr() net.Addr { return Addr(l.name) }

// Security reads back the owner and DACL of the pipe as the kernel holds
// them.
func (l *Listener) Security() (*windows.SECURITY_DESCRIPTOR, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.next
	if h == 0 || l.closed {
		return nil, fmt.Errorf("pipe %s: no instance to read", l.name)
	}
	return windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
}

// Dial connects to the pipe name. A pipe whose instances are all busy is
// tried again until ctx ends. The server's process id is in the Conn
// (PeerPID); nothing is written.
func Dial(ctx context.Context, name string) (*Conn, error) {
	if err := CheckName(name); err != nil {
		return nil, fmt.Errorf("pipe %s: %w", name, err)
	}
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, err
	}
	for {
		h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING,
			windows.FILE_FLAG_OVERLAPPED|windows.SECURITY_SQOS_PRESENT|windows.SECURITY_ANONYMOUS, 0)
		if err == nil {
			return newConn(h, name, false), nil
		}
		if !errors.Is(err, windows.ERROR_PIPE_BUSY) {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		// Every instance is taken: the server makes another as it
		// accepts (WaitNamedPipe would wait without ctx).
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &os.PathError{Op: "open", Path: name, Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// Conn is one end of a pipe connection. Reads, writes and deadlines go
// through the Go runtime's poller.
type Conn struct {
	f      *os.File
	h      windows.Handle
	addr   *net.UnixAddr
	server bool // the server's end: the peer is the client
}

func newConn(h windows.Handle, name string, server bool) *Conn {
	return &Conn{f: os.NewFile(uintptr(h), name), h: h, addr: Addr(name), server: server}
}

// PeerPID is the process id of the other end: the client's on the
// server's end (GetNamedPipeClientProcessId), the server's on the
// client's (GetNamedPipeServerProcessId).
func (c *Conn) PeerPID() (int, error) {
	var pid uint32
	var err error
	if c.server {
		err = windows.GetNamedPipeClientProcessId(c.h, &pid)
	} else {
		err = windows.GetNamedPipeServerProcessId(c.h, &pid)
	}
	if err != nil {
		return 0, fmt.Errorf("pipe %s: peer process: %w", c.addr.Name, err)
	}
	return int(pid), nil
}

func (c *Conn) Read(b []byte) (int, error)  { return c.f.Read(b) }
func (c *Conn) Write(b []byte) (int, error) { return c.f.Write(b) }

// Close closes this end; the other end reads EOF.
func (c *Conn) Close() error { return c.f.Close() }

func (c *Conn) LocalAddr() net.Addr                { return c.addr }
func (c *Conn) RemoteAddr() net.Addr               { return c.addr }
func (c *Conn) SetDeadline(t time.Time) error      { return c.f.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.f.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

var _ net.Conn = (*Conn)(nil)
