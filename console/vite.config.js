// Builds the console into the Python package (api/console_static), which the API serves at /console/.
// `scripts/build-console` runs this, then records a hash of the sources next to the build.
import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

export default defineConfig({
  base: "/console/",
  plugins: [preact()],
  build: {
    outDir: "../api/console_static",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `npm run dev` proxies the API of a running `dma dev`.
    proxy: { "/v1": "http://127.0.0.1:8787" },
  },
});
