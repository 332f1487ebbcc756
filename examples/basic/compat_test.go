package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestUploadThingEndpoint goes through /api/uploadthing as the README
// says and UploadThing's client does: the route configs, an upload request,
// HEAD and PUT on the ingest URL; the answer carries the route's result as
// serverData, and its URL serves the file.
func TestUploadThingEndpoint(t *testing.T) {
	base := startServer(t)
	body, _ := get(t, base+"/api/uploadthing", http.StatusOK)
	var cfg []struct {
		Slug   string                    `json:"slug"`
		Config map[string]map[string]any `json:"config"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	slugs := map[string]map[string]map[string]any{}
	for _, c := range cfg {
		slugs[c.Slug] = c.Config
	}
	if slugs["images"]["image"]["maxFileSize"] != "16MB" || slugs["files"]["blob"] == nil || slugs["documents"]["pdf"] == nil {
		t.Fatalf("route configs: %s", body)
	}

	data := gradientPNG(t)
	req, _ := http.NewRequest(http.MethodPost, base+"/api/uploadthing?actionType=upload&slug=images",
		strings.NewReader(`{"input":{"caption":"At the lake"},"files":[{"name":"lake.png","size":`+strconv.Itoa(len(data))+`,"type":"image/png"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ps []struct{ URL, Key string }
	json.NewDecoder(resp.Body).Decode(&ps)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(ps) != 1 || !strings.HasPrefix(ps[0].URL, base+"/api/uploadthing/ingest/") {
		t.Fatalf("upload request: %d %+v", resp.StatusCode, ps)
	}
	head, _ := http.NewRequest(http.MethodHead, ps[0].URL, nil)
	resp, err = http.DefaultClient.Do(head)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("x-ut-range-start") != "0" {
		t.Fatalf("x-ut-range-start %q", resp.Header.Get("x-ut-range-start"))
	}

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "lake.png")
	fw.Write(data)
	mw.Close()
	put, _ := http.NewRequest(http.MethodPut, ps[0].URL, &form)
	put.Header.Set("Content-Type", mw.FormDataContentType())
	put.Header.Set("Range", "bytes=0-")
	resp, err = http.DefaultClient.Do(put)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		UfsURL     string `json:"ufsUrl"`
		FileHash   string `json:"fileHash"`
		ServerData struct {
			SHA256  string `json:"sha256"`
			Caption string `json:"caption"`
		} `json:"serverData"`
		Error string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	h := sha256.Sum256(data)
	want := hex.EncodeToString(h[:])
	if resp.StatusCode != http.StatusOK || out.Error != "" || out.FileHash != want || out.ServerData.SHA256 != want || out.ServerData.Caption != "At the lake" {
		t.Fatalf("PUT: %d %+v", resp.StatusCode, out)
	}
	if got, _ := get(t, out.UfsURL, http.StatusOK); !bytes.Equal(got, data) {
		t.Errorf("the file's URL serves %d bytes, not the file's %d", len(got), len(data))
	}
	rec := getRecord(t, base, ps[0].Key)
	if rec.State != "ready" {
		t.Errorf("record: %+v", rec)
	}
}

// TestCompanionNeedsS3 checks what the README says of /api/companion on
// the default local storage: Uppy's S3 routes answer 501, in JSON.
func TestCompanionNeedsS3(t *testing.T) {
	base := startServer(t)
	resp, err := http.Post(base+"/api/companion/s3/multipart", "application/json",
		strings.NewReader(`{"filename":"a.bin","type":"application/octet-stream","metadata":{"route":"files"}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Message, Code string }
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != http.StatusNotImplemented || e.Code == "" || e.Message == "" {
		t.Errorf("%d %+v", resp.StatusCode, e)
	}
}
