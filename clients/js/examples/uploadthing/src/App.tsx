import { useState, type ChangeEvent } from "react";
import type { ClientUploadedFileData } from "uploadthing/types";
import type { ServerData } from "./router.js";
import { createUpload, UploadButton, UploadDropzone, useUploadThing } from "./uploadthing.js";

type Uploaded = ClientUploadedFileData<ServerData>;

/** What one way of uploading ended with, shown for the reader and read by the tests. */
function Outcome({ id, files, error }: { id: string; files?: Uploaded[]; error?: string }) {
  return (
    <div className="outcome">
      {files && <pre data-testid={`${id}-result`}>{JSON.stringify(files, null, 2)}</pre>}
      {error !== undefined && <p data-testid={`${id}-error`} role="alert">{error}</p>}
    </div>
  );
}

function useOutcome() {
  const [files, setFiles] = useState<Uploaded[]>();
  const [error, setError] = useState<string>();
  return {
    files,
    error,
    done: (res: Uploaded[]) => setFiles(res),
    failed: (e: Error) => setError(e.message),
  };
}

export function App() {
  const button = useOutcome();
  const dropzone = useOutcome();
  const hook = useOutcome();
  const resumable = useOutcome();
  const [caption, setCaption] = useState("on the beach");
  const { startUpload, isUploading } = useUploadThing("files", {
    onClientUploadComplete: hook.done,
    onUploadError: hook.failed,
  });
  const [progress, setProgress] = useState(0);

  // genUploader's createUpload can pause and resume; the page hands its
  // controls to the tests.
  const resume = async (e: ChangeEvent<HTMLInputElement>) => {
    const files = [...(e.target.files ?? [])];
    const upload = await createUpload("files", {
      files,
      onUploadProgress: (p) => setProgress(p.totalProgress),
    });
    (window as unknown as { upload: typeof upload }).upload = upload;
    try {
      resumable.done(await upload.done());
    } catch (err) {
      resumable.failed(err as Error);
    }
  };

  return (
    <main>
      <h1>UploadThing's React client, served by Carcosa</h1>

      <section>
        <h2>UploadButton: images, with a caption as input</h2>
        <label>
          Caption <input value={caption} onChange={(e) => setCaption(e.target.value)} />
        </label>
        <UploadButton
          endpoint="images"
          input={{ caption }}
          onClientUploadComplete={button.done}
          onUploadError={button.failed}
        />
        <Outcome id="button" {...button} />
      </section>

      <section>
        <h2>UploadDropzone: documents (PDF, text)</h2>
        <UploadDropzone endpoint="documents" onClientUploadComplete={dropzone.done} onUploadError={dropzone.failed} />
        <Outcome id="dropzone" {...dropzone} />
      </section>

      <section>
        <h2>useUploadThing: any file</h2>
        <input
          type="file"
          multiple
          data-testid="hook-input"
          disabled={isUploading}
          onChange={(e) => void startUpload([...(e.target.files ?? [])])}
        />
        <Outcome id="hook" {...hook} />
      </section>

      <section>
        <h2>createUpload: pause and resume</h2>
        <input type="file" data-testid="resume-input" onChange={(e) => void resume(e)} />
        <progress data-testid="resume-progress" max={100} value={progress} />
        <Outcome id="resume" {...resumable} />
      </section>
    </main>
  );
}
