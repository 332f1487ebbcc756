package scantest

import (
	"archive/zip"
	"bytes"
)

// File is a file of a zip archive.
type File struct {
	Name string
	Data []byte
}

// Zip returns a zip archive holding one file, compressed.
func Zip(name string, data []byte) []byte {
	return ZipFiles(File{Name: name, Data: data})
}

// ZipFiles returns a zip archive holding files, in order, compressed.
func ZipFiles(files ...File) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f.Name)
		if err != nil {
			panic("scantest: zip: " + err.Error()) // an invalid name: the test's own mistake
		}
		w.Write(f.Data) // into memory, so it cannot fail
	}
	if err := zw.Close(); err != nil {
		panic("scantest: zip: " + err.Error())
	}
	return buf.Bytes()
}
