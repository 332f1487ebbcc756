// UploadDropzone against the real example server (examples/basic), which
// the client's global setup builds and starts.
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, expect, it } from "vitest";
import { createClient } from "@carcosa/client";
import { File as NodeFile } from "node:buffer";
import { randomBytes } from "node:crypto";
import { png, uploadsURL } from "../../client/test/fixtures.js";
import { UploadDropzone } from "../src/index.js";

afterEach(cleanup);

// Node's FormData, which jsdom's replaces among the globals.
const NodeFormData = (await new Response(new URLSearchParams("a=b")).formData()).constructor as typeof FormData;

/**
 * Node's fetch, with jsdom's FormData made Node's: given jsdom's, Node's
 * fetch sends "[object FormData]". (jsdom's XMLHttpRequest, which the
 * client would use otherwise, asks for CORS headers the server does not send.)
 */
const nodeFetch: typeof fetch = async (input, init) => {
  if (init?.body instanceof FormData) {
    const form = new NodeFormData();
    for (const [k, v] of init.body) {
      form.append(k, typeof v === "string" ? v : (new NodeFile([new Uint8Array(await v.arrayBuffer())], v.name, { type: v.type }) as unknown as File));
    }
    init = { ...init, body: form };
  }
  return fetch(input, init);
};

function client() {
  return createClient({
    url: uploadsURL,
    fetch: nodeFetch,
    // The example names a visitor by a cookie.
    headers: { cookie: `carcosa_visitor=${randomBytes(16).toString("hex")}` },
  });
}

it("uploads a dropped image, shows its thumbnail, and shows the server's refusal of a false one", async () => {
  const ready: string[] = [];
  const { container } = render(
    <UploadDropzone route="images" client={client()} input={{ caption: "At the lake" }} onFileComplete={(r) => ready.push(r.name)} />,
  );
  const zone = screen.getByRole("button", { name: /drop files here/i });
  const image = new File([png(64, 48)], "lake.png", { type: "image/png" });
  // Claims to be a PNG; the server judges the bytes.
  const fake = new File(["not an image at all\n"], "fake.png", { type: "image/png" });
  fireEvent.drop(zone, { dataTransfer: { files: [image, fake] } });

  await waitFor(
    () => {
      const states = [...container.querySelectorAll(".carcosa-file")].map((li) => li.getAttribute("data-state"));
      expect(states).toEqual(["ready", "rejected"]);
    },
    { timeout: 30_000 },
  );
  expect(ready).toEqual(["lake.png"]);
  const [ok, refused] = container.querySelectorAll(".carcosa-file");
  const thumb = ok!.querySelector<HTMLImageElement>("img.carcosa-file__thumbnail")!;
  expect(thumb.src.startsWith(new URL("/api/uploads/files/", uploadsURL).href)).toBe(true);
  const res = await fetch(thumb.src);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^image\//);
  expect(refused!.querySelector(".carcosa-file__error")!.getAttribute("data-code")).toBe("type_not_allowed");
  // The live region is written by an effect after the render that settled
  // the last file: it may trail the files' states by a moment.
  await waitFor(() =>
    expect(screen.getByRole("status").textContent).toMatch(/fake\.png could not be uploaded: .*lake\.png uploaded\.|lake\.png uploaded\..*fake\.png could not be uploaded: /),
  );
});
