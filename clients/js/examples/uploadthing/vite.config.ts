import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// CARCOSA_SERVER is the example server (go run ./examples/basic); the page
// reaches its /api/uploadthing through the proxy, on the page's own origin,
// as an app's own server would be reached.
export default defineConfig({
  plugins: [react()],
  server: {
    proxy: { "/api": { target: process.env.CARCOSA_SERVER ?? "http://127.0.0.1:8080", changeOrigin: false } },
  },
});
