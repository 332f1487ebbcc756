package testenv

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carcosa-dev/carcosa/scan"
)

// Clamd switches the malware scanning tests on: the address of a clamd
// whose database detects scan.EICAR, such as scripts/clamd-test-setup
// starts. It also says that clamd is installed, for StartClamd.
const Clamd = "CARCOSA_TEST_CLAMD" // e.g. tcp://127.0.0.1:3310

// ClamdAddr is Require for the shared clamd.
func ClamdAddr(t testing.TB) string {
	t.Helper()
	return Require(t, Clamd, "the address of a clamd, e.g. tcp://127.0.0.1:3310 (scripts/clamd-test-setup starts one)")
}

// ClamdConfig are the limits of a clamd that StartClamd starts; 0 leaves
// clamd's default (100 MiB for both).
type ClamdConfig struct {
	StreamMaxLength int64 // the longest INSTREAM stream clamd accepts, in bytes
	MaxFileSize     int64 // the largest file clamd scans, in bytes
}

// StartClamd starts a clamd of the test's own, for tests that stop or kill
// it, or that need other limits than the shared one's. Its database holds
// one signature, Eicar-Test-Signature, that matches scan.EICAR anywhere in
// a file. It returns clamd's address (tcp://127.0.0.1:port) once clamd
// answers PING, and its process; the process is killed when the test ends.
// Like ClamdAddr it needs the Clamd variable, which says clamd is installed.
func StartClamd(t testing.TB, cfg ClamdConfig) (addr string, proc *os.Process) {
	t.Helper()
	ClamdAddr(t)
	bin, err := exec.LookPath("clamd")
	if err != nil {
		bin = "/usr/sbin/clamd"
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("clamd is in neither PATH nor /usr/sbin (Debian: apt-get install clamav-daemon)")
		}
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	// An .ndb body signature: name, target 0 (any file), offset * (anywhere),
	// then the bytes in hex, here from encoding/hex.
	sig := "Eicar-Test-Signature:0:*:" + hex.EncodeToString([]byte(scan.EICAR)) + "\n"
	if err := os.WriteFile(filepath.Join(db, "eicar.ndb"), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
	// The port is free when asked for but could be taken before clamd binds
	// it; then clamd exits and another port is tried.
	for range 3 {
		addr, proc, err := startClamd(t, bin, dir, cfg)
		if err == nil {
			return addr, proc
		}
		t.Log(err)
	}
	t.Fatalf("clamd did not start; its log:\n%s", readLog(dir))
	return "", nil
}

func startClamd(t testing.TB, bin, dir string, cfg ClamdConfig) (string, *os.Process, error) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "Foreground yes\nTCPSocket %d\nTCPAddr 127.0.0.1\n", port)
	fmt.Fprintf(&conf, "DatabaseDirectory %s\nLogFile %s\nLogTime yes\nPidFile %s\n",
		filepath.Join(dir, "db"), filepath.Join(dir, "clamd.log"), filepath.Join(dir, "clamd.pid"))
	if cfg.StreamMaxLength > 0 {
		fmt.Fprintf(&conf, "StreamMaxLength %d\n", cfg.StreamMaxLength)
	}
	if cfg.MaxFileSize > 0 {
		fmt.Fprintf(&conf, "MaxFileSize %d\n", cfg.MaxFileSize)
	}
	confPath := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-c", confPath)
	out, err := os.OpenFile(filepath.Join(dir, "clamd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting clamd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return "", nil, fmt.Errorf("clamd on port %d exited: %v", port, cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
		if ping(addr) == nil {
			t.Cleanup(stop)
			return "tcp://" + addr, cmd.Process, nil
		}
	}
	stop()
	t.Fatalf("clamd on port %d did not answer PING within 60s; its log:\n%s", port, readLog(dir))
	return "", nil, nil
}

// ping sends clamd PING and expects PONG. It is written out here, not
// taken from scan.Clamd, so that starting clamd does not depend on the
// client under test.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return err
	}
	buf := make([]byte, 16)
	n, err := conn.Read(buf)
	if got := string(bytes.TrimRight(buf[:n], "\x00")); got != "PONG" {
		return fmt.Errorf("clamd answered PING with %q (%v)", got, err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func readLog(dir string) string {
	var b strings.Builder
	for _, name := range []string{"clamd.log", "clamd.out"} {
		p, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
			continue
		}
		fmt.Fprintf(&b, "--- %s\n%s", name, p)
	}
	return b.String()
}
