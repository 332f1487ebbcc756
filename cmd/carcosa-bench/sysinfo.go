package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
)

// sysInfo describes the machine for the report.
type sysInfo struct {
	cpu, ram, kernel, disk, tusd string
}

func describeSystem(dir string) sysInfo {
	s := sysInfo{cpu: "unknown", ram: "unknown", kernel: "unknown", disk: dir, tusd: "tusd (version unknown)"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				s.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		if n, ok := parseKB(f)["MemTotal"]; ok {
			s.ram = fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		s.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if m, ok := mountOf(dir); ok {
		s.disk = fmt.Sprintf("%s on %s (%s, mounted at %s)", dir, m.device, m.fsType, m.point)
	}
	if fs, err := statFS(dir); err == nil {
		s.disk += fmt.Sprintf(", %.1f GiB free of %.1f GiB", float64(fs.free)/(1<<30), float64(fs.total)/(1<<30))
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tus/tusd/v2" {
				s.tusd = "tusd " + d.Version
			}
		}
	}
	return s
}

type mount struct {
	device, point, fsType string
}

// mountOf finds the mount holding dir: the entry of /proc/mounts with the
// longest mount point that is a prefix of dir's real path.
func mountOf(dir string) (mount, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return mount{}, false
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return mount{}, false
	}
	defer f.Close()
	var best mount
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		m := mount{device: fields[0], point: unescapeMount(fields[1]), fsType: fields[2]}
		if !underMount(abs, m.point) {
			continue
		}
		// A later entry for the same point is mounted over an earlier one.
		if !found || len(m.point) >= len(best.point) {
			best, found = m, true
		}
	}
	return best, found
}

func underMount(path, point string) bool {
	if point == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == point || strings.HasPrefix(path, point+"/")
}

// unescapeMount undoes the octal escapes of /proc/mounts (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

type fsSpace struct {
	free, total int64
}

// statFS returns the space of the file system holding dir, free being what
// an unprivileged user may use.
func statFS(dir string) (fsSpace, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fsSpace{}, err
	}
	return fsSpace{free: int64(st.Bavail) * st.Bsize, total: int64(st.Blocks) * st.Bsize}, nil
}
