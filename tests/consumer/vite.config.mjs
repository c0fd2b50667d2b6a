// `chunkup` (the --target bundler build) imports its .wasm as an ES module: Vite needs
// vite-plugin-wasm for that. `chunkup/web` needs no plugin (it fetches the .wasm itself).
// CONSUMER_PAGES (comma-separated, default index.html,web.html) picks the pages to build:
// tests/e2e/entries.test.mjs builds a single-provider page alone to see which wasm lands in dist/.
import { basename } from 'node:path';
import { defineConfig } from 'vite';
import wasm from 'vite-plugin-wasm';

const pages = (process.env.CONSUMER_PAGES || 'index.html,web.html').split(',');

export default defineConfig({
  plugins: [wasm()],
  build: {
    target: 'es2022', // top-level await (the bundler build instantiates the module on import)
    rollupOptions: { input: Object.fromEntries(pages.map(p => [basename(p, '.html'), p])) }
  },
  optimizeDeps: { exclude: ['chunkup'] } // keep the .wasm next to its glue in `vite dev`
});
