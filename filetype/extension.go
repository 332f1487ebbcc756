package filetype

import (
	"mime"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// extensionGroups maps every primary MIME type of mimetype's tree to the
// extensions files of that format commonly carry. mimetype's own extension
// for each type is added at start-up, so the lists only need the aliases.
var extensionGroups = map[string][]string{
	"image/x-xpixmap":             {".xpm"},
	"application/x-7z-compressed": {".7z"},
	"application/zip":             {".zip"},
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   {".docx", ".dotx"},
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": {".pptx", ".potx", ".ppsx"},
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         {".xlsx", ".xltx"},
	"application/epub+zip":                                     {".epub"},
	"application/vnd.android.package-archive":                  {".apk"},
	"application/java-archive":                                 {".jar", ".war", ".ear"},
	"application/vnd.oasis.opendocument.text":                  {".odt"},
	"application/vnd.oasis.opendocument.text-template":         {".ott"},
	"application/vnd.oasis.opendocument.spreadsheet":           {".ods"},
	"application/vnd.oasis.opendocument.spreadsheet-template":  {".ots"},
	"application/vnd.oasis.opendocument.presentation":          {".odp"},
	"application/vnd.oasis.opendocument.presentation-template": {".otp"},
	"application/vnd.oasis.opendocument.graphics":              {".odg"},
	"application/vnd.oasis.opendocument.graphics-template":     {".otg"},
	"application/vnd.oasis.opendocument.formula":               {".odf"},
	"application/vnd.oasis.opendocument.chart":                 {".odc"},
	"application/vnd.sun.xml.calc":                             {".sxc"},
	"application/vnd.google-earth.kmz":                         {".kmz"},
	"application/vnd.ms-visio.drawing.main+xml":                {".vsdx", ".vstx", ".vssx"},
	"application/pdf":                                          {".pdf"},
	"application/vnd.fdf":                                      {".fdf"},
	"application/x-ole-storage":                                {},
	"application/x-ms-installer":                               {".msi", ".msp", ".msm"},
	"application/vnd.ms-outlook":                               {".msg"},
	"application/vnd.ms-excel":                                 {".xls", ".xlt", ".xla"},
	"application/vnd.ms-publisher":                             {".pub"},
	"application/vnd.ms-powerpoint":                            {".ppt", ".pot", ".pps", ".ppa"},
	"application/msword":                                       {".doc", ".dot"},
	"application/postscript":                                   {".ps", ".eps", ".epsf"},
	"image/vnd.adobe.photoshop":                                {".psd", ".psb"},
	"application/pkcs7-signature":                              {".p7s"},
	"application/ogg":                                          {".ogx", ".ogg", ".oga", ".ogv", ".opus", ".spx"},
	"audio/ogg":                                                {".oga", ".ogg", ".opus", ".spx"},
	"video/ogg":                                                {".ogv", ".ogg"},
	"image/png":                                                {".png"},
	"image/apng":                                               {".apng", ".png"},
	"image/jpeg":                                               {".jpg", ".jpeg", ".jpe", ".jfif", ".pjpeg", ".pjp"},
	"image/jxl":                                                {".jxl"},
	"image/jp2":                                                {".jp2", ".jpg2"},
	"image/jpx":                                                {".jpf", ".jpx"},
	"image/jpm":                                                {".jpm", ".jpgm"},
	"image/jxs":                                                {".jxs"},
	"image/gif":                                                {".gif"},
	"image/webp":                                               {".webp"},
	"application/vnd.microsoft.portable-executable":            {".exe", ".dll", ".sys", ".scr", ".cpl", ".ocx", ".drv", ".efi", ".mui", ".ax", ".com"},
	"application/x-elf":                                        {".elf"},
	"application/x-object":                                     {".o", ".ko"},
	"application/x-executable":                                 {".elf", ".axf"},
	"application/x-sharedlib":                                  {".so"},
	"application/x-coredump":                                   {".core"},
	"application/x-archive":                                    {".a", ".lib"},
	"application/vnd.debian.binary-package":                    {".deb", ".udeb"},
	"application/x-tar":                                        {".tar"},
	"application/x-xar":                                        {".xar", ".pkg"},
	"application/x-bzip2":                                      {".bz2", ".tbz2", ".tbz"},
	"application/fits":                                         {".fits", ".fit", ".fts"},
	"image/tiff":                                               {".tif", ".tiff"},
	"image/bmp":                                                {".bmp", ".dib"},
	"application/vnd.lotus-1-2-3":                              {".123", ".wk1", ".wk3", ".wk4", ".wks"},
	"image/x-icon":                                             {".ico", ".cur"},
	"audio/flac":                                               {".flac"},
	"audio/midi":                                               {".mid", ".midi", ".kar", ".rmi"},
	"audio/ape":                                                {".ape"},
	"audio/musepack":                                           {".mpc"},
	"audio/amr":                                                {".amr"},
	"audio/wav":                                                {".wav", ".wave"},
	"audio/aiff":                                               {".aif", ".aiff", ".aifc"},
	"audio/basic":                                              {".au", ".snd"},
	"video/mpeg":                                               {".mpeg", ".mpg", ".mpe", ".m1v", ".m2v"},
	"video/quicktime":                                          {".mov", ".qt", ".mqv"},
	"video/mp4":                                                {".mp4", ".m4v", ".mp4v", ".mpg4"},
	"image/avif":                                               {".avif", ".avifs"},
	"video/3gpp":                                               {".3gp", ".3gpp"},
	"video/3gpp2":                                              {".3g2", ".3gp2"},
	"audio/mp4":                                                {".mp4", ".m4a", ".m4b", ".m4p"},
	"audio/x-m4a":                                              {".m4a", ".m4b", ".m4p", ".mp4"},
	"video/x-m4v":                                              {".m4v", ".mp4"},
	"image/heic":                                               {".heic", ".heif", ".hif"},
	"image/heic-sequence":                                      {".heics", ".heic", ".heifs"},
	"image/heif":                                               {".heif", ".heic", ".hif"},
	"image/heif-sequence":                                      {".heifs", ".heif", ".heics"},
	"video/mj2":                                                {".mj2", ".mjp2"},
	"video/vnd.dvb.file":                                       {".dvb"},
	"video/webm":                                               {".webm"},
	"video/x-msvideo":                                          {".avi"},
	"video/x-flv":                                              {".flv"},
	"video/matroska":                                           {".mkv", ".mka", ".mk3d", ".mks"},
	"video/x-ms-asf":                                           {".asf", ".wmv", ".wma"},
	"audio/aac":                                                {".aac", ".adts"},
	"audio/x-unknown":                                          {".voc"},
	"application/vnd.apple.mpegurl":                            {".m3u", ".m3u8"},
	"application/vnd.rn-realmedia-vbr":                         {".rmvb", ".rm"},
	"application/gzip":                                         {".gz", ".tgz", ".gzip"},
	"application/x-java-applet":                                {".class"},
	"application/x-shockwave-flash":                            {".swf"},
	"application/x-chrome-extension":                           {".crx"},
	"font/ttf":                                                 {".ttf"},
	"font/woff":                                                {".woff"},
	"font/woff2":                                               {".woff2"},
	"font/otf":                                                 {".otf"},
	"font/collection":                                          {".ttc", ".otc"},
	"application/vnd.ms-fontobject":                            {".eot"},
	"application/wasm":                                         {".wasm"},
	"application/vnd.shx":                                      {".shx"},
	"application/vnd.shp":                                      {".shp"},
	"application/x-dbf":                                        {".dbf"},
	"application/dicom":                                        {".dcm", ".dicom"},
	"application/vnd.rar":                                      {".rar"},
	"image/vnd.djvu":                                           {".djvu", ".djv"},
	"application/x-mobipocket-ebook":                           {".mobi"},
	"application/x-ms-reader":                                  {".lit"},
	"image/bpg":                                                {".bpg"},
	"application/cbor":                                         {".cbor"},
	"application/vnd.sqlite3":                                  {".sqlite", ".sqlite3", ".db", ".db3"},
	"image/vnd.dwg":                                            {".dwg"},
	"application/vnd.nintendo.snes.rom":                        {".nes"},
	"application/x-ms-shortcut":                                {".lnk"},
	"application/x-mach-binary":                                {".macho", ".dylib", ".bundle"},
	"audio/qcelp":                                              {".qcp"},
	"image/x-icns":                                             {".icns"},
	"image/vnd.radiance":                                       {".hdr"},
	"application/marc":                                         {".mrc"},
	"application/x-msaccess":                                   {".mdb", ".accdb"},
	"application/zstd":                                         {".zst", ".tzst"},
	"application/vnd.ms-cab-compressed":                        {".cab"},
	"application/x-rpm":                                        {".rpm"},
	"application/x-xz":                                         {".xz", ".txz"},
	"application/lzip":                                         {".lz"},
	"application/x-bittorrent":                                 {".torrent"},
	"application/x-cpio":                                       {".cpio"},
	"application/tzif":                                         {},
	"image/x-xcf":                                              {".xcf"},
	"image/x-gimp-pat":                                         {".pat"},
	"image/x-gimp-gbr":                                         {".gbr"},
	"model/gltf-binary":                                        {".glb"},
	"application/x-installshield":                              {".cab"},
	"image/jxr":                                                {".jxr", ".wdp", ".hdp"},
	"application/vnd.apache.parquet":                           {".parquet"},
	"application/onenote":                                      {".one"},
	"application/vnd.ms-htmlhelp":                              {".chm"},
	"application/vnd.wordperfect":                              {".wpd"},
	"image/vnd.dxf":                                            {".dxf"},
	"application/grib":                                         {".grb", ".grib", ".grb2"},
	"application/zlib":                                         {},
	"application/x-os2-inf":                                    {".inf"},
	"application/x-os2-hlp":                                    {".hlp"},
	"application/vnd.framemaker":                               {".fm"},
	"application/bufr":                                         {".bufr"},
	"application/x-bytecode.python":                            {".pyc", ".pyo"},
	"application/vnd.tcpdump.pcap":                             {".pcap"},
	"audio/mpeg":                                               {".mp3", ".mpga", ".mp2"},
	"text/plain":                                               {".txt", ".text"},
	"image/svg+xml":                                            {".svg", ".svgz"},
	"text/html":                                                {".html", ".htm", ".shtml"},
	"text/xml":                                                 {".xml"},
	"application/rss+xml":                                      {".rss"},
	"application/atom+xml":                                     {".atom"},
	"model/x3d+xml":                                            {".x3d"},
	"application/vnd.google-earth.kml+xml":                     {".kml"},
	"application/x-xliff+xml":                                  {".xlf", ".xliff"},
	"model/vnd.collada+xml":                                    {".dae"},
	"application/gml+xml":                                      {".gml"},
	"application/gpx+xml":                                      {".gpx"},
	"application/vnd.garmin.tcx+xml":                           {".tcx"},
	"application/x-amf":                                        {".amf"},
	"application/vnd.ms-package.3dmanufacturing-3dmodel+xml": {".3mf"},
	"application/vnd.adobe.xfdf":                             {".xfdf"},
	"application/owl+xml":                                    {".owl"},
	"application/xhtml+xml":                                  {".xhtml", ".xht", ".html", ".htm"},
	"application/vnd.cyclonedx+xml":                          {".xml"},
	"text/x-php":                                             {".php", ".phtml", ".php3", ".php4", ".php5", ".php7", ".phps", ".phar"},
	"text/javascript":                                        {".js", ".mjs", ".cjs"},
	"text/x-lua":                                             {".lua"},
	"text/x-perl":                                            {".pl", ".pm"},
	"text/x-python":                                          {".py", ".pyw", ".pyi"},
	"text/x-ruby":                                            {".rb", ".rbw"},
	"application/json":                                       {".json", ".har"},
	"application/geo+json":                                   {".geojson"},
	"model/gltf+json":                                        {".gltf"},
	"application/vnd.cyclonedx+json":                         {".json"},
	"application/x-ndjson":                                   {".ndjson", ".jsonl"},
	"text/rtf":                                               {".rtf"},
	"application/x-subrip":                                   {".srt"},
	"text/x-tcl":                                             {".tcl", ".tk"},
	"text/csv":                                               {".csv"},
	"text/tab-separated-values":                              {".tsv", ".tab"},
	"text/vcard":                                             {".vcf", ".vcard"},
	"text/calendar":                                          {".ics", ".ical", ".ifb"},
	"application/warc":                                       {".warc"},
	"text/vtt":                                               {".vtt"},
	"text/x-shellscript":                                     {".sh", ".bash", ".zsh", ".ksh", ".csh", ".command"},
	"image/x-portable-bitmap":                                {".pbm", ".pnm"},
	"image/x-portable-graymap":                               {".pgm", ".pnm"},
	"image/x-portable-pixmap":                                {".ppm", ".pnm"},
	"image/x-portable-arbitrarymap":                          {".pam"},
	"message/rfc822":                                         {".eml"},
	"text/vnd.familysearch.gedcom":                           {".ged"},
}

// riskyExtensions are extensions an operating system or browser runs, opens
// as active content, or treats as macro-enabled documents. They agree only
// with a detected type that owns them.
var riskyExtensions = setOf(
	".exe", ".dll", ".com", ".scr", ".pif", ".cpl", ".sys", ".drv", ".ocx",
	".efi", ".msi", ".msp", ".msm", ".bat", ".cmd", ".ps1", ".psm1", ".vbs",
	".vbe", ".js", ".jse", ".mjs", ".cjs", ".wsf", ".wsh", ".ws", ".wsc",
	".sct", ".hta", ".reg", ".scf", ".url", ".inf", ".gadget", ".msc",
	".appx", ".msix", ".appxbundle", ".msixbundle", ".application", ".xbap",
	".jnlp", ".jar", ".class", ".apk", ".xpi", ".crx", ".ipa", ".app",
	".desktop", ".elf", ".so", ".dylib", ".sh", ".bash", ".zsh", ".ksh",
	".csh", ".command", ".py", ".pyw", ".pyc", ".pyo", ".pl", ".pm", ".rb",
	".php", ".phtml", ".phar", ".lua", ".tcl", ".lnk", ".deb", ".rpm",
	".pkg", ".wasm", ".swf", ".chm",
	".docm", ".dotm", ".xlsm", ".xltm", ".xlam", ".pptm", ".potm", ".ppam",
	".ppsm", ".sldm",
	".html", ".htm", ".shtml", ".xhtml", ".xht", ".svg", ".svgz", ".mht",
	".mhtml",
)

// ambiguousExtensions are used by many unrelated binary formats, so claiming
// them on unrecognised bytes is not a contradiction.
var ambiguousExtensions = setOf(".bin", ".dat", ".db", ".raw", ".tmp")

// containerChildren lists, for formats whose specific variant is sometimes
// decided by bytes beyond the sniffed head, the variants whose extensions
// also agree with the generic detection.
var containerChildren = map[string][]string{
	"application/zip": {
		"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		"application/vnd.openxmlformats-officedocument.presentationml.presentation",
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"application/epub+zip",
		"application/vnd.oasis.opendocument.text",
		"application/vnd.oasis.opendocument.text-template",
		"application/vnd.oasis.opendocument.spreadsheet",
		"application/vnd.oasis.opendocument.spreadsheet-template",
		"application/vnd.oasis.opendocument.presentation",
		"application/vnd.oasis.opendocument.presentation-template",
		"application/vnd.oasis.opendocument.graphics",
		"application/vnd.oasis.opendocument.graphics-template",
		"application/vnd.oasis.opendocument.formula",
		"application/vnd.oasis.opendocument.chart",
		"application/vnd.sun.xml.calc",
		"application/vnd.google-earth.kmz",
		"application/vnd.ms-visio.drawing.main+xml",
		"application/java-archive",
		"application/vnd.android.package-archive",
	},
	"application/x-ole-storage": {
		"application/msword",
		"application/vnd.ms-excel",
		"application/vnd.ms-powerpoint",
		"application/vnd.ms-publisher",
		"application/vnd.ms-outlook",
		"application/x-ms-installer",
	},
	"application/ogg": {"audio/ogg", "video/ogg"},
	"video/mp4":       {"audio/mp4", "audio/x-m4a", "video/x-m4v", "video/3gpp", "video/3gpp2"},
}

// extensionIndex maps each known extension to the MIME types owning it.
var extensionIndex = buildExtensionIndex()

func buildExtensionIndex() map[string][]string {
	idx := make(map[string][]string)
	add := func(ext, m string) {
		for _, have := range idx[ext] {
			if have == m {
				return
			}
		}
		idx[ext] = append(idx[ext], m)
	}
	for m, exts := range extensionGroups {
		if n := mimetype.Lookup(m); n != nil && n.Extension() != "" {
			add(strings.ToLower(n.Extension()), m)
		}
		for _, e := range exts {
			add(e, m)
		}
	}
	return idx
}

// ownsExtension reports whether ext is one the format m itself uses.
func ownsExtension(m, ext string) bool {
	candidates := []string{m}
	if n := node(m); n != nil {
		if p := normMIME(n.String()); p != m {
			candidates = append(candidates, p)
		}
		if strings.EqualFold(n.Extension(), ext) {
			return true
		}
	}
	for _, c := range candidates {
		for _, e := range extensionGroups[c] {
			if e == ext {
				return true
			}
		}
	}
	return false
}

// isTextual reports whether m is text in mimetype's tree and not a picture.
func isTextual(m string) bool {
	return topLevel(m) != "image" && chainContains(m, "text/plain")
}

// binaryExtension reports whether ext belongs to a format that is not text,
// or is risky.
func binaryExtension(ext string) bool {
	if riskyExtensions[ext] {
		return true
	}
	for _, m := range extensionIndex[ext] {
		if !isTextual(m) || restricted(m) {
			return true
		}
	}
	return false
}

// knownExtension reports whether ext names a format the detector would have
// recognised.
func knownExtension(ext string) bool {
	if ambiguousExtensions[ext] {
		return false
	}
	return riskyExtensions[ext] || len(extensionIndex[ext]) > 0
}

// ExtensionAgrees reports whether ext, the extension of the file name the
// client sent, is consistent with the detected type. ext is compared
// case-insensitively; a missing leading dot is tolerated.
//
// The rules, in order:
//
//   - "" (no extension) agrees with anything.
//   - An extension the detected format uses agrees: its canonical extension,
//     known aliases (".jpg", ".jpeg", ".jpe" for JPEG; ".tif"/".tiff";
//     ".htm"/".html"; ".mp4"/".m4v"; ...), and those the standard library's
//     mime.ExtensionsByType reports.
//   - An executable, active or macro-enabled extension (".exe", ".dll",
//     ".js", ".html", ".svg", ".docm", ...) agrees with nothing else.
//   - Executable and active detected types agree with nothing else.
//   - Text (text/plain and formats derived from it, e.g. JSON, CSV, XML) and
//     empty files agree with any extension that does not belong to a binary
//     format: "notes.md", "data.log" and "README" agree with text, while
//     "evil.png" does not.
//   - Unrecognised binary (UnknownMIME) agrees with any extension that does
//     not name a format the detector recognises: "dump.dat" agrees,
//     "photo.png" does not.
//   - A generic container agrees with the extensions of its non-executable
//     variants when the variant can hide beyond the sniffed head: a file
//     detected as application/zip may be named ".docx" or ".epub" (not
//     ".jar"), an OLE compound file ".doc" or ".xls" (not ".msi"). The
//     reverse does not hold: a detected DOCX named ".zip" disagrees.
//   - Everything else disagrees.
func ExtensionAgrees(ext string, detected Type) bool {
	ext = strings.ToLower(strings.TrimSpace(ext))
	if ext == "" || ext == "." {
		return true
	}
	if !strings.HasPrefix(ext, ".") {
		ext = "." + ext
	}
	m := normMIME(detected.MIME)
	if strings.EqualFold(detected.Extension, ext) || ownsExtension(m, ext) {
		return true
	}
	if riskyExtensions[ext] {
		return false
	}
	if m != "" && !strings.Contains(m, "*") {
		if exts, err := mime.ExtensionsByType(m); err == nil {
			for _, e := range exts {
				if strings.EqualFold(e, ext) {
					return true
				}
			}
		}
	}
	switch {
	case m == UnknownMIME || m == "":
		return !knownExtension(ext)
	case m == EmptyMIME:
		return !binaryExtension(ext)
	case restricted(m):
		return false
	case isTextual(m):
		return !binaryExtension(ext)
	}
	if n := node(m); n != nil {
		m = normMIME(n.String())
	}
	for _, child := range containerChildren[m] {
		if restricted(child) {
			continue
		}
		for _, e := range extensionGroups[child] {
			if e == ext {
				return true
			}
		}
	}
	return false
}
