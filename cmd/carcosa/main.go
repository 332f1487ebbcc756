// Command carcosa uploads files to a Carcosa server, resumably, and lists,
// shows and deletes them.
//
//	carcosa upload -url URL -route R [-input JSON] [-token T] [-type MIME] [-chunk SIZE] [-json] FILE…
//	carcosa ls     -url URL -route R [-state S] [-limit N] [-token T] [-json]
//	carcosa get    -url URL [-token T] [-json] ID…
//	carcosa rm     -url URL [-token T] ID…
//	carcosa routes -url URL [-token T] [-json]
//
// URL is the server's mount path, such as https://example.com/api/uploads;
// CARCOSA_URL and CARCOSA_TOKEN stand for -url and -token. Flags may come
// before or after the other arguments.
//
// An upload shows its progress on standard error (bytes, speed, time
// left: one line redrawn on a terminal, a line every few seconds
// otherwise) and prints its final record on standard output: name, ID,
// state and URL, or with -json the record as one JSON line. An upload
// that is interrupted (Ctrl-C, a lost network) resumes where the server
// stopped receiving when the same command is run again: its tus URL is
// kept, for the file's path, size and modification time, in
// $CARCOSA_STATE_DIR or else the user's cache directory (carcosa/), and
// forgotten once the upload is over.
//
// Exit codes:
//
//	0  every file was uploaded (and every ID found, listed, deleted)
//	1  the server refused something: a file rejected, quarantined or
//	   failed, an upload not found, a bad token; its code and message
//	   are printed
//	2  usage: an unknown command or flag, no URL, bad -input JSON
//	3  the server could not be reached or was unavailable (5xx) after
//	   retries: run the command again; uploads resume
//	4  interrupted (SIGINT, SIGTERM): run the command again to resume
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
