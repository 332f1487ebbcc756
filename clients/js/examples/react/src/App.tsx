import { useState } from "react";
import { createClient } from "@carcosa/client";
import { CarcosaProvider, UploadButton, UploadDropzone } from "@carcosa/react";
import "@carcosa/react/styles.css";
import "./app.css";

// The page is served with the API (Vite's proxy sends /api to the example
// server), so the client needs no CORS. ?chunk= sets the tus chunk size,
// which the browser tests make small to pause a large upload midway.
const chunk = Number(new URLSearchParams(location.search).get("chunk")) || undefined;
const carcosa = createClient({ url: "/api/uploads", ...(chunk ? { chunkSize: chunk } : {}) });

export function App() {
  const [caption, setCaption] = useState("");
  return (
    <CarcosaProvider client={carcosa}>
      <main>
        <h1>Carcosa + React</h1>

        <section aria-labelledby="images-title">
          <h2 id="images-title">Images</h2>
          <label>
            Caption <input value={caption} onChange={(e) => setCaption(e.target.value)} maxLength={200} />
          </label>
          <UploadDropzone route="images" input={caption ? { caption } : {}} className="images" />
        </section>

        <section aria-labelledby="documents-title">
          <h2 id="documents-title">Documents</h2>
          <UploadDropzone route="documents" className="documents" style={{ "--carcosa-accent": "#0f766e" } as React.CSSProperties}>
            <span className="carcosa-dropzone__title">Drop PDFs or text files</span>
          </UploadDropzone>
        </section>

        <section aria-labelledby="files-title">
          <h2 id="files-title">Any file (large ones resume)</h2>
          <UploadButton route="files" className="files" />
        </section>
      </main>
    </CarcosaProvider>
  );
}
