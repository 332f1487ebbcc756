package carcosa

import "fmt"

// formatSize writes n bytes in IEC units, as people read them in messages:
// "16 MiB", "1.5 GiB", "700 bytes".
func formatSize(n int64) string {
	const units = "KMGTPE"
	if n < 1<<10 && n > -1<<10 {
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	}
	i, div := 0, int64(1<<10)
	for n/div >= 1<<10 && i < len(units)-1 {
		div <<= 10
		i++
	}
	if n%div == 0 {
		return fmt.Sprintf("%d %ciB", n/div, units[i])
	}
	f := float64(n) / float64(div)
	if f >= 1023.95 && i < len(units)-1 { // would print as 1024.0
		f, i = f/1024, i+1
	}
	return fmt.Sprintf("%.1f %ciB", f, units[i])
}

// sizeMismatch says that a file of got bytes arrived where want were
// declared, in bytes when the units would hide the difference.
func sizeMismatch(got, want int64) string {
	g, w := formatSize(got), formatSize(want)
	if g == w {
		g, w = fmt.Sprintf("%d bytes", got), fmt.Sprintf("%d bytes", want)
	}
	return fmt.Sprintf("the uploaded file has %s, %s were declared", g, w)
}
