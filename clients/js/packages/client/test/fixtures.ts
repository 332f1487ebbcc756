// Files for the tests, made here: PNGs (the images route judges types from
// the bytes) and random bytes, with their SHA-256.
import { createHash, randomBytes } from "node:crypto";
import { deflateSync } from "node:zlib";
import { inject } from "vitest";
import { createClient, type ClientOptions } from "../src/index.js";

/** The example server's root URL, and its uploads' mount path. */
export const serverURL = inject("carcosaURL");
export const uploadsURL = new URL("/api/uploads", serverURL).href;

/**
 * A client of the example server as a browser of its own: the example
 * names each visitor by a cookie, and lists uploads only to a named one.
 */
export function visitorClient(options: Partial<ClientOptions> = {}) {
  const visitor = randomBytes(16).toString("hex");
  return createClient({ url: uploadsURL, headers: { cookie: `carcosa_visitor=${visitor}` }, ...options });
}

export function sha256(data: Uint8Array | ArrayBuffer): string {
  return createHash("sha256").update(new Uint8Array(data)).digest("hex");
}

/** Random bytes, as a File of name and type. */
export function randomFile(size: number, name: string, type = "application/octet-stream"): File {
  return new File([randomBytes(size)], name, { type });
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = crcTable[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** An RGB PNG of width × height random pixels: it hardly compresses, so its size is about 3·w·h. */
export function png(width: number, height: number): Uint8Array<ArrayBuffer> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = Buffer.alloc((width * 3 + 1) * height);
  const noise = randomBytes(width * 3 * height);
  for (let y = 0; y < height; y++) noise.copy(rows, y * (width * 3 + 1) + 1, y * width * 3, (y + 1) * width * 3);
  const file = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", new Uint8Array()),
  ]);
  return new Uint8Array(file);
}

/** The bytes at a record's URL (relative to the server), as the server serves them. */
export async function download(url: string | undefined, headers: Record<string, string> = {}): Promise<Uint8Array> {
  if (!url) throw new Error("the record has no URL");
  const res = await fetch(new URL(url, serverURL), { headers });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return new Uint8Array(await res.arrayBuffer());
}
