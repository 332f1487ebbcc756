// The hook and the components with a fake client: rendering, keyboard,
// drag and drop, ARIA, previews, retry and remove. No server.
import { act, cleanup, fireEvent, render, renderHook, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CarcosaError } from "@carcosa/client";
import { CarcosaProvider, UploadButton, UploadDropzone, useUpload } from "../src/index.js";
import { fakeClient, imageFile } from "./fake.js";

let urls = 0;
const revoked: string[] = [];

beforeEach(() => {
  urls = 0;
  revoked.length = 0;
  URL.createObjectURL = vi.fn(() => `blob:preview-${++urls}`);
  URL.revokeObjectURL = vi.fn((u: string) => void revoked.push(u));
});
afterEach(cleanup);

function tooLarge() {
  return new CarcosaError({ code: "too_large", message: "big.png is too large", status: 413 });
}

describe("useUpload", () => {
  it("follows each file: progress, state, record, total progress", async () => {
    const { client, tasks } = fakeClient();
    const { result } = renderHook(() => useUpload("images", { client, input: { caption: "x" } }));
    expect(result.current.state).toBe("idle");
    let done!: Promise<unknown>;
    act(() => {
      done = result.current.start([imageFile("a.png", 100), imageFile("b.png", 300)]);
    });
    expect(tasks).toHaveLength(2);
    expect(tasks[0]!.options.input).toEqual({ caption: "x" });
    expect(result.current.files.map((f) => [f.name, f.state, f.preview])).toEqual([
      ["a.png", "queued", "blob:preview-1"],
      ["b.png", "queued", "blob:preview-2"],
    ]);
    act(() => tasks[0]!.progress(50));
    expect(result.current.files[0]!.progress).toBe(50);
    expect(result.current.progress).toBe(12); // 50 of 400
    expect(result.current.state).toBe("uploading");
    await act(async () => {
      tasks[0]!.succeed({ derivatives: { thumb: "/api/uploads/files/t.png" } });
      tasks[1]!.succeed();
      await done;
    });
    expect(result.current.files.map((f) => [f.state, f.progress])).toEqual([
      ["ready", 100],
      ["ready", 100],
    ]);
    expect(result.current.state).toBe("done");
    expect(result.current.progress).toBe(100);
  });

  it("keeps a refused file with its error; retry starts it again; remove revokes its preview", async () => {
    const { client, tasks } = fakeClient();
    const onFileError = vi.fn();
    const { result } = renderHook(() => useUpload("images", { client, onFileError }));
    await act(async () => {
      const p = result.current.start(imageFile("big.png"));
      tasks[0]!.refuse(tooLarge());
      await p;
    });
    const f = result.current.files[0]!;
    expect(f.state).toBe("rejected");
    expect(f.error?.code).toBe("too_large");
    expect(result.current.state).toBe("error");
    expect(result.current.error?.message).toBe("big.png is too large");
    expect(onFileError).toHaveBeenCalledOnce();
    act(() => result.current.retry(f));
    expect(tasks).toHaveLength(2);
    expect(result.current.files[0]!.state).toBe("queued");
    expect(result.current.files[0]!.error).toBeUndefined();
    act(() => result.current.remove(result.current.files[0]!));
    expect(tasks[1]!.canceled).toBe(true);
    expect(result.current.files).toEqual([]);
    expect(revoked).toEqual(["blob:preview-1"]);
  });

  it("pauses, resumes and cancels every task", () => {
    const { client, tasks } = fakeClient();
    const { result } = renderHook(() => useUpload("images", { client }));
    act(() => void result.current.start([imageFile("a.png"), imageFile("b.png")]));
    act(() => tasks.forEach((t) => t.progress(10)));
    act(() => result.current.pause());
    expect(tasks.every((t) => t.paused)).toBe(true);
    expect(result.current.state).toBe("paused");
    act(() => result.current.resume());
    expect(tasks.some((t) => t.paused)).toBe(false);
    expect(result.current.state).toBe("uploading");
    act(() => result.current.cancel());
    expect(tasks.every((t) => t.canceled)).toBe(true);
  });

  it("refuses more files at once than the route takes, sending none", async () => {
    const { client, tasks } = fakeClient(); // images: at most 10 files
    const errors: string[] = [];
    const { result } = renderHook(() => useUpload("images", { client, onFileError: (e) => errors.push(e.code) }));
    await act(async () => {}); // the route's policy is read
    const many = Array.from({ length: 11 }, (_, i) => imageFile(`p${i}.png`));
    await act(async () => void (await result.current.start(many)));
    expect(tasks).toHaveLength(0);
    expect(result.current.files).toHaveLength(11);
    for (const f of result.current.files) {
      expect(f.state).toBe("rejected");
      expect(f.error?.code).toBe("too_many_files");
    }
    expect(errors).toEqual(Array(11).fill("too_many_files"));
    act(() => result.current.clear());
    act(() => void result.current.start(many.slice(0, 10)));
    expect(tasks).toHaveLength(10);
  });

  it("holds added files as selected until start", () => {
    const { client, tasks } = fakeClient();
    const { result } = renderHook(() => useUpload("images", { client }));
    act(() => result.current.add([imageFile("a.png")]));
    expect(result.current.state).toBe("selected");
    expect(result.current.files[0]!.preview).toBe("blob:preview-1");
    expect(tasks).toHaveLength(0);
    act(() => void result.current.start());
    expect(tasks).toHaveLength(1);
  });

  it("revokes previews on unmount", () => {
    const { client } = fakeClient();
    const { result, unmount } = renderHook(() => useUpload("images", { client }));
    act(() => result.current.add([imageFile("a.png"), new File(["x"], "a.txt", { type: "text/plain" })]));
    expect(result.current.files[1]!.preview).toBeUndefined();
    unmount();
    expect(revoked).toEqual(["blob:preview-1"]);
  });

  it("throws without a client", () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    expect(() => renderHook(() => useUpload("images"))).toThrow(/CarcosaProvider/);
  });
});

describe("UploadDropzone", () => {
  it("is a button that opens the file picker with Enter, Space and a click", async () => {
    const { client } = fakeClient();
    const { container } = render(
      <CarcosaProvider client={client}>
        <UploadDropzone route="images" />
      </CarcosaProvider>,
    );
    const zone = screen.getByRole("button", { name: /drop files here/i });
    expect(zone.tabIndex).toBe(0);
    expect(zone.className).toBe("carcosa-dropzone__target");
    const input = container.querySelector<HTMLInputElement>("input.carcosa-input")!;
    const clicks = vi.fn();
    input.addEventListener("click", clicks);
    zone.focus();
    expect(document.activeElement).toBe(zone);
    fireEvent.keyDown(zone, { key: "Enter" });
    fireEvent.keyDown(zone, { key: " " });
    fireEvent.keyDown(zone, { key: "a" });
    fireEvent.click(zone);
    expect(clicks).toHaveBeenCalledTimes(3);
    // The route's types and limits, from the server's routes.
    await waitFor(() => expect(input.accept).toBe("image/*"));
    expect(input.multiple).toBe(true);
    expect(screen.getByText("image up to 16 MiB, at most 10 files")).toBeTruthy();
    expect(zone.getAttribute("aria-describedby")).toBe(screen.getByText(/image up to/).id);
  });

  it("uploads dropped files with previews, progress bars and a live announcement", async () => {
    const { client, tasks } = fakeClient();
    const { container } = render(<UploadDropzone route="images" client={client} />);
    const zone = screen.getByRole("button", { name: /drop files here/i });
    fireEvent.dragEnter(zone, { dataTransfer: { files: [], types: ["Files"] } });
    expect(container.querySelector(".carcosa-dropzone--over")).not.toBeNull();
    fireEvent.drop(zone, { dataTransfer: { files: [imageFile("lake.png", 200)], types: ["Files"] } });
    expect(container.querySelector(".carcosa-dropzone--over")).toBeNull();
    expect(tasks).toHaveLength(1);
    const item = container.querySelector(".carcosa-file")!;
    expect(item.querySelector("img")!.getAttribute("src")).toBe("blob:preview-1");
    act(() => tasks[0]!.progress(100));
    const bar = screen.getByRole("progressbar", { name: "lake.png upload progress" });
    expect(bar.getAttribute("aria-valuenow")).toBe("50");
    expect(screen.getByRole("progressbar", { name: "Total upload progress" }).getAttribute("aria-valuenow")).toBe("50");
    const live = screen.getByRole("status");
    expect(live.getAttribute("aria-live")).toBe("polite");
    await act(async () => tasks[0]!.succeed({ derivatives: { thumb: "/api/uploads/files/t.webp" } }));
    expect(live.textContent).toBe("lake.png uploaded.");
    expect(item.getAttribute("data-state")).toBe("ready");
    // The server's thumbnail replaces the preview.
    expect(item.querySelector("img")!.getAttribute("src")).toBe("http://carcosa.test/api/uploads/files/t.webp");
  });

  it("shows a refusal on its file, announces it, and retries and removes it", async () => {
    const { client, tasks } = fakeClient();
    const { container } = render(<UploadDropzone route="images" client={client} />);
    fireEvent.drop(screen.getByRole("button", { name: /drop files here/i }), { dataTransfer: { files: [imageFile("big.png")] } });
    await act(async () => tasks[0]!.refuse(tooLarge()));
    const error = container.querySelector(".carcosa-file__error")!;
    expect(error.textContent).toBe("big.png is too large (too_large)");
    expect(error.getAttribute("data-code")).toBe("too_large");
    expect(screen.getByRole("status").textContent).toBe("big.png could not be uploaded: big.png is too large.");
    fireEvent.click(screen.getByRole("button", { name: "Retry big.png" }));
    expect(tasks).toHaveLength(2);
    expect(container.querySelector(".carcosa-file__error")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Remove big.png" }));
    expect(container.querySelector(".carcosa-file")).toBeNull();
    expect(tasks[1]!.canceled).toBe(true);
  });

  it("shows an icon instead of a preview that is no image", () => {
    const { client } = fakeClient();
    const { container } = render(<UploadDropzone route="images" client={client} autoUpload={false} />);
    fireEvent.drop(screen.getByRole("button", { name: /drop files here/i }), { dataTransfer: { files: [imageFile("false.png")] } });
    fireEvent.error(container.querySelector("img.carcosa-file__preview")!);
    expect(container.querySelector("img")).toBeNull();
    expect(container.querySelector(".carcosa-file__icon")).not.toBeNull();
  });

  it("with autoUpload off, lists files with previews and uploads them on request", () => {
    const { client, tasks } = fakeClient();
    render(<UploadDropzone route="images" client={client} autoUpload={false} />);
    fireEvent.drop(screen.getByRole("button", { name: /drop files here/i }), { dataTransfer: { files: [imageFile("a.png")] } });
    expect(tasks).toHaveLength(0);
    expect(screen.getByText("Ready to upload")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Upload 1 file(s)" }));
    expect(tasks).toHaveLength(1);
  });

  it("ignores drops and keys when disabled", () => {
    const { client, tasks } = fakeClient();
    render(<UploadDropzone route="images" client={client} disabled />);
    const zone = screen.getByRole("button", { name: /drop files here/i });
    expect(zone.getAttribute("aria-disabled")).toBe("true");
    expect(zone.tabIndex).toBe(-1);
    fireEvent.drop(zone, { dataTransfer: { files: [imageFile()] } });
    expect(tasks).toHaveLength(0);
  });
});

describe("UploadButton", () => {
  it("opens the picker and uploads what is chosen, with pause and resume", () => {
    const { client, tasks } = fakeClient();
    const { container } = render(<UploadButton route="images" client={client} />);
    const button = screen.getByRole("button", { name: "Choose files" });
    const input = container.querySelector<HTMLInputElement>("input[type=file]")!;
    const clicks = vi.fn();
    input.addEventListener("click", clicks);
    fireEvent.click(button);
    expect(clicks).toHaveBeenCalledOnce();
    fireEvent.change(input, { target: { files: [imageFile("a.png", 10)] } });
    expect(tasks).toHaveLength(1);
    act(() => tasks[0]!.progress(5));
    expect(screen.getByRole("button", { name: "Uploading 50%" })).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Pause" }));
    expect(tasks[0]!.paused).toBe(true);
    fireEvent.click(screen.getByRole("button", { name: "Resume" }));
    expect(tasks[0]!.paused).toBe(false);
  });
});
